"""Gradebook files for the LMSs: Canvas's import CSV, Moodle's offline grading worksheet,
Blackboard's grade-centre upload, and a plain CSV. Writers: they only read results.

Each format follows its importer's documented rules (cited in tests/test_lms.py); every cell,
the site's worksheet's included, goes through grader.csvcells (text that begins like a formula is
written as text; numbers stay numbers). The grade
written is the final score (after the late penalty), optionally rescaled to the LMS column's
points (``scale``); the plain CSV keeps raw, penalty and final in separate columns. A student on
the roster with no submission gets an empty cell (the LMS keeps what it has), or 0 with
``missing="zero"``.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Iterable, Sequence

from . import course, outputs
from .csvcells import table
from .results import STATUS_LABELS, SubmissionResult, status
from .roster import Student, decode, norm_name

FORMATS = outputs.EXPORT_FORMATS

# Moodle's importer finds the columns by their names in the site's language (mod/assign/feedback/
# offline/importgradeslib.php: get_string('recordid', 'assign'), get_string('grade'),
# get_string('lastmodifiedgrade', 'assign')) and the participant by stripping
# get_string('hiddenuser', 'assign') from the identifier. English: Moodle's lang/en/assign.php.
# Korean: our rendering, not checked against Moodle's ko language pack: with a Korean site, prefer
# --template (the worksheet downloaded from the site), whose headers are the site's own.
MOODLE_HEADERS = {
    "en": {"recordid": "Identifier", "fullname": "Full name", "email": "Email address", "status": "Status",
           "grade": "Grade", "maxgrade": "Maximum Grade", "gradecanbechanged": "Grade can be changed",
           "lastmodifiedsubmission": "Last modified (submission)", "lastmodifiedgrade": "Last modified (grade)",
           "feedbackcomments": "Feedback comments", "hiddenuser": "Participant ",
           "submitted": "Submitted for grading", "nosubmission": "No submission"},
    "ko": {"recordid": "식별자", "fullname": "성명", "email": "이메일 주소", "status": "상태",
           "grade": "성적", "maxgrade": "최고 성적", "gradecanbechanged": "성적 변경 가능",
           "lastmodifiedsubmission": "최종 수정 (제출)", "lastmodifiedgrade": "최종 수정 (성적)",
           "feedbackcomments": "피드백 코멘트", "hiddenuser": "참여자 ",
           "submitted": "채점을 위해 제출됨", "nosubmission": "제출 없음"},
}


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class Row:
    """One gradebook line: a roster student (or an unrostered submission) and its result."""
    student: Student
    result: SubmissionResult | None


@dataclass(frozen=True)
class Options:
    assignment: str = "Lab"          # the LMS column's name (the command line gives the lab's title)
    assignment_id: str = ""          # the LMS's column id (Canvas assignment id, Blackboard column id)
    scale: float | None = None       # points of the LMS column (None = the grader's maximum)
    parts: bool = False              # one more column per part
    missing: str = "blank"           # blank | zero: a rostered student without a submission
    lang: str = "en"                 # Moodle site language: en | ko
    now: dt.datetime | None = None   # Moodle's "Last modified (grade)"


def class_rows(results: Sequence[SubmissionResult], students: Sequence[Student] = ()) -> list[Row]:
    """Roster order with each student's result; without a roster, one row per submission."""
    if not students:
        return [Row(course.student_of(r) or Student(id=r.name, name=r.name), r) for r in results]
    by_id = {s.id: r for r in results if (s := course.student_of(r))}
    return [Row(s, by_id.get(s.id)) for s in students]


def _max(results: Iterable[SubmissionResult]) -> float:
    return max((r.max_score for r in results), default=0.0)


def _num(x: float) -> str:
    return f"{round(x, 4):g}"


def _grade(row: Row, opts: Options, max_score: float) -> str:
    if row.result is None:
        return "0" if opts.missing == "zero" else ""
    final = course.final_score(row.result)
    return _num(final * opts.scale / max_score if opts.scale and max_score else final)


def _part_cells(row: Row, parts: Sequence[str]) -> list[str]:
    if row.result is None:
        return ["" for _ in parts]
    got = row.result.parts()
    return [_num(got[p][0]) if p in got else "" for p in parts]


def _parts_of(rows: Sequence[Row]) -> list[str]:
    from .results import PARTS

    return [p for p in PARTS if any(r.result and p in r.result.parts() for r in rows)]


def canvas(rows: Sequence[Row], opts: Options) -> str:
    """Canvas gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, "<Assignment> (<id>)";
    a "Points Possible" row second. Canvas matches a student by ID, SIS User ID or SIS Login ID."""
    max_score = _max(r.result for r in rows if r.result)
    title = f"{opts.assignment} ({opts.assignment_id})" if opts.assignment_id else opts.assignment
    parts = _parts_of(rows) if opts.parts else []
    head = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title,
            *(f"{opts.assignment}: {p}" for p in parts)]
    possible = opts.scale or max_score
    part_max = {p: max(r.result.parts()[p][1] for r in rows if r.result and p in r.result.parts()) for p in parts}
    out = [head, ["Points Possible", "", "", "", "", _num(possible), *(_num(part_max[p]) for p in parts)]]
    for row in rows:
        s = row.student
        out.append([s.name, s.lms_id, s.id, s.login, s.section, _grade(row, opts, max_score),
                    *_part_cells(row, parts)])
    return table(out)


