"""Isolation: backends chosen once and named, failing closed, links refused, the interpreter found
wherever it lives, the platforms without ``resource`` or namespaces, and the Gradescope autograder
attacked on a simulated machine without namespaces (tests/simulate_machine.py).

The attack classes per backend, through ``grade``, are in test_isolation_attacks.py.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from grader import backends
from grader.safecopy import copy_submission
from simulate_machine import cannot_simulate

REPO = Path(__file__).resolve().parent.parent
SOLUTION = REPO / "solution"
SIMULATE = REPO / "tests" / "simulate_machine.py"
MODULES = ("penalties", "model", "data", "train")
LINUX_ROOT = sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0


def simulated(*flags: str) -> list[str]:
    return ["unshare", "--mount", "--propagation", "private", sys.executable, str(SIMULATE), *flags, "--"]


def reference(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True)
    for m in MODULES:
        text = (SOLUTION / f"{m}.py").read_text(encoding="utf-8")
        (folder / f"{m}.py").write_text(text + (extra if m == "penalties" else ""), encoding="utf-8")
    return folder


@pytest.fixture
def outside(request):
    """A private folder outside TMPDIR (/var/tmp), removed afterwards."""
    base = Path(f"/var/tmp/reglab-isolation-{uuid.uuid4().hex[:12]}")
    base.mkdir(mode=0o700)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def grader_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")}
    env.update(extra)
    return env


# ---------------------------------------------------------------- copies follow no link


def test_links_at_any_depth_and_hard_links_are_refused_each_with_a_problem(tmp_path):
    sub = reference(tmp_path / "sub")
    (sub / "helpers").mkdir()
    (sub / "helpers" / "util.py").write_text("X = 1\n")
    (sub / "helpers" / "stolen.py").symlink_to(SOLUTION / "penalties.py")
    (sub / "lib").symlink_to(SOLUTION)
    (sub / "extra.py").symlink_to(SOLUTION / "train.py")
    os.link(sub / "model.py", tmp_path / "classmate_model.py")
    copied, problems = copy_submission(sub, tmp_path / "copy" / "assignment")
    assert set(copied) == {"penalties.py", "data.py", "train.py", "helpers/util.py"}
    text = "\n".join(problems)
    for name in ("helpers/stolen.py", "lib", "extra.py"):
        assert f"{name}: is a symbolic link" in text, text
    assert "model.py: has other hard links" in text
    assert not (tmp_path / "copy" / "assignment" / "lib").exists()


def test_a_linked_submission_folder_is_refused_whole(tmp_path):
    real = reference(tmp_path / "classmate")
    (tmp_path / "cheater").symlink_to(real)
    copied, problems = copy_submission(tmp_path / "cheater", tmp_path / "copy" / "assignment")
    assert copied == () and "is a symbolic link" in problems[0]


# ---------------------------------------------------------------- choosing a backend


def test_an_unknown_backend_and_grading_without_one_are_refused_with_how_to_fix():
    with pytest.raises(backends.SandboxUnavailable, match="unknown sandbox backend"):
        backends.choose("chroot")
    with pytest.raises(backends.SandboxUnavailable, match="apt-get install bubblewrap") as info:
        backends.select("none", unsafe=False, required=True)
    assert "--unsafe-no-sandbox" in str(info.value)
    try:
        assert backends.select("none", unsafe=True, required=True).name == "none"
        assert backends.current().label(unsafe=True).startswith("none (unsafe")
    finally:
        backends._selected = None


def test_auto_picks_the_best_backend_that_works_here():
    backend = backends.choose("auto")
    assert backend.name in backends.BACKENDS
    if shutil.which("bwrap") and sys.platform.startswith("linux"):
        assert backend.name == "bwrap", backend.why_not


# ---------------------------------------------------------------- failing closed


@pytest.mark.skipif(not LINUX_ROOT, reason="simulating a machine without namespaces needs root on Linux")
@pytest.mark.timeout(900)
def test_grade_without_a_backend_exits_2_and_unsafe_grades_saying_so(outside):
    subs = outside / "subs"
    reference(subs / "alice")
    # Namespaces refused (as in Docker) and this Python under /root (0700), unreadable to the sandbox
    # user: no backend can work.
    cmd = [*simulated("--no-namespaces"), sys.executable, "-m", "grader", "grade", str(subs), "--out",
           str(outside / "out"), "--no-training"]
    proc = subprocess.run(cmd, cwd=REPO, env=grader_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no sandbox can keep submissions" in proc.stderr and "apt-get install bubblewrap" in proc.stderr
    assert "bwrap:" in proc.stderr and "uid:" in proc.stderr  # what was tried, and why each failed
    assert not (outside / "out").exists()
    proc = subprocess.run(cmd + ["--unsafe-no-sandbox"], cwd=REPO, env=grader_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sandbox: none" in proc.stderr
    result = json.loads((outside / "out" / "alice" / "results.json").read_text())
    reglab = result["extra_data"]["reglab"]
    assert reglab["environment"]["sandbox"] == "none (unsafe: --unsafe-no-sandbox)"
    assert any("graded without a sandbox" in p for p in reglab["problems"])
    assert result["score"] == sum(t["max_score"] for t in result["tests"])


# ---------------------------------------------------------------- the interpreter, wherever it lives


@pytest.mark.timeout(900)
def test_a_venv_under_tmpdir_grades_the_complete_example_to_full_marks(tmp_path):
    venv = Path(os.environ.get("TMPDIR", "/tmp")) / f"reglab-venv-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                       check=True, timeout=120)
        python = venv / "bin" / "python"
        proc = subprocess.run([str(python), "-m", "grader", "check", "examples/complete", "--no-training", "--out",
                               str(tmp_path / "out")], cwd=REPO, env=grader_env(), capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        result = json.loads((tmp_path / "out" / "complete" / "results.json").read_text())
        assert result["score"] == sum(t["max_score"] for t in result["tests"]) > 0, proc.stdout[-3000:]
        for flags in ([], ["-S"]):  # -S: this process never reads pyvenv.cfg; the worker's python does
            assert str(venv) in subprocess.run([str(python), *flags, "-c", "from grader import backends; "
                                                "print(backends.interpreter_paths())"], cwd=REPO, capture_output=True,
                                               text=True).stdout, flags
    finally:
        shutil.rmtree(venv, ignore_errors=True)


# ---------------------------------------------------------------- macOS and Windows: no resource, no namespaces


@pytest.mark.timeout(900)
def test_check_degrades_where_resource_and_namespaces_do_not_exist(tmp_path):
    """As on macOS: ``resource`` and ``fcntl`` cannot be imported and the platform is not Linux; the
    student's ``check`` still grades, with a one-line notice."""
    launcher = ("import sys; sys.modules['resource'] = None; sys.modules['fcntl'] = None; sys.platform = 'darwin'\n"
                "from grader.cli import main\n"
                f"sys.exit(main(['check', 'examples/complete', '--no-training', '--out', {str(tmp_path)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", launcher], cwd=REPO, env=grader_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    notice = [line for line in proc.stderr.splitlines() if line.startswith("sandbox: none")]
    assert len(notice) == 1 and "darwin" in notice[0], proc.stderr
    result = json.loads((tmp_path / "complete" / "results.json").read_text())
    assert result["score"] == sum(t["max_score"] for t in result["tests"]) > 0
    assert result["extra_data"]["reglab"]["environment"]["sandbox"] == "none"


