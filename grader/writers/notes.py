"""What a score leaves out, in the reader's language: the parts not run (``SubmissionResult.not_run``),
for every page that shows a score."""
from __future__ import annotations

from ..i18n import _
from ..results import NOT_RUN_LABELS, SubmissionResult


def not_run(result: SubmissionResult) -> list[str]:
    """e.g. ["training check not run (20 points)"], with the points the declarations give."""
    return [_(NOT_RUN_LABELS[part]).format(points=f"{points:g}") for part, points in result.not_run.items()
            if part in NOT_RUN_LABELS]
