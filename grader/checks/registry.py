"""Checks: one small judging function each, with its metadata declared beside it.

A check reads plain probe results (the student's and the expected ones) and returns a
:class:`Verdict`; it never runs student code. Failures of the student's code are turned into
results before a check is called, so a check body only sees probes that ran.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..compare import describe, first_mismatch
from ..i18n import N_, _
from ..reference import Expected


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str = ""
    expected: str | None = None
    got: str | None = None
    mistake: str | None = None
    hint: str | None = None
    skipped: bool = False  # not applicable in this set-up: no points either way


PASS = Verdict(True, N_("correct"))


def skip(message: str) -> Verdict:
    return Verdict(False, message, skipped=True)


def fail(message: str, *, expected=None, got=None, mistake: str | None = None, hint: str | None = None) -> Verdict:
    as_text = lambda v: v if v is None or isinstance(v, str) else describe(v)  # noqa: E731
    return Verdict(False, message, as_text(expected), as_text(got), mistake, hint)


@dataclass(frozen=True)
class Context:
    """What one check may look at: the student's and the expected results of its probes."""

    student: dict[str, dict]
    expected: Expected
    extra: dict = field(default_factory=dict)  # trusted analysis computed here (the training check's)

    def got(self, probe: str) -> dict:
        return self.student[probe]

    def want(self, probe: str) -> dict:
        return self.expected.reference(probe).values

    def keys(self, probe: str, prefix: str) -> list[str]:
        """The expected result's keys that start with ``prefix`` (e.g. every "param/...")."""
        return sorted(k for k in self.want(probe) if k.startswith(prefix))

    def compare(self, probe: str, keys, *, what: str, rtol: float = 1e-4, atol: float = 1e-5) -> Verdict:
        """PASS when the student's values agree with an accepted result on ``keys``; otherwise a
        failure that says where they differ and, when a known mistake gives the same, names it."""
        got = self.got(probe)
        for accepted in self.expected.accepted(probe):
            if first_mismatch(got, accepted, keys, rtol, atol) is None:
                return PASS
        key, why = first_mismatch(got, self.want(probe), keys, rtol, atol)
        return fail(_("{what}: {key} is {why}").format(what=_(what), key=key, why=why), expected=self.want(probe).get(key), got=got.get(key),
                    mistake=self.diagnose(probe, keys, rtol, atol))

    def diagnose(self, probe: str, keys, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
        """The mistake of the first known mutant whose results match the student's on ``keys``."""
        for name, values in self.expected.mutants(probe):
            if all(k in values for k in keys) and first_mismatch(self.got(probe), values, keys, rtol, atol) is None:
                return self.expected.mistakes[name]
        return None


@dataclass(frozen=True)
class Check:
    id: str
    part: str
    points: float
    title: str
    probes: tuple[str, ...]
    location: str                  # where the student should look: "penalties.py:l2_penalty"
    hint: str                      # shown when the check does not pass
    judge: Callable[[Context], Verdict]
    hidden: bool = False           # left out of a student release; run only by TAs
    needs_expected: bool = True    # compares with the reference's results (the training check does not)


class CheckList:
    """The checks of one part, in the order they are declared."""

    def __init__(self, part: str):
        self.part = part
        self._checks: list[Check] = []

    def add(self, id: str, *, points: float, title: str, probes: tuple[str, ...], location: str, hint: str,
            hidden: bool = False, needs_expected: bool = True):
        def register(judge: Callable[[Context], Verdict]):
            if any(c.id == id for c in self._checks):
                raise ValueError(f"duplicate check id {id}")
            self._checks.append(Check(id, self.part, points, title, probes, location, hint, judge, hidden,
                                      needs_expected))
            return judge
        return register

    def __iter__(self) -> Iterator[Check]:
        return iter(self._checks)
