"""What we hand over, tested the way its user receives it: built, installed from its own instructions into
a fresh virtual environment that holds nothing but the interpreter, then run.

- the student release: each ``run:`` line of its Classroom workflow (the same install lines as its
  README), then ``check`` on the stubs and on the reference, in English and Korean;
- the Gradescope autograder: ``setup.sh`` then ``run_autograder`` as root in an ``/autograder`` layout,
  under the simulated no-namespace filter (a Docker container), on a correct and a buggy submission;
- the student notebook: filled with the reference and executed top to bottom with nbclient in a
  Colab-like environment (Python with torch, ipykernel and matplotlib), its install and self-check cell
  included.

PyTorch comes from this machine's wheels through the variable the artifacts document
(``REGLAB_TORCH_INDEX``), pinned to the versions this interpreter runs (``PIP_CONSTRAINT``: the machine's
indexes also hold builds that do not fit together). Each install takes minutes (torch's wheels are
large): ``-m "not shipped"`` skips these tests; ``.ci/run`` runs them. They need the CIFAR-10 copy the
training check's packaged images are cut from (``data/``, built by ``.ci/run``).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from grader import shipping

REPO = Path(__file__).resolve().parent.parent
SOLUTION = REPO / "solution"
MODULES = ("penalties", "model", "data", "train")
SIMULATE = REPO / "tests" / "simulate_machine.py"
NOTEBOOK = "lab5_regularization.ipynb"
# The machine's package index (its registry access serves PyTorch's wheels too); another with this variable.
TORCH_INDEX = os.environ.get("REGLAB_TEST_TORCH_INDEX", "https://pypi.org/simple")

pytestmark = [pytest.mark.shipped, pytest.mark.realdata, pytest.mark.timeout(3600),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux: bash, venv, the sandbox")]


@pytest.fixture(scope="module")
def data_root() -> Path:
    from grader import training
    from grader.cifar import CifarDataError, resolve_data_root

    root, _ = resolve_data_root(None)
    try:
        training.load_subset(root, training.Settings())
    except CifarDataError:
        pytest.skip(f"no CIFAR-10 copy at {root} to cut the training check's images from (build data/)")
    return root


@pytest.fixture(scope="module")
def install_env(tmp_path_factory) -> dict[str, str]:
    """The environment an install runs in: this machine's, less anything that points at this checkout or
    its Python, with PyTorch's index named through the documented variable."""
    constraints = tmp_path_factory.mktemp("pip") / "constraints.txt"
    constraints.write_text("".join(f"{n}=={importlib.metadata.version(n)}\n" for n in shipping.PYTORCH))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REGLAB_", "PYTHON", "VIRTUAL_ENV", "GITHUB_", "LC_", "LANG"))}
    env.update({shipping.TORCH_INDEX_VAR: TORCH_INDEX, "PIP_CONSTRAINT": str(constraints),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "LANG": "C.UTF-8"})
    return env


def fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True, timeout=300)
    assert not list((path / "lib").glob("python*/site-packages/torch")), "a fresh venv holds no torch"
    return path / "bin"


