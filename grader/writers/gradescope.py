"""Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/).

The full result rides along under ``extra_data.reglab`` so that reports can be re-rendered later.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..files import write_atomic
from ..results import CheckResult, Outcome, SubmissionResult, status, status_label

RESULTS_FILE = "results.json"


def _test_output(c: CheckResult) -> str:
    lines = [c.message]
    if c.expected is not None or c.got is not None:
        lines.append(f"expected: {c.expected}\ngot:      {c.got}")
    if c.mistake:
        lines.append(f"Likely mistake: {c.mistake}")
    if c.hint and c.outcome is not Outcome.PASSED:
        lines.append(f"Where to look: {c.location} — {c.hint}")
    if c.traceback:
        lines.append(c.traceback)
    return "\n".join(x for x in lines if x)


def first_look(result: SubmissionResult) -> str:
    """One paragraph telling the student where to look first."""
    if result.grader_error:
        return "The grader failed on this submission — not your fault, tell your TA."
    if result.intake:
        return f"Status: {status_label(result)}. Score {result.score:g}/{result.max_score:g}."
    failing = [c for c in result.checks if c.outcome is not Outcome.PASSED and c.outcome is not Outcome.SKIPPED]
    score = f"Score {result.score:g}/{result.max_score:g}." + (
        "" if status(result) == "ok" else f" Status: {status_label(result)}.")
    if not failing:
        return f"{score} Every check passed."
    first = failing[0]
    todo = sum(c.outcome is Outcome.NOT_IMPLEMENTED for c in failing)
    more = f" {todo} check(s) wait for functions that are not implemented yet." if todo else ""
    return f"{score} Look first at {first.location}: {first.title} — {first.mistake or first.message}{more}"


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
        "output": first_look(result) + (f"\n\n{problems}" if problems else ""),
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
