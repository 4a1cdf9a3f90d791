"""The student's terminal summary: per part, per check, what is wrong and where to look."""
from __future__ import annotations

from ..results import Outcome, SubmissionResult, status, status_label

MARK = {Outcome.PASSED: "✓", Outcome.FAILED: "✗", Outcome.ERROR: "!", Outcome.TIMEOUT: "⏱",
        Outcome.NOT_IMPLEMENTED: "·", Outcome.SKIPPED: "-", Outcome.GRADER_ERROR: "?"}
COLOR = {Outcome.PASSED: "32", Outcome.FAILED: "31", Outcome.ERROR: "31", Outcome.TIMEOUT: "31",
         Outcome.NOT_IMPLEMENTED: "33", Outcome.SKIPPED: "90", Outcome.GRADER_ERROR: "35"}


def _indent(text: str, pad: str = "      ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


def render(result: SubmissionResult, *, color: bool = False, verbose: bool = False) -> str:
    paint = (lambda code, s: f"\033[{code}m{s}\033[0m") if color else (lambda code, s: s)  # noqa: E731
    lines = [f"reglab — {result.display}: {result.score:g}/{result.max_score:g} points ({result.percent:.0f}%)"
             + ("" if status(result) == "ok" else f" — {status_label(result)}")]
    if result.grader_error:
        lines.append(paint("35", "The grader failed on this submission — not your fault, tell your TA."))
    lines += [f"  ! {p}" for p in result.problems]
    for part, (score, top) in result.parts().items():
        lines.append("")
        lines.append(paint("1", f"{part}: {score:g}/{top:g}"))
        for c in (c for c in result.checks if c.part == part):
            lines.append(f"  {paint(COLOR[c.outcome], MARK[c.outcome])} {c.title} [{c.score:g}/{c.max_score:g}]")
            if c.outcome is Outcome.PASSED and not verbose:
                continue
            if c.outcome in (Outcome.SKIPPED, Outcome.NOT_IMPLEMENTED):  # nothing to diagnose yet
                lines.append(_indent(c.message))
                continue
            lines.append(_indent(c.message))
            if c.expected is not None or c.got is not None:
                lines.append(_indent(f"expected: {c.expected}\ngot:      {c.got}"))
            if c.mistake:
                lines.append(_indent(paint("1", "Likely mistake: ") + c.mistake))
            if c.outcome is not Outcome.PASSED and c.outcome is not Outcome.GRADER_ERROR:
                lines.append(_indent(f"Where to look: {c.location}" + (f" — {c.hint}" if c.hint else "")))
            if c.traceback:
                lines.append(_indent(c.traceback, "        "))
    return "\n".join(lines)
