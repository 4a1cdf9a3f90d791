"""Judging one check: the sandbox's plain results of its probes against the expected data.

A probe that did not run cleanly becomes the check's result (whose fault, and what to show); one
that did goes to the check's own judging function. Nothing here runs student code.
"""
from __future__ import annotations

import re
import time
import traceback

import numpy as np

from .checks.registry import Check, Context
from .i18n import N_, _, joined
from .reference import Expected
from .results import CRASH_MESSAGE, CRASHED, CheckResult, Outcome
from .outcome import ProbeOutcome, SandboxRun

STATUS_OUTCOME = {
    "not_implemented": Outcome.NOT_IMPLEMENTED, "missing": Outcome.NOT_IMPLEMENTED,
    "import_error": Outcome.ERROR, "raised": Outcome.ERROR, "bad_return": Outcome.ERROR,
    CRASHED: Outcome.ERROR, "corrupted": Outcome.ERROR, "worker": Outcome.ERROR, "timeout": Outcome.TIMEOUT,
    "grader": Outcome.GRADER_ERROR,
}
STATUS_MESSAGE = {
    "import_error": N_("your file could not be imported"),
    "raised": N_("your code raised an exception"),
    "bad_return": N_("your function returned the wrong kind of value"),
    CRASHED: CRASH_MESSAGE,
    "corrupted": N_("your code corrupted the grader's channel"),
    "worker": N_("the probe failed outside your functions, after your code had run in its process"),
    "timeout": N_("your code ran too long"),
    "grader": N_("the grader failed here — not your fault, tell your TA"),
}

FAILED_MESSAGE = N_("your code failed")  # a status the table above does not know


def skip(check: Check, message: str, counted: bool = False) -> CheckResult:
    """A check that did not run: worth nothing (a check that does not apply), or, ``counted``, its points
    kept in the maximum with none scored (a check that could not run here: missing data)."""
    return CheckResult(id=check.id, part=check.part, title=_(check.title), outcome=Outcome.SKIPPED, score=0.0,
                       max_score=check.points if counted else 0.0, message=_(message), location=check.location,
                       contract=_(check.contract), hidden=check.hidden)


def judge(check: Check, run: SandboxRun, expected: Expected, extra: dict | None = None) -> CheckResult:
    t0 = time.monotonic()
    base = dict(id=check.id, part=check.part, title=_(check.title), max_score=check.points,
                location=check.location, contract=_(check.contract), hidden=check.hidden)
    for probe in check.probes:
        got: ProbeOutcome = run.outcomes.get(probe) or ProbeOutcome("grader", message=f"no result for {probe}")
        if not got.ok:
            outcome = STATUS_OUTCOME.get(got.status, Outcome.ERROR)
            message = _not_implemented(got) if outcome is Outcome.NOT_IMPLEMENTED else \
                joined(_(STATUS_MESSAGE.get(got.status, FAILED_MESSAGE)), got.message.strip())
            blocked = outcome is Outcome.NOT_IMPLEMENTED and not _same_function(got.location, check.location)
            if blocked:  # a dependency is missing: this check's own hint would mislead
                message = _("not run: {why}").format(why=message)
            return CheckResult(**{**base, "location": got.location or check.location}, outcome=outcome, score=0.0,
                               message=message, cause=got.status,
                               hint=None if outcome is Outcome.GRADER_ERROR or blocked else _(check.hint),
                               traceback=None if outcome is Outcome.NOT_IMPLEMENTED else got.traceback or None)
        want = expected.reference(probe) if check.needs_expected else ProbeOutcome("ok")
        if want is None or not want.ok:
            return CheckResult(**base, outcome=Outcome.GRADER_ERROR, score=0.0,
                               message=_("the grader has no expected result for {probe} — not your fault, tell "
                                         "your TA ({why})").format(probe=probe, why=want.message if want else "missing"))
    try:
        with np.errstate(all="ignore"):  # a student's overflowing values are judged, not warned about
            evidence = {p: o.values for p, o in run.outcomes.items() if o.ok}
            verdict = check.judge(Context({p: run.outcomes[p].values for p in check.probes}, expected, extra or {},
                                          evidence))
    except Exception:  # noqa: BLE001 - whose fault: the check itself is tried on the reference's results
        if _judges_the_reference(check, expected, extra):
            # The check works on what the probes return: what broke it was a result no probe returns
            # (forged on the channel by the student's code), not a bug of the grader's.
            return CheckResult(**base, outcome=Outcome.ERROR, score=0.0,
                               message=joined(_(STATUS_MESSAGE["corrupted"]),
                                              _("its results are not what the probes return")))
        return CheckResult(**base, outcome=Outcome.GRADER_ERROR, score=0.0,
                           message=_("the grader failed here — not your fault, tell your TA"),
                           traceback=traceback.format_exc(limit=3))
    if verdict.skipped:
        return skip(check, verdict.message)
    return CheckResult(**base, outcome=Outcome.PASSED if verdict.passed else Outcome.FAILED,
                       score=check.points if verdict.passed else 0.0, message=_(verdict.message),
                       expected=verdict.expected, got=verdict.got, mistake=verdict.mistake and _(verdict.mistake),
                       hint=None if verdict.passed else _(verdict.hint or check.hint),
                       duration=round(time.monotonic() - t0, 4))


def _judges_the_reference(check: Check, expected: Expected, extra: dict | None) -> bool:
    """Whether the check runs on the reference's own results of its probes (without raising)."""
    if not check.needs_expected:
        return False
    try:
        with np.errstate(all="ignore"):
            check.judge(Context({p: expected.reference(p).values for p in check.probes}, expected, extra or {}))
        return True
    except Exception:  # noqa: BLE001 - the check fails on the reference too: the grader's bug
        return False


STUB_RAISES = re.compile(r"\b(?P<function>[\w.]+) in (?P<file>\w+\.py) is not implemented yet$")  # grader.stubgen's


def _not_implemented(got: ProbeOutcome) -> str:
    """A stub or a missing function, said in the active language from where it is (``got.location``:
    "penalties.py:l1_penalty", or what a generated stub raises), not with the stub's own English text;
    a NotImplementedError the student worded themselves is shown as they wrote it."""
    file, _sep, function = (got.location or "").partition(":")
    function = function.split(" ")[0]
    stub = STUB_RAISES.search(got.message.strip()) if got.status == "not_implemented" else None
    if stub:
        return _("{function} in {file} is not implemented yet").format(**stub.groupdict())
    if not (file and function):
        return got.message
    if got.status == "missing":  # the worker's two cases (grader/worker/impl.py): no file, or no such name
        return (_("{file} is missing from the submission") if "missing from" in got.message else
                _("{function} is not defined in {file}")).format(function=function, file=file)
    return _("{function} in {file} is not implemented yet").format(function=function, file=file)


def _same_function(where: str, location: str) -> bool:
    """Whether the function named by ``where`` ("data.py:channel_stats (...)") is one the check is about."""
    if not where:
        return True
    name = where.split(":")[-1].split(" ")[0].split(".")[0]
    return re.search(rf"\b{re.escape(name)}\b", location) is not None