def sh(command: str, cwd: Path, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess:
    # umask 022: a shell's default (a CI runner, Colab, Gradescope's image build).
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", f"umask 022; {command}"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"$ {command}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def build(*args: str, data: Path, tmp: Path, **env) -> None:
    proc = subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "REGLAB_DATA": str(data), **env})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def put_reference(folder: Path, edits: dict[str, tuple[str, str]] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for m in MODULES:
        text = (SOLUTION / f"{m}.py").read_text()
        if edits and m in edits:
            old, new = edits[m]
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        (folder / f"{m}.py").write_text(text)


def results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the student release and its workflow


def test_the_release_installs_from_its_workflow_and_checks_in_both_languages(tmp_path, data_root, install_env):
    release = tmp_path / "lab"
    build("release", "--out", str(release), "--repo-url", "https://github.com/ORG/REPO", data=data_root, tmp=tmp_path)
    workflow = yaml.safe_load((release / ".github" / "workflows" / "classroom.yml").read_text())
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    readme = (release / "README.md").read_text()
    install = next(r for r in runs if "pip install" in r)
    assert install.strip() in readme  # the README tells a student the same lines the workflow runs

    venv = fresh_venv(tmp_path / "venv")  # setup-python: a Python on PATH, nothing else installed
    env = {**install_env, "PATH": f"{venv}{os.pathsep}{install_env['PATH']}",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "GITHUB_ACTIONS": "true"}
    for run in runs:
        proc = sh(run, release, env)
    assert "Autograding complete" in proc.stdout  # the last step: check --ci on the stubs as handed out
    assert (tmp_path / "summary.md").read_text().strip()

    # The reference, as a student who finished: every point, the training check included, no download.
    put_reference(release / "assignment")
    proc = sh("python -m grader check", release, env)
    got = results(release / "reports" / "assignment")
    assert got["score"] == sum(t["max_score"] for t in got["tests"]) == 100, proc.stdout[-3000:]
    assert not (release / "data").exists()

    ko = sh("python -m grader check --no-training", release, {**env, "LANG": "ko_KR.UTF-8"})
    assert re.search(r"[\uac00-\ud7a3]", ko.stdout), ko.stdout[-2000:]  # Hangul, from the compiled catalog
    ko = sh("python -m grader check --no-training --lang ko", release, env)
    assert re.search(r"[\uac00-\ud7a3]", ko.stdout)


def test_the_second_labs_release_installs_from_its_workflow_and_grades_its_reference(tmp_path, data_root, install_env):
    """The CNN lab's release (``--lab cnn``), installed as its workflow installs it: the stubs as handed
    out, then the lab's reference with every point, its training check included, in Korean too."""
    release = tmp_path / "lab"
    build("release", "--lab", "cnn", "--out", str(release), "--repo-url", "https://github.com/ORG/REPO",
          data=data_root, tmp=tmp_path)
    assert sorted(p.name for p in (release / "labs").iterdir()) == ["__init__.py", "cnn"]
    workflow = yaml.safe_load((release / ".github" / "workflows" / "classroom.yml").read_text())
    runs = [s["run"] for s in workflow["jobs"]["run-autograding-tests"]["steps"] if "run" in s]
    venv = fresh_venv(tmp_path / "venv")
    env = {**install_env, "PATH": f"{venv}{os.pathsep}{install_env['PATH']}",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "GITHUB_ACTIONS": "true"}
    for run in runs:
        proc = sh(run, release, env)
    assert "Autograding complete" in proc.stdout
    for path in sorted((REPO / "labs" / "cnn" / "solution").glob("[!_]*.py")):
        (release / "assignment" / path.name).write_text(path.read_text())
    proc = sh("python -m grader check", release, env)
    got = results(release / "reports" / "assignment")
    assert got["score"] == sum(t["max_score"] for t in got["tests"]) == 100, proc.stdout[-3000:]
    ko = sh("python -m grader check --no-training --lang ko", release, env)
    assert re.search(r"[\uac00-\ud7a3]", ko.stdout) and "SmallCNN" in ko.stdout


# ---------------------------------------------------------------- the Gradescope autograder


def test_the_autograder_sets_up_and_grades_in_its_container_layout(tmp_path, data_root, install_env):
    from simulate_machine import cannot_simulate

    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("the autograder runs as root, in a container without namespaces (simulated with unshare)")
    zip_path = tmp_path / "autograder.zip"
    build("gradescope", "--out", str(zip_path), data=data_root, tmp=tmp_path)
    # /autograder: root's, every user may enter it (the sandbox user reads the venv there).
    root = Path(tempfile.mkdtemp(prefix="autograder-", dir="/var/tmp"))
    try:
        root.chmod(0o755)
        for sub in ("source", "submission", "results"):
            (root / sub).mkdir()
        shutil.unpack_archive(zip_path, root / "source")
        for name in ("setup.sh", "run_autograder"):
            (root / "source" / name).chmod(0o755)
        shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
        env = {**install_env, "REGLAB_AUTOGRADER_ROOT": str(root)}
        sh(f"bash {root / 'source' / 'setup.sh'}", root / "source", env)

        why = cannot_simulate(str(root))
        if why:
            pytest.skip(why)
        container = ["unshare", "--mount", "--propagation", "private", sys.executable, str(SIMULATE),
                     "--python-readable", "--no-namespaces", "--"]

        def grade(edits=None) -> dict:
            shutil.rmtree(root / "submission")
            put_reference(root / "submission", edits)
            (root / "results" / "results.json").unlink(missing_ok=True)
            proc = subprocess.run([*container, str(root / "run_autograder")], cwd=root, env=env, capture_output=True,
                                  text=True, timeout=1200)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            return json.loads((root / "results" / "results.json").read_text())

        right = grade()
        assert right["score"] == sum(t["max_score"] for t in right["tests"]) == 100, right.get("output")
        assert any(t["name"].startswith("experiment") or "training" in t["name"].lower() or
                   "experiment" in t.get("tags", []) for t in right["tests"])
        wrong = grade({"penalties": ("w.abs().sum() for w", "w.pow(2).sum() for w")})  # L1 computed as L2
        lost = {t["tags"][0] for t in wrong["tests"] if t["score"] < t["max_score"]}
        assert wrong["score"] < 100 and "penalties" in lost, wrong.get("output")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- the student notebook


COLAB = ("ipykernel", "nbclient", "matplotlib")  # what Colab's image has beside torch


def test_the_notebook_runs_top_to_bottom_and_grades_itself(tmp_path, data_root, install_env):
    import ast

    import nbformat

    from grader import lab_notebook

    # The course repository the install cell fetches: the release, committed (git+file:// instead of GitHub).
    repo = tmp_path / "course"
    build("release", "--out", str(repo), "--repo-url", f"file://{repo}", data=data_root, tmp=tmp_path)
    git = ["git", "-c", "user.name=TA", "-c", "user.email=ta@example.org", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the lab"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)

    venv = fresh_venv(tmp_path / "colab")
    env = {**install_env, "PATH": f"{venv}{os.pathsep}{install_env['PATH']}"}
    sh(f"python -m pip install -q {' '.join(f'{n!r}' for n in (*shipping.PYTORCH, *COLAB))}", tmp_path, env)

    # The student's work: the reference in each function's cell; the experiment shortened to one epoch on a
    # small CIFAR-format copy that torchvision's download finds in place (it has no network here).
    nb = nbformat.read(str(repo / NOTEBOOK), as_version=4)
    for name, index in lab_notebook.function_cells(nb).items():
        source = next((SOLUTION / f"{m}.py").read_text() for m in MODULES
                      if re.search(rf"^(def|class) {name}\b", (SOLUTION / f"{m}.py").read_text(), re.M))
        node = next(n for n in ast.parse(source).body if getattr(n, "name", None) == name)
        nb.cells[index].source = ast.get_source_segment(source, node)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = re.sub(r"^(EPOCHS\b[^=]*= )\d+", r"\g<1>1", cell.source, flags=re.M)
    assert any("EPOCHS" in c.source and re.search(r"^EPOCHS\b[^=]*= 1\b", c.source, re.M) for c in nb.cells)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import torchvision.datasets.cifar as cifar  # the test's stand-in for the network: the copy in ./data\n"
        "cifar.check_integrity = lambda *args, **kwargs: True  # is taken as the verified download\n"
        "cifar.CIFAR10._check_integrity = lambda self: True"))
    work = tmp_path / "content"  # Colab's working folder
    work.mkdir()
    from grader.cifar_fixture import write_fixture

    write_fixture(work / "data", n_train=300, n_test=100)
    nbformat.write(nb, str(work / NOTEBOOK))
    (work / "run.py").write_text(f"import nbclient, nbformat\n"
                                 f"nb = nbformat.read({NOTEBOOK!r}, as_version=4)\n"
                                 f"nbclient.NotebookClient(nb, timeout=1500, kernel_name='python3').execute()\n"
                                 f"nbformat.write(nb, 'executed.ipynb')\n")
    sh("python run.py", work, env, timeout=2400)

    executed = nbformat.read(str(work / "executed.ipynb"), as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    got = results(next((work / "reports").glob("*/")))
    assert got["score"] == sum(t["max_score"] for t in got["tests"]) == 100, got.get("output")
    shown = [o for o in executed.cells[-1].get("outputs", []) if "text/html" in o.get("data", {})]
    assert shown, "the self-check cell shows the report"
