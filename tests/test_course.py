"""The course hook of the batch: roster student and late record added to results (scores untouched),
grades.csv's extra columns, the student's report explaining the penalty (escaped), the GPU share."""
import csv
import inspect
import io
import zipfile

from grader import course, report_html
from grader.config import resolve
from grader.stages import gpu_memory_fraction
from grader.results import CheckResult, Outcome, SubmissionResult
from labs.regularization.worker.experiment import run_experiment
from grader.writers import tables


def graded(name):
    return SubmissionResult(name=name, checks=(CheckResult("penalties.x", "penalties", "x", Outcome.PASSED,
                                                           40.0, 40.0),))


def test_annotate_adds_student_and_late_and_leaves_the_score(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    z = subs / "kimminsu_late_1001_5001_lab.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(zipfile.ZipInfo("lab/penalties.py", (2026, 12, 3, 1, 0, 0)), "x = 1\n")  # 25 h late (KST)
    roster = tmp_path / "roster.csv"
    roster.write_text('학번,이름,이메일,분반\n20230001,"Kim, Minsu",kim@example.kr,1\n20230002,이서연,lee@x.kr,2\n',
                      encoding="utf-8-sig")
    cfg = resolve({"roster": str(roster), "due": "2026-12-01T23:59", "timezone": "Asia/Seoul",
                   "late_penalty": 10, "late_unit": "day"}, environ={}, config_file=None)
    c = course.Course.load(cfg, subs)
    result = c.annotate(graded("kimminsu"), z)
    assert result.score == 40 and result.extra["student"]["id"] == "20230001"
    assert result.extra["student"]["matched_by"] == "canvas"
    late = result.extra["late"]
    assert (late["source"], late["units"], late["penalty"], late["final"]) == ("lms-marker+zip", 2, 8, 32)
    assert [s.id for s in c.matching.missing] == ["20230002"]
    rows = list(csv.DictReader(io.StringIO(tables.grades_csv([result]))))
    assert (rows[0]["student_id"], rows[0]["total"], rows[0]["late_penalty"], rows[0]["final"]) == \
        ("20230001", "40", "8", "32")
    assert SubmissionResult.from_dict(result.to_dict()) == result


def test_the_report_explains_the_penalty_escaped():
    rule = "Submitted <b>late</b>: 1 day × 10% = −8."
    r = graded("x")
    r = SubmissionResult(**{**r.__dict__, "extra": {"late": {"raw": 40.0, "penalty": 8.0, "final": 32.0,
                                                             "rule": rule}}})
    page = report_html.render_student(r)
    assert "late penalty 8" in page and "32</strong>" in page
    assert "&lt;b&gt;late&lt;/b&gt;" in page and "<b>late</b>" not in page
    assert "Late work" not in report_html.render_student(graded("y"))


def test_each_worker_gets_its_share_of_the_gpu():
    assert gpu_memory_fraction(resolve({"jobs": 4}, environ={}, config_file=None)) == 0.2375
    assert gpu_memory_fraction(resolve({"gpu_memory_fraction": 0.3}, environ={}, config_file=None)) == 0.3
    assert "gpu_memory_fraction" in inspect.signature(run_experiment).parameters


def test_grade_with_a_roster_reports_who_is_missing_and_exports(tmp_path, monkeypatch):
    from grader import batch, cli

    monkeypatch.setattr(batch, "grade_submission", lambda path, config, name=None, checks=None, expected=None, **_:
                        graded(name))
    monkeypatch.setattr(batch.reference, "prestart", lambda *args, **kwargs: None)  # no expected data is needed
    subs = tmp_path / "subs"
    (subs / "이서연_2001_assignsubmission_file_").mkdir(parents=True)
    (subs / "nobody_lab").mkdir()
    roster = tmp_path / "roster.csv"
    roster.write_bytes("학번,이름,이메일,분반\n20230002,이서연,lee@x.kr,2\n20230009,정하늘,j@x.kr,1\n".encode("cp949"))
    out = tmp_path / "out"
    assert cli.main(["grade", str(subs), "--out", str(out), "--no-training", "--roster", str(roster)]) == 0
    report = (out / "roster.txt").read_text()
    assert "1 of 2 submission(s) matched" in report and "'nobody_lab'" in report and "정하늘" in report
    assert cli.main(["export", str(out), "--format", "canvas", "--roster", str(roster)]) == 0
    rows = list(csv.reader(io.StringIO((out / "canvas.csv").read_text())))
    assert rows[2][:3] == ["이서연", "", "20230002"] and rows[2][5] == "40" and rows[3][5] == ""
    assert cli.main(["export", str(out), "--format", "csv"]) == 0
    assert (out / "csv.csv").read_bytes().startswith(b"\xef\xbb\xbf")      # Excel needs the BOM
