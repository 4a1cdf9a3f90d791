"""Every check of the regularization lab, in report order: what its worker's probes answer (``CORE``),
then the training stage's (``TRAINING``)."""
from grader.checks.registry import Check

from . import data, experiment, model, penalties, train

CORE: tuple[Check, ...] = (*penalties.checks, *model.checks, *data.checks, *train.checks)
TRAINING: tuple[Check, ...] = tuple(experiment.checks)
