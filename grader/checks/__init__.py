"""The checks the grader runs: the lab's (``labs/<lab>/checks``, read through ``grader.lab``), declared
and judged with ``registry``."""
from ..lab import current
from .registry import Check

_declared = current().checks()
CORE: tuple[Check, ...] = tuple(_declared.CORE)          # answered by the worker's probes
TRAINING: tuple[Check, ...] = tuple(_declared.TRAINING)  # the training stage's
REGISTRY: tuple[Check, ...] = CORE + TRAINING


def probes_for(checks) -> list[str]:
    """The probes these checks need, each once, in order."""
    return list(dict.fromkeys(p for c in checks for p in c.probes))


def expected_probes(checks) -> list[str]:
    """The probes whose reference results these checks compare with."""
    return probes_for(c for c in checks if c.needs_expected)
