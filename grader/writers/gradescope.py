"""Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/).

The full result rides along under ``extra_data.reglab`` so that reports can be re-rendered later.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import write_atomic
from ..i18n import _, ngettext
from ..results import CheckResult, Outcome, SubmissionResult, status, status_label
from .notes import not_run
from .terminal import expected_got

RESULTS_FILE = "results.json"


def _test_output(c: CheckResult) -> str:
    lines = [c.message]
    if c.expected is not None or c.got is not None:
        lines.append(expected_got(c.expected, c.got))
    if c.mistake:
        lines.append(_("Likely mistake:") + " " + c.mistake)
    if c.hint and c.outcome is not Outcome.PASSED:
        lines.append(_("Where to look: {location}").format(location=c.location) + f" — {c.hint}")
    if c.traceback:
        lines.append(c.traceback)
    return "\n".join(x for x in lines if x)


def first_look(result: SubmissionResult) -> str:
    """One paragraph telling the student where to look first."""
    if result.grader_error:
        return _("The grader failed on this submission — not your fault, tell your TA.")
    score = _("Score {score}/{max}.").format(score=f"{result.score:g}", max=f"{result.max_score:g}")
    if result.intake:
        return _("Status: {status}.").format(status=_(status_label(result))) + " " + score
    failing = [c for c in result.checks if c.outcome is not Outcome.PASSED and c.outcome is not Outcome.SKIPPED]
    score += "" if status(result) == "ok" else " " + _("Status: {status}.").format(status=_(status_label(result)))
    if not failing:
        return score + " " + _("Every check passed.")
    first = failing[0]
    todo = sum(c.outcome is Outcome.NOT_IMPLEMENTED for c in failing)
    more = " " + ngettext("{n} check waits for a function that is not implemented yet.",
                          "{n} checks wait for functions that are not implemented yet.", todo).format(n=todo) \
        if todo else ""
    look = _("Look first at {location}: {title} — {what}").format(
        location=first.location, title=first.title, what=first.mistake or first.message)
    return f"{score} {look}{more}"


def to_gradescope(result: SubmissionResult) -> dict[str, Any]:
    tests = [{
        "name": f"{c.id}: {c.title}",
        "score": c.score,
        "max_score": c.max_score,
        "status": "passed" if c.outcome is Outcome.PASSED else "failed",
        "output": _test_output(c),
        "visibility": "after_published" if c.hidden else "visible",
        "tags": [c.part, c.outcome.value],
    } for c in result.checks]
    problems = "\n".join(result.problems)
    return {
        "score": result.score,
        "execution_time": round(result.duration, 3),
        "output": "\n".join([first_look(result), *not_run(result)]) + (f"\n\n{problems}" if problems else ""),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"reglab": result.to_dict()},
    }


def write(result: SubmissionResult, folder: Path) -> Path:
    path = folder / RESULTS_FILE
    write_atomic(path, json.dumps(to_gradescope(result), indent=1, allow_nan=False, default=str))
    return path


def read(path: Path) -> SubmissionResult:
    data = json.loads(path.read_text(encoding="utf-8"))
    return SubmissionResult.from_dict(data["extra_data"]["reglab"])