def moodle(rows: Sequence[Row], opts: Options, template: bytes | None = None) -> str:
    """Moodle's offline grading worksheet. With ``template`` (the worksheet downloaded from the site)
    only its Grade column is filled in, matched by participant id, email or full name."""
    words = MOODLE_HEADERS[opts.lang]
    now = (opts.now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M:%S")
    max_score = _max(r.result for r in rows if r.result)
    if template is not None:
        return _fill_moodle(rows, opts, decode(template), now, max_score)
    head = [words[k] for k in ("recordid", "fullname", "email", "status", "grade", "maxgrade",
                               "gradecanbechanged", "lastmodifiedsubmission", "lastmodifiedgrade",
                               "feedbackcomments")]
    out = [head]
    for row in rows:
        s = row.student
        state = words["submitted"] if row.result else words["nosubmission"]
        out.append([f"{words['hiddenuser']}{s.lms_id}", s.name, s.email, state, _grade(row, opts, max_score),
                    _num(opts.scale or max_score), "Yes" if opts.lang == "en" else "예", "", now,
                    _feedback(row)])
    return table(out)


def _feedback(row: Row) -> str:
    if row.result is None:
        return ""
    late = row.result.extra.get("late")
    text = f"reglab: {_num(row.result.score)}/{_num(row.result.max_score)}"
    return text + (f"; {late['rule']}" if late and late.get("penalty") else "")


def _fill_moodle(rows: Sequence[Row], opts: Options, text: str, now: str, max_score: float) -> str:
    sheet = list(csv.reader(io.StringIO(text)))
    if not sheet:
        raise ExportError("the Moodle worksheet template is empty")
    head = sheet[0]
    lang = next((k for k, w in MOODLE_HEADERS.items() if w["recordid"] in head and w["grade"] in head), None)
    if lang is None:
        raise ExportError(f"the template has no Identifier/Grade columns in a language we know ({', '.join(head)})")
    words = MOODLE_HEADERS[lang]
    col = {k: head.index(words[k]) for k in ("recordid", "grade", "fullname", "email", "lastmodifiedgrade")
           if words[k] in head}
    by_lms = {r.student.lms_id: r for r in rows if r.student.lms_id}
    by_email = {r.student.email.casefold(): r for r in rows if r.student.email}
    by_name = {norm_name(r.student.name): r for r in rows if r.student.name}
    for line in sheet[1:]:
        if len(line) < len(head):
            line.extend([""] * (len(head) - len(line)))
        pid = line[col["recordid"]].removeprefix(words["hiddenuser"]).strip()
        row = by_lms.get(pid) or ("email" in col and by_email.get(line[col["email"]].casefold())) or \
            ("fullname" in col and by_name.get(norm_name(line[col["fullname"]])))
        if row and (row.result is not None or opts.missing == "zero"):
            line[col["grade"]] = _grade(row, opts, max_score)
            if "lastmodifiedgrade" in col:
                line[col["lastmodifiedgrade"]] = now
    return table(sheet)


def blackboard(rows: Sequence[Row], opts: Options) -> str:
    """Blackboard Grade Center upload: Username identifies the student, "<Column> [Total Pts: N Score] |<id>"
    an existing column (without "|<id>" Blackboard creates a new one); every field quoted."""
    max_score = _max(r.result for r in rows if r.result)
    possible = opts.scale or max_score
    suffix = f" |{opts.assignment_id}" if opts.assignment_id else ""
    parts = _parts_of(rows) if opts.parts else []
    part_max = {p: max(r.result.parts()[p][1] for r in rows if r.result and p in r.result.parts()) for p in parts}
    head = ["Username", f"{opts.assignment} [Total Pts: {_num(possible)} Score]{suffix}",
            *(f"{opts.assignment}: {p} [Total Pts: {_num(part_max[p])} Score]" for p in parts)]
    out = [head]
    for row in rows:
        out.append([row.student.login or row.student.id, _grade(row, opts, max_score), *_part_cells(row, parts)])
    return table(out, quote_all=True)


def plain(rows: Sequence[Row], opts: Options) -> str:
    """Everything, for the TA's spreadsheet: raw, penalty and final in separate columns."""
    parts = _parts_of(rows)
    head = ["student_id", "name", "email", "section", "submission", *parts, "raw", "late_penalty", "final",
            "max", "percent", "submitted", "status"]
    out = [head]
    for row in rows:
        s, r = row.student, row.result
        if r is None:
            out.append([s.id, s.name, s.email, s.section, "", *("" for _ in parts), "", "", "", "", "", "",
                        "no submission"])
            continue
        late = r.extra.get("late") or {}
        final = course.final_score(r)
        out.append([s.id, s.name, s.email, s.section, str(r.extra.get("entry", r.name)), *_part_cells(row, parts),
                    _num(r.score), _num(course.penalty(r)), _num(final), _num(r.max_score),
                    f"{100 * final / r.max_score:.1f}" if r.max_score else "", late.get("submitted") or "",
                    STATUS_LABELS[status(r)]])
    return table(out)


def export(fmt: str, results: Sequence[SubmissionResult], students: Sequence[Student] = (),
           opts: Options = Options(), template: bytes | None = None) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    rows = class_rows(results, students)
    if fmt == "canvas":
        return canvas(rows, opts)
    if fmt == "moodle":
        return moodle(rows, opts, template)
    if fmt == "blackboard":
        return blackboard(rows, opts)
    return plain(rows, opts)
