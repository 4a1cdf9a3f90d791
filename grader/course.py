"""The course around a batch: the roster's student and the late penalty of each submission.

One hook for the batch: ``Course.load(config, root)`` once, then ``course.annotate(result, entry)``
for each result (``entry`` is the submission as handed in: the folder or the .zip in the download).
It adds plain data to ``result.extra``: ``entry`` (the name in the download), ``student`` (the
roster's row, when one matched) and ``late`` (grader/late.py's record, when a due date is set).
Scores are never changed; writers show raw, penalty and final side by side.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from . import late as late_policy
from . import roster as rosters
from .config import Config
from .results import SubmissionResult


@dataclass(frozen=True)
class Course:
    students: tuple[rosters.Student, ...] = ()
    matching: rosters.Matching | None = None
    policy: late_policy.Policy | None = None
    gradescope: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, config: Config, root: Path, entries: list[str] | None = None) -> "Course":
        students = rosters.read(Path(config.course.roster), config.course.roster_columns) if config.course.roster else ()
        gradescope = rosters.load_gradescope(root) if root.is_dir() else {}
        if entries is None:
            entries = sorted(p.name for p in root.iterdir() if not p.name.startswith(".")
                             and p.name != "submission_metadata.json") if root.is_dir() else []
        matching = rosters.match(entries, students, gradescope) if students else None
        return cls(students, matching, late_policy.Policy.from_config(config), gradescope)

    def annotate(self, result: SubmissionResult, entry: Path) -> SubmissionResult:
        extra: dict[str, Any] = {**result.extra, "entry": entry.name, "entry_path": str(entry.resolve())}
        found = self.matching.of(entry.name) if self.matching else None
        student = found.student if found else None
        if student is not None:
            extra["student"] = {**student.to_dict(), "matched_by": found.how}
        if self.policy is not None:
            lms = rosters.parse_lms_name(entry.stem if entry.suffix.lower() == ".zip" else entry.name)
            marked = (found.late_marker if found else False) or bool(lms and lms.late)
            zone = late_policy.zone_of(self.policy.zone)
            when = late_policy.submitted_at(entry, zone, marked_late=marked, root_metadata=self.gradescope)
            record = late_policy.assess(self.policy, when, result.score, result.max_score,
                                        extension=student.extension if student else "")
            extra["late"] = record.to_dict()
        return dataclasses.replace(result, extra=extra)


def attach(results: list[SubmissionResult], students: tuple[rosters.Student, ...]) -> tuple[list[SubmissionResult], rosters.Matching]:
    """Match results graded without a roster to one now (by their entry names in the download)."""
    entries = [str(r.extra.get("entry", r.name)) for r in results]
    matching = rosters.match(entries, students)
    out = []
    for r, entry in zip(results, entries):
        m = matching.of(entry)
        if m and m.student is not None:
            r = dataclasses.replace(r, extra={**r.extra, "student": {**m.student.to_dict(), "matched_by": m.how}})
        out.append(r)
    return out, matching


def final_score(result: SubmissionResult) -> float:
    """The score after the late penalty (the raw score when there is none)."""
    record = result.extra.get("late")
    return float(record["final"]) if record else result.score


def penalty(result: SubmissionResult) -> float:
    record = result.extra.get("late")
    return float(record["penalty"]) if record else 0.0


def student_of(result: SubmissionResult) -> rosters.Student | None:
    d = result.extra.get("student")
    return rosters.Student.from_dict(d) if d else None


@dataclass(frozen=True)
class Columns:
    head: tuple[str, ...]
    fields: tuple[str, ...]
    source: str                    # the extra key they come from

    def row(self, result: SubmissionResult) -> list[str]:
        record = result.extra.get(self.source) or {}
        return [_cell(record.get(f)) for f in self.fields] if self.head else []


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def columns(results: list[SubmissionResult]) -> tuple[Columns, Columns]:
    """Extra class-table columns: the roster's (when any result matched a student) and the late
    penalty's (when a policy applied): the raw score stays in "total", beside "late_penalty" and "final"."""
    who = Columns(("student_id", "student", "section"), ("id", "name", "section"), "student") \
        if any("student" in r.extra for r in results) else Columns((), (), "student")
    late = Columns(("late_penalty", "final", "submitted"), ("penalty", "final", "submitted"), "late") \
        if any("late" in r.extra for r in results) else Columns((), (), "late")
    return who, late
