"""The student's terminal summary: per part, per check, what is wrong and where to look.

Columns are aligned by display width (wcwidth), not by len(): a Hangul syllable takes two
terminal cells, so a Korean title padded with str.ljust would push its points out of line.
"""
from __future__ import annotations

from wcwidth import wcswidth, wcwidth

from ..i18n import _
from ..results import Outcome, SubmissionResult, status, status_label
from .notes import not_run

MARK = {Outcome.PASSED: "✓", Outcome.FAILED: "✗", Outcome.ERROR: "!", Outcome.TIMEOUT: "⏱",
        Outcome.NOT_IMPLEMENTED: "·", Outcome.SKIPPED: "-", Outcome.GRADER_ERROR: "?"}
COLOR = {Outcome.PASSED: "32", Outcome.FAILED: "31", Outcome.ERROR: "31", Outcome.TIMEOUT: "31",
         Outcome.NOT_IMPLEMENTED: "33", Outcome.SKIPPED: "90", Outcome.GRADER_ERROR: "35"}
TITLE_COLUMN = 64  # titles up to this many cells keep the points in one column; longer ones push them


def width(text: str) -> int:
    """Terminal cells ``text`` takes (wide characters 2, combining 0; a control character counts 0)."""
    cells = wcswidth(text)
    return cells if cells >= 0 else sum(max(wcwidth(ch), 0) for ch in text)


def ljust(text: str, cells: int) -> str:
    return text + " " * max(0, cells - width(text))


def rjust(text: str, cells: int) -> str:
    return " " * max(0, cells - width(text)) + text


def labelled(pairs: list[tuple[str, str]]) -> str:
    """``label value`` lines with the values in one column, whatever the labels' script."""
    cells = max(width(label) for label, _value in pairs)
    return "\n".join(f"{ljust(label, cells)} {value}" for label, value in pairs)


def expected_got(expected: str | None, got: str | None) -> str:
    return labelled([(_("expected:"), str(expected)), (_("got:"), str(got))])


def _indent(text: str, pad: str = "      ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


def headline(result: SubmissionResult) -> str:
    """The report's first line: the name, the score and, when it is not plain, the result's status."""
    return (_("reglab — {name}: {score}/{max} points ({percent}%)").format(
        name=result.display, score=f"{result.score:g}", max=f"{result.max_score:g}", percent=f"{result.percent:.0f}")
            + ("" if status(result) == "ok" else f" — {_(status_label(result))}"))


def render(result: SubmissionResult, *, color: bool = False, verbose: bool = False) -> str:
    paint = (lambda code, s: f"\033[{code}m{s}\033[0m") if color else (lambda code, s: s)  # noqa: E731
    lines = [headline(result)]
    lines += [paint("33", f"  - {note}") for note in not_run(result)]
    if result.grader_error:
        lines.append(paint("35", _("The grader failed on this submission — not your fault, tell your TA.")))
    lines += [f"  ! {p}" for p in result.problems]
    title_cells = min(TITLE_COLUMN, max((width(c.title) for c in result.checks), default=0))
    points = {c.id: f"[{c.score:g}/{c.max_score:g}]" for c in result.checks}
    points_cells = max((width(p) for p in points.values()), default=0)
    for part, (score, top) in result.parts().items():
        lines.append("")
        lines.append(paint("1", f"{part}: {score:g}/{top:g}"))
        for c in (c for c in result.checks if c.part == part):
            lines.append(f"  {paint(COLOR[c.outcome], MARK[c.outcome])} {ljust(c.title, title_cells)} "
                         f"{rjust(points[c.id], points_cells)}")
            if c.outcome is Outcome.PASSED and not verbose:
                continue
            if c.outcome in (Outcome.SKIPPED, Outcome.NOT_IMPLEMENTED):  # nothing to diagnose yet
                lines.append(_indent(c.message))
                continue
            lines.append(_indent(c.message))
            if c.expected is not None or c.got is not None:
                lines.append(_indent(expected_got(c.expected, c.got)))
            if c.mistake:
                lines.append(_indent(paint("1", _("Likely mistake:")) + " " + c.mistake))
            if c.outcome is not Outcome.PASSED and c.outcome is not Outcome.GRADER_ERROR:
                where = _("Where to look: {location}").format(location=c.location)
                lines.append(_indent(where + (f" — {c.hint}" if c.hint else "")))
            if c.traceback:
                lines.append(_indent(c.traceback, "        "))
    return "\n".join(lines)
