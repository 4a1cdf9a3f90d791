"""Every check of the CNN lab, in report order: what its worker's probes answer (``CORE``), then the
training stage's (``TRAINING``)."""
from grader.checks.registry import Check

from . import augment, batchnorm, experiment, model, train

CORE: tuple[Check, ...] = (*batchnorm.checks, *model.checks, *augment.checks, *train.checks)
TRAINING: tuple[Check, ...] = tuple(experiment.checks)
