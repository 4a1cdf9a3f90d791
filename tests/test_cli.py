"""The commands as users run them: exit codes, result files, batches with zips and broken entries."""
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from grader.cli import main

from conftest import REPO

FAST = ["--no-training"]


def test_check_writes_results_and_exits_zero(tmp_path, capsys):
    assert main(["check", str(REPO / "solution"), "--out", str(tmp_path), *FAST]) == 0
    out = capsys.readouterr().out
    assert "80/80" in out and (tmp_path / "solution" / "results.json").is_file()
    assert (tmp_path / "solution" / "index.html").is_file()


def test_fail_under_exits_one_below_the_threshold(tmp_path):
    assert main(["check", str(REPO / "examples" / "half_done"), "--out", str(tmp_path), "--fail-under", "60",
                 *FAST]) == 1
    assert main(["check", str(REPO / "examples" / "half_done"), "--out", str(tmp_path), "--fail-under", "50",
                 *FAST]) == 0


def test_usage_and_setup_errors_exit_two_with_a_message(tmp_path, capsys, monkeypatch):
    assert main(["check", str(tmp_path / "missing"), *FAST]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setenv("REGLAB_JOBS", "lots")
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "o"), *FAST]) == 2
    assert "REGLAB_JOBS" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["grade"])
    assert exc.value.code == 2


def test_batch_grades_folders_zips_and_broken_entries_without_stopping(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(REPO / "examples" / "complete", subs / "alice")
    with zipfile.ZipFile(subs / "bob.zip", "w") as zf:
        for f in (REPO / "examples" / "half_done").glob("*.py"):
            zf.write(f, f"bob-lab/{f.name}")
    (subs / "carol.zip").write_bytes(b"this is not a zip")
    with zipfile.ZipFile(subs / "mallory.zip", "w") as zf:
        zf.writestr("../../escape.py", "x = 1")
    (subs / "dave").mkdir()  # empty folder
    out = tmp_path / "out"
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "2", *FAST]) == 0
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8-sig")))
    assert {r["name"]: r["total"] for r in rows} == {"alice": "80", "bob.zip": "40", "carol.zip": "0", "dave": "0",
                                                    "mallory.zip": "0"}
    assert {r["name"]: r["folder"] for r in rows}["bob.zip"] == "bob"
    assert {r["name"]: r["status"] for r in rows} == {"alice": "ok", "bob.zip": "incomplete", "carol.zip": "unreadable",
                                                     "dave": "incomplete", "mallory.zip": "unreadable"}
    carol = json.loads((out / "carol" / "results.json").read_text())
    assert "not a readable zip" in carol["output"]
    assert "unsafe entry" in json.loads((out / "mallory" / "results.json").read_text())["output"]
    assert not (tmp_path / "escape.py").exists()
    assert (out / "index.html").is_file() and (out / "junit.xml").is_file()


def test_report_rerenders_from_result_files_without_regrading(tmp_path, capsys):
    assert main(["check", str(REPO / "solution"), "--out", str(tmp_path), *FAST]) == 0
    page = tmp_path / "solution" / "index.html"
    page.unlink()
    assert main(["report", str(tmp_path)]) == 0
    assert page.is_file() and "re-rendered 1" in capsys.readouterr().out


def test_python_dash_m_grader_runs_as_a_program(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader", "check", str(REPO / "assignment"), "--out",
                           str(tmp_path), *FAST], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "0/80" in proc.stdout and "not implemented yet" in proc.stdout
