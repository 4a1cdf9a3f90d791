"""Gradebook exports, each checked against its importer's documented rules.

Canvas — "How do I import grades in the Gradebook?" / "Import CSV File for Carmen Grades"
(https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):
a student is identified by Student name OR ID OR SIS User ID (one suffices), with SIS Login ID and
Section columns; each assignment is a column; an assignment column Canvas does not know creates a
new assignment; read-only columns are ignored. Canvas's own export has the header
``Student, ID, SIS User ID, SIS Login ID, Section, <Assignment> (<id>)`` and a "Points Possible" row.

Moodle — the offline grading worksheet's importer (moodle/moodle
mod/assign/feedback/offline/importgradeslib.php, commit 452e36f): the CSV is read as UTF-8, comma
separated; the columns are found by exact name in the site's language: get_string('recordid',
'assign') "Identifier", get_string('grade') "Grade", get_string('lastmodifiedgrade', 'assign')
"Last modified (grade)" — all three must be there or the import fails; the participant is the
identifier with get_string('hiddenuser', 'assign') "Participant " stripped; the modified time goes
through strtotime().

Blackboard — "Uploading External Grade Center Items"
(http://library.blackboard.com/ref/36ba3329-e441-488a-93ce-7a55543cc999/Content/Grade%20Center/Uploading%20External%20Grade%20Center%20Items.htm):
a header row then one record per line; the student is identified by the User Name; a column by its
Column ID (a column without one creates a new text column); in comma-delimited files the data in
each column must be inside a quote character.
"""
import csv
import datetime as dt
import io

from grader import lms
from grader.results import CheckResult, Outcome, SubmissionResult
from grader.roster import Student

STUDENTS = (Student("20230001", "Kim, Minsu", "kim@example.kr", "1", lms_id="1001", login="minsu"),
            Student("20230002", "이서연", "lee@example.kr", "2", lms_id="2001", login="seoyeon"),
            Student("20230003", "박지훈", "park@example.kr", "1", lms_id="3001"))


def result(name, student, scores, late=None):
    checks = tuple(CheckResult(f"{p}.x", p, "x", Outcome.PASSED if s else Outcome.FAILED, s, 20.0)
                   for p, s in zip(("penalties", "model", "data", "train"), scores))
    extra = {"entry": name, "student": student.to_dict()}
    if late:
        extra["late"] = late
    return SubmissionResult(name=name, checks=checks, extra=extra)


LATE = {"raw": 60.0, "penalty": 8.0, "final": 52.0, "submitted": "2026-12-02T00:30+09:00",
        "rule": "Submitted 2026-12-02T00:30+09:00, due 2026-12-01T23:59+09:00: 0.5 h late = 1 day × 10%"}
RESULTS = [result("kim", STUDENTS[0], (20, 20, 20, 20)), result("lee", STUDENTS[1], (20, 20, 20, 0), LATE)]


def table(text):
    return list(csv.reader(io.StringIO(text)))


def test_canvas():
    rows = table(lms.export("canvas", RESULTS, STUDENTS, lms.Options(assignment="Lab 3", assignment_id="555")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 3 (555)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "80"]
    assert rows[2] == ["Kim, Minsu", "1001", "20230001", "minsu", "1", "80"]
    assert rows[3] == ["이서연", "2001", "20230002", "seoyeon", "2", "52"]      # the final score, after the penalty
    assert rows[4] == ["박지훈", "3001", "20230003", "", "1", ""]              # no submission: Canvas keeps its value
    assert all(r[1] or r[2] or r[3] for r in rows[2:])                          # every student identifiable


def test_canvas_parts_and_scale():
    rows = table(lms.export("canvas", RESULTS, STUDENTS, lms.Options(assignment="Lab", scale=100, parts=True,
                                                                     missing="zero")))
    assert rows[0][5:] == ["Lab", "Lab: penalties", "Lab: model", "Lab: data", "Lab: train"]
    assert rows[1][5:] == ["100", "20", "20", "20", "20"]
    assert rows[3][5:] == ["65", "20", "20", "20", "0"] and rows[4][5] == "0"


def test_moodle_english_worksheet_has_what_the_importer_needs():
    now = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.timezone.utc)
    rows = table(lms.export("moodle", RESULTS, STUDENTS, lms.Options(now=now)))
    head = rows[0]
    assert head[:6] == ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade"]
    for required in ("Identifier", "Grade", "Last modified (grade)"):
        assert head.count(required) == 1
    lee = dict(zip(head, rows[2]))
    assert lee["Identifier"] == "Participant 2001" and lee["Grade"] == "52" and lee["Maximum Grade"] == "80"
    assert lee["Last modified (grade)"] == "2026-12-05 09:00:00"           # a form strtotime() reads
    assert "1 day" in lee["Feedback comments"]
    assert dict(zip(head, rows[3]))["Grade"] == ""


def test_moodle_korean_headers_and_filling_the_sites_own_worksheet():
    ko = table(lms.export("moodle", RESULTS, STUDENTS, lms.Options(lang="ko")))
    assert ko[0][:5] == ["식별자", "성명", "이메일 주소", "상태", "성적"] and ko[1][0] == "참여자 1001"
    downloaded = ("식별자,성명,이메일 주소,상태,성적,최고 성적,최종 수정 (성적),피드백 코멘트\r\n"
                  "참여자 2001,이서연,lee@example.kr,제출됨,,80,-,\r\n"
                  "참여자 9999,Someone Else,x@example.kr,제출됨,,80,-,\r\n").encode("utf-8-sig")
    filled = table(lms.export("moodle", RESULTS, STUDENTS, lms.Options(), template=downloaded))
    assert filled[0][0] == "식별자" and filled[1][4] == "52" and filled[1][6] != "-"
    assert filled[2][4] == "" and filled[2][6] == "-"                            # not ours: untouched


def test_blackboard():
    text = lms.export("blackboard", RESULTS, STUDENTS, lms.Options(assignment="Lab 3", assignment_id="_123_1",
                                                                   parts=True))
    rows = table(text)
    assert rows[0][:2] == ["Username", "Lab 3 [Total Pts: 80 Score] |_123_1"]
    assert rows[0][2] == "Lab 3: penalties [Total Pts: 20 Score]"               # no id: a new column
    assert rows[1][:2] == ["minsu", "80"] and rows[2][:2] == ["seoyeon", "52"]
    assert rows[3][0] == "20230003"                                             # no login: the student id
    assert all(line.startswith('"') and line.endswith('"') for line in text.splitlines())  # every field quoted


def test_plain_csv_keeps_raw_penalty_and_final_apart():
    rows = table(lms.export("csv", RESULTS, STUDENTS))
    head = rows[0]
    lee = dict(zip(head, rows[2]))
    assert (lee["raw"], lee["late_penalty"], lee["final"], lee["percent"]) == ("60", "8", "52", "65.0")
    assert dict(zip(head, rows[3]))["status"] == "no submission"


def test_without_a_roster_one_row_per_submission():
    bare = [SubmissionResult(name="anon", checks=RESULTS[0].checks)]
    rows = table(lms.export("canvas", bare))
    assert rows[2][:3] == ["anon", "", "anon"] and rows[2][5] == "80"
