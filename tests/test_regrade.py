"""Re-grading: one student into an existing folder, --only, --resume after a batch killed with kill -9."""
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from grader.cli import main

from conftest import REPO

FAST = ["--no-training"]
EXAMPLES = REPO / "examples"


def subs_with(tmp_path, **folders):
    subs = tmp_path / "subs"
    for name, example in folders.items():
        shutil.copytree(EXAMPLES / example, subs / name, ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    return subs


def rows(out):
    return {r["name"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8-sig"))}


def test_grading_one_student_into_a_class_folder_updates_only_that_row(tmp_path, capsys):
    subs = subs_with(tmp_path, 민지="complete", bob="half_done")
    out = tmp_path / "out"
    assert main(["grade", str(subs), "--out", str(out), *FAST]) == 0
    first = (out / "민지" / "results.json").read_bytes()
    assert rows(out)["bob"]["total"] == "40"

    shutil.copy(EXAMPLES / "complete" / "train.py", subs / "bob" / "train.py")  # bob fixes his training loop
    assert main(["grade", str(subs), "--out", str(out), "--only", "bob", *FAST]) == 0
    assert "graded 1 submission(s)" in capsys.readouterr().out
    table = rows(out)
    assert set(table) == {"민지", "bob"} and table["민지"]["total"] == "80" and table["bob"]["total"] == "60"
    assert (out / "민지" / "results.json").read_bytes() == first  # not graded again

    alone = tmp_path / "just-bob"  # a folder holding only one student: the class files keep everyone
    shutil.copytree(subs / "bob", alone / "bob")
    assert main(["grade", str(alone), "--out", str(out), *FAST]) == 0
    assert set(rows(out)) == {"민지", "bob"}

    assert main(["grade", str(subs), "--out", str(out), "--only", "nobody", *FAST]) == 2
    assert "no submission called nobody" in capsys.readouterr().err

    # --resume keeps what was made from the same content and re-grades what changed
    (subs / "bob" / "model.py").write_text((subs / "bob" / "model.py").read_text() + "\n# edited\n")
    assert main(["grade", str(subs), "--out", str(out), "--resume", *FAST]) == 0
    assert "graded 1 submission(s) (1 kept from an earlier run)" in capsys.readouterr().out
    assert (out / "민지" / "results.json").read_bytes() == first


def _grade_process(subs, out, *extra):
    # One course secret for both output folders (each would otherwise draw its own, and its own inputs).
    env = {**os.environ, "REGLAB_SECRET_SEED": "regrade-test-secret"}
    return subprocess.Popen([sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out), "--jobs", "1",
                             *FAST, *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=env)


def normalised(out):
    """The class files with only the timing fields blanked: the CSV's seconds column, JUnit's time
    attributes, the summary's Time column and its "Grading took" line."""
    table = [{k: v for k, v in r.items() if k != "seconds"} for r in rows(out).values()]
    junit = re.sub(r' time="[0-9.]+"', ' time=""', (out / "junit.xml").read_text(encoding="utf-8"))
    html = (out / "index.html").read_text(encoding="utf-8")
    html = re.sub(r'<p class="meta">Grading took .*?</p>', "", html, flags=re.S)
    html = re.sub(r'<td class="num" data-v="[0-9.e-]+">[0-9.]+ s</td>', "<td>time</td>", html)
    return table, junit, html


def test_a_batch_killed_with_kill_9_then_resumed_ends_identical_to_an_uninterrupted_one(tmp_path):
    subs = subs_with(tmp_path, 하늘="complete", bob="half_done", carol="typical_mistakes")
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    proc = _grade_process(subs, full)
    assert proc.wait(timeout=900) == 0, proc.stdout.read()

    proc = _grade_process(subs, resumed)
    deadline = time.monotonic() + 600
    while not list(resumed.glob("*/results.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = list(resumed.glob("*/results.json"))
    assert 1 <= len(done) < 3 and not (resumed / "grades.csv").exists(), "killed mid-batch"

    proc = _grade_process(subs, resumed, "--resume")
    output = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, output
    assert f"({len(done)} kept from an earlier run)" in output
    assert normalised(resumed) == normalised(full)
