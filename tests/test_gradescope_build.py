"""The Gradescope autograder zip, unpacked into a folder laid out like ``/autograder`` and run there.

``run_autograder`` is run as Gradescope runs it (copied to ``<root>/run_autograder``, working
directory ``<root>``), with ``REGLAB_AUTOGRADER_ROOT`` pointing at the temporary layout and
``REGLAB_PYTHON`` at this interpreter (``setup.sh``'s installs are skipped); the interpreter sees
only the unpacked grader (``-S``: this repository's editable install cannot fill anything in).
Spec: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOLUTION = REPO / "solution"
MODULES = ("penalties", "model", "data", "train")
HIDDEN = "penalties.unknown_kind"
HIDDEN_PROBE = "pen.unknown_kind"   # read by the hidden check only
SECRET = "gradescope-course-secret-" + "5d41402abc4b2a76"  # the course secret the zip is built with
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
TOP_LEVEL = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
             "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
               "visibility", "extra_data"}


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory, small_cifar) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    env = {**os.environ, "REGLAB_HIDDEN": HIDDEN, "REGLAB_SECRET_SEED": SECRET, "REGLAB_DATA": str(small_cifar)}
    proc = subprocess.run([sys.executable, "-m", "grader", "gradescope", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 of them hidden" in proc.stdout and "no reference code inside" in proc.stdout
    return out


def layout(tmp_path: Path, autograder_zip: Path) -> Path:
    root = tmp_path / "autograder"
    for sub in ("source", "submission", "results"):
        (root / sub).mkdir(parents=True)
    with zipfile.ZipFile(autograder_zip) as zf:
        for info in zf.infolist():
            zf.extract(info, root / "source")
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(root / "source" / info.filename, mode)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # as Gradescope's image build does
    return root


def submit(folder: Path, edits: dict[str, list[tuple[str, str]]] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for m in MODULES:
        text = (SOLUTION / f"{m}.py").read_text()
        for old, new in (edits or {}).get(m, []):
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        (folder / f"{m}.py").write_text(text)


def run_autograder(root: Path, terminal: list[str] | None = None) -> dict:
    wrapper = root.parent / "python-S"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    wrapper.chmod(0o755)
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGLAB_", "PYTHON"))}
    env.update(REGLAB_AUTOGRADER_ROOT=str(root), REGLAB_PYTHON=str(wrapper), PYTHONPATH=os.pathsep.join(paths),
               REGLAB_TRAINING="false")
    proc = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if terminal is not None:
        terminal.append(proc.stdout)
    assert [p.name for p in (root / "results").iterdir()] == ["results.json"]  # no temporary file left behind
    return json.loads((root / "results" / "results.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"results.json holds {c}"))


def validate(results: dict) -> None:
    """results.json against Gradescope's documented fields and types."""
    assert set(results) <= TOP_LEVEL, set(results) - TOP_LEVEL
    assert isinstance(results["score"], (int, float))
    assert isinstance(results["execution_time"], (int, float)) and results["execution_time"] > 0
    assert isinstance(results["output"], str) and results["output"].strip()
    assert results.get("visibility", "visible") in VISIBILITY
    assert results.get("stdout_visibility", "visible") in VISIBILITY
    assert isinstance(results["tests"], list) and results["tests"]
    for test in results["tests"]:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert test["visibility"] in VISIBILITY
        assert isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])
    assert abs(results["score"] - sum(t["score"] for t in results["tests"])) < 1e-9


def by_id(results: dict) -> dict[str, dict]:
    return {t["name"].split(":", 1)[0]: t for t in results["tests"]}


# ---------------------------------------------------------------- the zip


