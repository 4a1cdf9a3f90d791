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
    evidence: dict[str, dict] = field(default_factory=dict)  # every probe of the run that ran: for diagnosis

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

    def defaults(self, probe: str, function: str) -> Verdict | None:
        """A failure when a default the contract states differs in the student's signature (read there
        as data: ``lmbd=0.003`` changes too little for a probe to see), else ``None``."""
        got, want = self.got(probe), self.want(probe)
        for key in self.keys(probe, "default/"):
            if first_mismatch(got, want, [key], rtol=0.0, atol=0.0) is not None:
                name = key[len("default/"):]
                return fail(_("{function}'s default for {name} is {got}; the contract's is {expected}").format(
                            function=function, name=name, got=describe(got.get(key)), expected=describe(want[key])),
                            expected=want[key], got=got.get(key),
                            mistake=N_("a default in the signature differs from the contract's (the defaults are part "
                                       "of the contract: callers rely on them)"))
        return None

    def diagnose(self, probe: str, keys, rtol: float = 1e-4, atol: float = 1e-5) -> str | None:
        """The known mistake whose results match the student's on ``keys`` in every probe the mistake
        is run on (each a different input: one number alone singles nothing out) — named only when
        exactly one mistake matches. Only ``keys``: the other values of a probe are other checks' (a
        release may withhold them with a hidden check)."""
        found = {self.expected.mistakes[name] for name, _values in self.expected.mutants(probe)
                 if self._matches_everywhere(name, keys, rtol, atol)}
        return found.pop() if len(found) == 1 else None

    def _matches_everywhere(self, mutant: str, keys, rtol: float, atol: float) -> bool:
        """Whether the student's values of ``keys`` agree with the mutant's in every probe both have
        (a probe the student's run did not complete says nothing either way)."""
        compared = 0
        for probe, outcome in self.expected.table.get(mutant, {}).items():
            mine = self.evidence.get(probe, self.student.get(probe))
            if mine is None or not outcome.ok or not all(k in outcome.values for k in keys):
                continue
            if first_mismatch(mine, outcome.values, keys, rtol, atol) is not None:
                return False
            compared += 1
        return compared > 0


@dataclass(frozen=True)
class Check:
    id: str
    part: str
    points: float
    title: str
    contract: str                  # the contract sentence it enforces: "function: words of README's table"
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

    def add(self, id: str, *, points: float, title: str, contract: str, probes: tuple[str, ...], location: str,
            hint: str, hidden: bool = False, needs_expected: bool = True):
        def register(judge: Callable[[Context], Verdict]):
            if any(c.id == id for c in self._checks):
                raise ValueError(f"duplicate check id {id}")
            self._checks.append(Check(id, self.part, points, title, contract, probes, location, hint, judge,
                                      hidden, needs_expected))
            return judge
        return register

    def __iter__(self) -> Iterator[Check]:
        return iter(self._checks)
