"""The second lab, the CNN lab (labs/cnn), graded by the same core: its reference full marks and its
stubs zero, in the sandbox, as files and as its notebook, in Korean and English; every known mistake
of it loses points in its own part only, named; equivalent forms (real code among them:
tests/fixtures/cnn_forms/README.md) keep full marks; its training check's runs are paired, so that a
technique that does nothing gives a margin of exactly 0.

The lab is chosen per process, and this test process has the course's: everything here runs in
processes of its own with ``--lab cnn``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"
FORMS = FIXTURES / "cnn_forms"
LAB = REPO / "labs" / "cnn"


def _env() -> dict[str, str]:
    return {**os.environ, "REGLAB_LAB": "cnn"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    forms = {f"{kind}/{path.stem}": {path.stem.split("__")[0]: path.read_text(encoding="utf-8")}
             for kind in ("equivalent", "mistaken") for path in sorted((FORMS / kind).glob("*.py"))}
    spec = tmp_path_factory.mktemp("forms") / "forms.json"
    spec.write_text(json.dumps(forms), encoding="utf-8")
    done = subprocess.run([sys.executable, str(FIXTURES / "lab_grading.py"), "--lab", "cnn", "--forms", str(spec)],
                          capture_output=True, text=True, cwd=REPO, env=_env(), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _lost(parts: dict) -> set[str]:
    return {part for part, (got, most) in parts.items() if got < most}


def test_the_reference_gets_full_marks_and_the_stubs_zero(graded):
    assert not _lost(graded["reference"]) and set(graded["reference"]) == {"batchnorm", "model", "augment", "train"}
    assert all(got == 0 for got, _most in graded["stubs"].values())


def test_every_known_mistake_loses_points_in_its_own_part_only_and_is_named(graded):
    assert len(graded["mutants"]) >= 20
    for name, m in graded["mutants"].items():
        assert _lost(m["parts"]) == set(m["own"]), f"{name}: lost points in {_lost(m['parts'])}, not {m['own']}"
        assert m["mistake"] in m["named"], f"{name}: the failing checks named {m['named']}"


def test_equivalent_forms_keep_full_marks(graded):
    forms = {k: v for k, v in graded["forms"].items() if k.startswith("equivalent/")}
    assert len(forms) == len(list((FORMS / "equivalent").glob("*.py")))
    for name, parts in forms.items():
        assert not _lost(parts), f"{name} lost points in {_lost(parts)}: {parts}"


def test_real_mistakes_lose_points_in_their_own_part_only(graded):
    forms = {k: v for k, v in graded["forms"].items() if k.startswith("mistaken/")}
    assert len(forms) == len(list((FORMS / "mistaken").glob("*.py")))
    for name, parts in forms.items():
        module = name.split("/")[1].split("__")[0]
        assert _lost(parts) == {module}, f"{name} lost points in {_lost(parts)}, not only in {module}"


def _check(target: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "check", str(target), "--lab", "cnn", "--no-training",
                           "--out", str(out), *extra], capture_output=True, text=True, cwd=REPO, timeout=600)


def _score(out: Path) -> float:
    return json.loads(next(out.glob("*/results.json")).read_text(encoding="utf-8"))["score"]


def test_the_sandboxed_check_grades_the_files_in_korean(tmp_path):
    done = _check(LAB / "solution", tmp_path / "ref", "--lang", "ko")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _score(tmp_path / "ref") == 80
    assert "채널별" in done.stdout and "학습 검사" in done.stdout  # a title of the lab's, the core's words
    done = _check(LAB / "assignment", tmp_path / "stubs", "--lang", "en")
    assert done.returncode == 0 and _score(tmp_path / "stubs") == 0
    assert "not implemented" in done.stdout


NOTEBOOK = """
import ast, sys
from pathlib import Path
import nbformat
from grader import lab_notebook
from grader.lab import current

folder, filled = Path(sys.argv[1]), sys.argv[2] == "filled"
nb = lab_notebook.render(current().reference_folder, None)  # what students get: the stubs' cells
if filled:  # each function's cell holding the reference's definition, as a student who finished would
    for module, names in lab_notebook.CONTRACT.items():
        text = (current().reference_folder / f"{module}.py").read_text(encoding="utf-8")
        for node in ast.parse(text).body:
            if getattr(node, "name", None) in names:
                nb.cells[lab_notebook.function_cells(nb)[node.name]].source = ast.get_source_segment(text, node)
path = folder / lab_notebook.NOTEBOOK
nbformat.write(nb, str(path))
print(path)
"""


def test_its_notebook_is_graded_like_its_files(tmp_path):
    for kind, want in (("filled", 80), ("as_handed_out", 0)):
        folder = tmp_path / kind
        folder.mkdir()
        made = subprocess.run([sys.executable, "-c", NOTEBOOK, str(folder), kind], capture_output=True, text=True,
                              cwd=REPO, env=_env())
        assert made.returncode == 0, made.stderr[-2000:]
        notebook = Path(made.stdout.strip())
        assert notebook.name == "lab6_cnn.ipynb" and "SmallCNN" in notebook.read_text(encoding="utf-8")
        done = _check(notebook, folder / "out")
        assert done.returncode == 0, done.stderr[-2000:]
        assert _score(folder / "out") == want, done.stdout[-3000:]


PAIRED = """
import dataclasses, json, sys, tempfile
from pathlib import Path
sys.path.insert(0, "tests/fixtures")
from grader import cifar_fixture, training
from grader.lab import current
import inprocess
from grader.worker.probing import run