# ---------------------------------------------------------------- Gradescope, without namespaces


@pytest.mark.skipif(not LINUX_ROOT, reason="the autograder's sandbox user needs root on Linux")
@pytest.mark.timeout(1200)
def test_the_gradescope_autograder_without_namespaces_keeps_its_results_and_secrets(outside):
    if cannot_simulate(str(REPO)):
        pytest.skip(cannot_simulate(str(REPO)))
    token = uuid.uuid4().hex
    archive = outside / "autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "grader", "gradescope", "--out", str(archive)], cwd=REPO,
                          env=grader_env(REGLAB_HIDDEN="penalties.unknown_kind"), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = outside / "autograder"
    for sub in ("source", "submission", "results"):
        (root / sub).mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            zf.extract(info, root / "source")
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(root / "source" / info.filename, mode)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    for sub in ("", "source", "submission", "results"):  # as Gradescope leaves them: readable by all
        os.chmod(root / sub, 0o755)
    outside.chmod(0o755)
    attack = (REPO / "tests/fixtures/attacks/gradescope/attack.py").read_text()
    sub = reference(root / "submission" / "repo" / "assignment", extra="\nfrom . import attack  # noqa\n")
    (sub / "attack.py").write_text(attack.replace("__TOKEN__", token).replace("__ROOT__", str(root)))
    secret_line = next(line for line in (root / "source/labs/regularization/checks/penalties.py").read_text().splitlines()
                       if "def " in line)
    env = grader_env(REGLAB_AUTOGRADER_ROOT=str(root), REGLAB_PYTHON=sys.executable, REGLAB_TRAINING="false",
                     XDG_CACHE_HOME=str(root / "cache"))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([*simulated("--python-readable", "--private", str(REPO), "--fresh-tmp", "--no-namespaces"),
                           str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "sandbox: uid" in proc.stdout, proc.stdout[-2000:]
    written = (root / "results" / "results.json").read_bytes()
    results = json.loads(written)
    output = results.get("extra_data", {}).get("reglab", {}).get("output", "")
    assert token not in results.get("output", "") and results["score"] == sum(t["max_score"] for t in results["tests"])
    assert f"ATTACK {token} denied write" in output, output[-3000:]
    assert f"ATTACK {token} ESCAPED" not in output, output[-3000:]
    assert secret_line not in output
    time.sleep(3)  # a daemon still alive would have rewritten it by now
    assert (root / "results" / "results.json").read_bytes() == written
    assert [p.name for p in (root / "results").iterdir()] == ["results.json"]