def test_zip_has_gradescopes_layout_and_no_reference_code(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        zf.extractall(tmp_path / "x")
    assert "setup.sh" in names and "run_autograder" in names  # at the root, not in a folder
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert "grader/expected/expected.npz" in names and "grader/worker/__main__.py" in names
    assert not any(Path(n).name == "mutants.py" or n.startswith(("solution/", "assignment/")) for n in names)
    assert not any("__pycache__" in n for n in names)
    from grader.release import find_reference_code

    leaks, searched = find_reference_code(tmp_path / "x", SOLUTION)
    assert searched >= 10 and not leaks, leaks
    # Hidden checks are included, with their data, and marked for the TA's view.
    manifest = json.loads((tmp_path / "x/grader/expected/manifest.json").read_text())
    assert manifest["hidden_ids"] == [HIDDEN]
    meta = json.loads((tmp_path / "x/grader/expected/expected.json").read_text())
    assert "pen.unknown_kind" in meta["table"]["reference"]
    assert f'"{HIDDEN}"' in (tmp_path / "x/labs/regularization/checks/penalties.py").read_text()


def test_setup_sh_installs_cpu_torch_and_the_grader(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as zf:
        setup, run = zf.read("setup.sh").decode(), zf.read("run_autograder").decode()
    assert setup.startswith("#!/usr/bin/env bash") and run.startswith("#!/usr/bin/env bash")
    assert '--index-url "${REGLAB_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"' in setup
    assert '"torch>=' in setup and '"torchvision>=' in setup and "numpy" in setup and "wcwidth" in setup
    assert "copydetect" not in setup and "tqdm" not in setup  # TA-only (pyproject.toml says why)
    assert "download=True" not in setup  # the training check's images are in the zip
    assert "pip install --no-deps" not in setup  # the grader (expected data) stays out of the readable venv
    assert "bubblewrap" in setup and "pyseccomp" in setup
    assert "/autograder/results/results.json" in run and "REGLAB_AUTOGRADER_ROOT" in run
    for name, text in (("setup.sh", setup), ("run_autograder", run)):
        (tmp_path / name).write_text(text)
        proc = subprocess.run(["bash", "-n", str(tmp_path / name)], capture_output=True, text=True)
        assert proc.returncode == 0, (name, proc.stderr)


# ---------------------------------------------------------------- run_autograder


def test_run_autograder_grades_the_reference(autograder_zip, tmp_path):
    root = layout(tmp_path, autograder_zip)
    submit(root / "submission")
    results = run_autograder(root)
    validate(results)
    tests = by_id(results)
    core = [t for t in results["tests"] if "experiment" not in t["tags"]]
    assert core and all(t["status"] == "passed" and t["score"] == t["max_score"] for t in core)
    assert results["score"] == sum(t["max_score"] for t in core)
    assert tests[HIDDEN]["visibility"] == "after_published"
    assert {t["visibility"] for n, t in tests.items() if n != HIDDEN} == {"visible"}
    assert results["output"].startswith("Score ") and "Every check passed" in results["output"]
    assert "shown once grades are published" in results["output"]
    assert results["extra_data"]["reglab"]["name"] == "submission"


def test_run_autograder_points_at_the_first_visible_mistake_only(autograder_zip, tmp_path):
    """A repository upload (files under <repo>/assignment/) whose only mistakes are a hidden check and one
    visible check: the top-level output, shown at once, names the visible one and not the hidden one."""
    root = layout(tmp_path, autograder_zip)
    submit(root / "submission" / "my-repo" / "assignment", edits={
        "penalties": [('        raise ValueError(f"kind must be', '        kind = "l2"  # raise ValueError(f"kind must be')],
        "train": [("    return total_loss / count, correct / count", "    return total_loss / count, correct")]})
    results = run_autograder(root)
    validate(results)
    tests = by_id(results)
    assert tests[HIDDEN]["status"] == "failed" and tests[HIDDEN]["visibility"] == "after_published"
    assert tests["train.evaluate_values"]["status"] == "failed"
    assert "train.py:evaluate" in results["output"]
    assert "unknown kind" not in results["output"] and "ValueError" not in results["output"]
    assert "1 more check, 3 points" in results["output"]
    failed = {n for n, t in tests.items() if t["status"] == "failed" and "experiment" not in t["tags"]}
    assert failed == {HIDDEN, "train.evaluate_values"}
    assert results["score"] == sum(t["score"] for t in results["tests"])


def test_run_autograder_writes_a_result_for_an_empty_submission(autograder_zip, tmp_path):
    root = layout(tmp_path, autograder_zip)
    results = run_autograder(root)
    validate(results)
    assert results["score"] == 0
    assert "none of penalties.py" in results["output"]


def test_python_sources_in_the_zip_parse(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        for name in zf.namelist():
            if name.endswith(".py"):
                ast.parse(zf.read(name).decode(), name)


def test_hidden_probes_and_the_secret_stay_out_of_what_a_student_sees(autograder_zip, tmp_path):
    """A submission that searches everything it can reach (tests/fixtures/hostile/search_everything)
    finds no course secret (the zip holds derived seeds only) and, in the worker whose output a
    student sees, no hidden probe; what it found in the hidden probes' worker shows only in the
    hidden check, published after grades."""
    sys.path.insert(0, str(REPO / "tests" / "fixtures"))
    from build import build_submission

    with zipfile.ZipFile(autograder_zip) as zf:
        assert not [n for n in zf.namelist() if SECRET.encode() in zf.read(n)]
    root = layout(tmp_path, autograder_zip)
    build_submission(root / "submission", overlay=REPO / "tests" / "fixtures" / "hostile" / "search_everything")
    path = root / "submission" / "penalties.py"
    path.write_text(path.read_text().replace("__REGLAB_NEEDLE_REVERSED__", SECRET[::-1]))
    terminal: list[str] = []
    results = run_autograder(root, terminal)
    validate(results)
    assert SECRET not in json.dumps(results) and SECRET not in terminal[0]
    tests = by_id(results)
    visible = "\n".join([results["output"], terminal[0]] + [t["output"] for t in results["tests"]
                                                           if t["visibility"] != "after_published"])
    assert "HOSTILE-SEARCH secret=[] " in visible and "'pen.l1_mlp'" in visible  # its search ran, and worked
    assert HIDDEN_PROBE not in visible
    hidden = tests[HIDDEN]
    assert hidden["visibility"] == "after_published"
    assert "HOSTILE-SEARCH secret=[] " in hidden["output"] and f"requested=['{HIDDEN_PROBE}']" in hidden["output"]
