"""The commands in the field: missing data, `python -m grader data`, pipes, warnings, --fail-under, --ci's annotations."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from grader import cifar
from grader.checks import REGISTRY
from grader.cifar_fixture import write_fixture
from grader.cli import main
from grader.results import CheckResult, Outcome, SubmissionResult
from grader.writers import github

from conftest import REPO

FAST = ["--no-training"]
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": ""}


def _grader(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})}, timeout=600, **kw)


# ---------------------------------------------------------------- CIFAR-10 missing


def test_data_offline_fails_with_exactly_which_file_to_put_where(tmp_path):
    proc = _grader("data", "--data", str(tmp_path / "nowhere"), env=OFFLINE)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "offline" in proc.stderr and "Traceback" not in proc.stderr
    assert f"copy {cifar.ARCHIVE} (from {cifar.ARCHIVE_URL}" in proc.stderr and cifar.ARCHIVE_MD5 in proc.stderr
    assert f"to {tmp_path / 'nowhere' / cifar.ARCHIVE} and run `python -m grader data` again" in proc.stderr


def test_data_verifies_a_copy_that_is_there(tmp_path, capsys):
    root = write_fixture(tmp_path / "d")
    assert main(["data", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert "CIFAR-10 is ready" in out and "500 training and 200 test images" in out and "not verified" in out


def test_grade_and_ci_treat_missing_data_as_a_setup_error_unless_no_training(tmp_path, capsys):
    subs = tmp_path / "subs"
    (subs / "a").mkdir(parents=True)
    nowhere = str(tmp_path / "nowhere")
    assert main(["grade", str(subs), "--out", str(tmp_path / "o"), "--data", nowhere]) == 2
    err = capsys.readouterr().err
    assert "CIFAR-10 not found" in err and "python -m grader data" in err and "--no-training" in err
    assert not (tmp_path / "o").exists()
    assert main(["check", str(REPO / "assignment"), "--ci", "--out", str(tmp_path / "c"), "--data", nowhere]) == 2
    assert "python -m grader data" in capsys.readouterr().err


def test_a_students_check_without_data_keeps_the_maximum_and_says_how_to_get_it(tmp_path, capsys):
    assert main(["check", str(REPO / "solution"), "--out", str(tmp_path), "--data", str(tmp_path / "nowhere")]) == 0
    out = capsys.readouterr().out
    top = sum(c.points for c in REGISTRY)
    assert f"80/{top:g} points" in out
    assert "training check not run (20 points): get the data with `python -m grader data`" in out


# ---------------------------------------------------------------- small things


def test_a_reader_that_goes_away_leaves_no_traceback_and_the_results_written(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "grader", "check", str(REPO / "solution"), "--out", str(tmp_path),
                             *FAST], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # like `| head` that has already exited: every write fails with EPIPE
    err = proc.stderr.read()
    assert proc.wait(timeout=600) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert (tmp_path / "solution" / "results.json").is_file()


def test_overflow_in_the_graders_own_arithmetic_is_not_a_warning(grade):
    import dataclasses

    def overflowing(ctx):
        np.exp(np.float64(1000.0))
        return REGISTRY[0].judge(ctx)
    check = dataclasses.replace(REGISTRY[0], judge=overflowing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = grade(REPO / "solution", checks=(check,))
    assert result.checks[0].outcome is Outcome.PASSED
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("value", ["150", "-5", "nan"])
def test_fail_under_outside_0_to_100_is_refused(tmp_path, capsys, value):
    assert main(["check", str(REPO / "solution"), "--out", str(tmp_path), "--fail-under", value, *FAST]) == 2
    assert "fail_under" in capsys.readouterr().err


def test_falling_below_fail_under_says_so_in_one_line(tmp_path, capsys):
    assert main(["check", str(REPO / "examples" / "half_done"), "--out", str(tmp_path), "--fail-under", "60",
                 *FAST]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if "fail-under" in line]
    assert lines == ["below --fail-under: 50.0% < 60% (exit status 1)"]


def test_ci_emits_at_most_ten_annotations_most_points_lost_first(tmp_path):
    checks = tuple(CheckResult(id=f"model.c{i}", part="model", title=f"check {i}", outcome=Outcome.FAILED,
                               score=0.0, max_score=float(i % 5 + 1), message="wrong", location="model.py:Net")
                   for i in range(15))
    result = SubmissionResult(name="s", checks=checks)
    lines = github.annotations(result, tmp_path)
    errors = [line for line in lines if line.startswith("::error")]
    assert len(errors) == 10
    titles = [line.split("title=")[1].split("::")[0] for line in errors]
    lost = {c.id: c.max_score for c in checks}
    assert [lost[t] for t in titles] == sorted((lost[t] for t in titles), reverse=True)
    assert min(lost[t] for t in titles) >= max(v for k, v in lost.items() if k not in titles)
    assert any("5 more failed check(s) are listed in the step summary" in line for line in lines)
    summary = github.summary(result, tmp_path)
    assert all(f"`{c.id}`" in summary for c in checks)
