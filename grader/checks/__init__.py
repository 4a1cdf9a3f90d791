"""Every check of the lab, in report order: the explicit registry the grader runs."""
from . import data, experiment, model, penalties, train
from .registry import Check

CORE: tuple[Check, ...] = (*penalties.checks, *model.checks, *data.checks, *train.checks)
TRAINING: tuple[Check, ...] = tuple(experiment.checks)
REGISTRY: tuple[Check, ...] = CORE + TRAINING


def probes_for(checks) -> list[str]:
    """The probes these checks need, each once, in order."""
    return list(dict.fromkeys(p for c in checks for p in c.probes))


def expected_probes(checks) -> list[str]:
    """The probes whose reference results these checks compare with."""
    return probes_for(c for c in checks if c.needs_expected)
