"""How a lab declares its known mistakes (``labs/<lab>/mutants.py``): small replacements of reference
functions. The grader runs a part's probes on each, in its own process like the reference; when a
submission's results match a mistake's, the failing check names it. A lab's mistakes live on the judging
side and never ship to students (``grader.lab.Lab.mutants``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .worker.impl import Impl


@dataclass(frozen=True)
class Mutant:
    name: str
    probes: tuple[str, ...]              # the probes on which the mistake shows
    mistake: str                         # names the mistake, shown to the student (a message id)
    build: Callable[[Impl], dict]        # reference -> {function name: replacement}


class Mutants(list):
    """A lab's ``MUTANTS``: ``@MUTANTS.add(name, probes, mistake)`` registers a builder."""

    def add(self, name: str, probes: tuple[str, ...], mistake: str):
        def register(build: Callable[[Impl], dict]):
            self.append(Mutant(name, probes, mistake, build))
            return build
        return register
