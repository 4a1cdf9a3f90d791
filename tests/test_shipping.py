"""One source for what we ship: every runtime dependency that a student's ``check`` or the Gradescope
autograder cannot run without is in what the release's ``pyproject.toml`` and the autograder's
``setup.sh`` install, and what ``[tool.reglab.ta-only]`` leaves out is truly not needed there.

Each dependency is removed in turn from a grader's view (an import hook that refuses its modules, as
a fresh environment without it would) and the student's main job is run.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import shipping
from grader.config import tomllib

REPO = Path(__file__).resolve().parent.parent

HIDE = r"""
import runpy, sys
hidden = set(sys.argv[1].split(","))

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Hide())
module, sys.argv = sys.argv[2], sys.argv[2:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def modules_of() -> dict[str, set[str]]:
    """Installed distribution (normalised name) -> its top-level modules."""
    found: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist in dists:
            found.setdefault(shipping.name_of(dist), set()).add(module)
    return found


def runtime_dependencies() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [shipping.name_of(r) for r in project["dependencies"]]


def run_hidden(modules: set[str], *args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")}, **extra}
    return subprocess.run([sys.executable, "-c", HIDE, ",".join(sorted(modules)), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def shipped_names() -> tuple[set[str], set[str]]:
    """The project names the release's pyproject.toml and the autograder's setup.sh install."""
    from grader import gradescope_build, release

    meta = tomllib.loads(release.pyproject("lab", "test", ("grader*",)))["project"]["dependencies"]
    setup = gradescope_build.render("setup.sh.j2")
    installs = [line for line in setup.splitlines() if re.search(r"-m pip install (?!--upgrade pip)", line)]
    return {shipping.name_of(r) for r in meta}, {shipping.name_of(r) for line in installs
                                                   for r in re.findall(r'"([^"]+)"', line) if "://" not in r
                                                   and not r.startswith("$")}


def test_the_shipped_lists_are_the_projects_less_the_ta_only():
    req = shipping.load()
    in_pyproject, in_setup = shipped_names()
    expected = {shipping.name_of(r) for r in req.dependencies}
    assert in_pyproject == in_setup == expected
    assert expected == set(runtime_dependencies()) - set(req.ta_only)
    assert {"copydetect", "tqdm", "babel"} == set(req.ta_only)


def test_each_dependency_removed_in_turn_is_installed_where_needed(tmp_path):
    """A dependency the student's check fails without is shipped; one it does not need may be TA-only."""
    installed = modules_of()
    submission = tmp_path / "sub"
    shutil.copytree(REPO / "solution", submission, ignore=shutil.ignore_patterns("__pycache__"))
    in_pyproject, in_setup = shipped_names()
    ta_only = set(shipping.load().ta_only)
    needed = {}
    for name in runtime_dependencies():
        if name not in installed:  # a marker leaves it out on this Python (tomli on 3.11+)
            continue
        proc = run_hidden(installed[name], "grader", "check", str(submission), "--no-training",
                          "--out", str(tmp_path / name), cwd=tmp_path)
        needed[name] = proc.returncode != 0 or not (tmp_path / name / "sub" / "results.json").is_file()
        if needed[name]:
            assert name in in_pyproject and name in in_setup, (name, proc.stderr[-1500:])
            assert name not in ta_only, f"{name} is TA-only, but check fails without it:\n{proc.stderr[-1500:]}"
        else:
            score = json.loads((tmp_path / name / "sub" / "results.json").read_text())["score"]
            assert score == 80, (name, score)
    assert needed["wcwidth"] and needed["jinja2"]  # the hook does hide what it names (torch: the worker's)
    assert not any(needed[n] for n in ta_only if n in needed)


def test_the_autograder_grades_without_the_ta_only_dependencies(tmp_path):
    """The Gradescope path (``gradescope_build run``) on a layout, with every TA-only module hidden."""
    installed = modules_of()
    hidden = set().union(*(installed.get(n, set()) for n in shipping.load().ta_only))
    assert hidden
    root = tmp_path / "autograder"
    for sub in ("source", "submission", "results"):
        (root / sub).mkdir(parents=True)
    for m in ("penalties", "model", "data", "train"):
        shutil.copyfile(REPO / "solution" / f"{m}.py", root / "submission" / f"{m}.py")
    proc = run_hidden(hidden, "grader.gradescope_build", "run", "--root", str(root), cwd=REPO, REGLAB_TRAINING="false")
    data = json.loads((root / "results" / "results.json").read_text())
    assert "extra_data" not in data or "grader_error" not in data["extra_data"], (data, proc.stderr[-2000:])
    assert data["tests"] and data["score"] > 0, proc.stderr[-2000:]