lab, trained = current(), current().training_check()
root = Path(tempfile.mkdtemp())
cifar_fixture.write_fixture(root, n_train=300, n_test=100)
settings = dataclasses.replace(trained.SETTINGS, n_train=300, n_test=100, epochs=2, eval_every=1)
subset = training.load_subset(root, settings)
data = subset.write(root)
ref = inprocess.load(lab.reference_folder)
SmallCNN, plain = ref.modules["model"].SmallCNN, ref.modules["augment"].test_transform
margins = {}
for name, replaced in (("reference", {}), ("bn_ignored", {"SmallCNN": lambda batch_norm=True: SmallCNN(False)}),
                       ("no_augmentation", {"train_transform": plain})):
    with ref.patched(replaced):
        values = run(ref, trained.PROBE, params=settings.params(data, "cpu", 1))
    margins[name] = trained.analyse(values, subset, settings).margins
print(json.dumps(margins))
"""


def test_a_technique_that_does_nothing_reproduces_its_baseline_exactly():
    done = subprocess.run([sys.executable, "-c", PAIRED], capture_output=True, text=True, cwd=REPO, env=_env(),
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    margins = json.loads(done.stdout)
    assert margins["bn_ignored"]["batchnorm"] == 0.0 and margins["no_augmentation"]["augment"] == 0.0
    assert margins["reference"]["batchnorm"] != 0.0 and margins["reference"]["augment"] != 0.0
    assert margins["bn_ignored"]["augment"] != 0.0 and margins["no_augmentation"]["batchnorm"] != 0.0


@pytest.mark.realdata
def test_the_reference_passes_the_training_check_on_cifar10(tmp_path):
    from grader import training
    from grader.cifar import CifarDataError, resolve_data_root

    root, _ = resolve_data_root(None)
    try:
        training.load_subset(root, training.Settings())
    except CifarDataError:
        pytest.skip(f"no CIFAR-10 copy at {root} (set REGLAB_DATA or build data/)")
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(LAB / "solution"), "--lab", "cnn",
                           "--data", str(root), "--out", str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _score(tmp_path) == 100, done.stdout[-3000:]


def test_its_examples_grade_as_their_readme_says(tmp_path):
    done = subprocess.run([sys.executable, "-m", "grader", "grade", str(LAB / "examples"), "--lab", "cnn",
                           "--no-training", "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    results = {name: json.loads((tmp_path / name / "results.json").read_text(encoding="utf-8"))
               for name in ("complete", "half_done", "typical_mistakes")}
    assert results["complete"]["score"] == 80 and results["half_done"]["score"] == 45
    failed = {t["name"].split(":")[0]: t["output"] for t in results["typical_mistakes"]["tests"]
              if t["score"] < t["max_score"]}
    assert set(failed) == {"batchnorm.running", "batchnorm.eval", "augment.random", "train.evaluate_mode",
                           "train.evaluate_values"}, failed
    assert all("Likely mistake" in text for text in failed.values()), failed


def test_its_release_checks_the_stubs_and_ships_no_answer(tmp_path):
    release = tmp_path / "release"
    done = subprocess.run([sys.executable, "-m", "grader", "release", "--lab", "cnn", "--out", str(release)],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in (release / "labs").iterdir()) == ["__init__.py", "cnn"]
    shipped = {p.relative_to(release / "labs" / "cnn").parts[0] for p in (release / "labs" / "cnn").rglob("*")}
    assert shipped == {"__init__.py", "checks", "locale", "training.py", "worker"}, shipped
    assert (release / "lab6_cnn.ipynb").is_file() and "batch_norm" in (release / "README.md").read_text(encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if k != "REGLAB_LAB"}, "PYTHONPATH": str(release)}
    check = subprocess.run([sys.executable, "-m", "grader", "check", "--no-training"], capture_output=True, text=True,
                           cwd=release, env=env, timeout=600)
    assert check.returncode == 0, check.stderr[-2000:]
    assert _score(release / "reports") == 0 and "SmallCNN" in check.stdout


def test_every_check_names_a_sentence_of_the_labs_contract_table():
    """As tests/test_contract_sentences.py for the course's lab: each check's contract sentence is in its
    function's row of labs/cnn/README.md, and the table's signatures are the reference's."""
    import ast
    import importlib
    import re

    checks = importlib.import_module("labs.cnn.checks")  # declarations only: nothing here runs a lab
    text = (LAB / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in text[text.index("## The student contract"):].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")] if line.startswith("|") else []
        if len(cells) == 3:
            match = re.match(r"`(\w+)\(", cells[1])
            rows[match.group(1) if match else "experiment"] = line
    for check in (*checks.CORE, *checks.TRAINING):
        function, _sep, sentence = check.contract.partition(": ")
        assert function in rows and sentence in rows[function], f"{check.id}: {check.contract!r}"
    for path in sorted((LAB / "solution").glob("[!_]*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                target = next((n for n in node.body if getattr(n, "name", "") == "__init__"), node) \
                    if isinstance(node, ast.ClassDef) else node
                mine = f"{node.name}({ast.unparse(target.args).removeprefix('self, ')})"
                table = re.search(rf"`({node.name}\(.*?\))`", rows[node.name]).group(1)
                same = lambda sig: ast.unparse(ast.parse(sig, mode="eval"))  # noqa: E731 - 1e-5 is 1e-05
                assert same(table) == same(mine), f"the table says {table}, the reference {mine}"
