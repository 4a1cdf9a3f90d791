"""A notebook (or Colab's .py export) is graded from its definitions only, exactly like the same
code handed in as the four lab files.

The notebooks are built from the fixture submissions by tests/fixtures/notebooks.py, after real
Colab notebooks (tests/fixtures/SOURCES.md): Colab metadata, outputs, ``!pip``, ``drive.mount``,
an older wrong definition first, Korean markdown, and a 70-epoch training loop at top level that
raises if it ever runs.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import notebook
from grader.notebook import CONTRACT, extract

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = FIXTURES.parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"reglab_test_fixtures_{name}", FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_build, _mutations, _notebooks = _load("build"), _load("mutations"), _load("notebooks")
_inprocess = _load("inprocess")
VARIANTS = sorted(p.name for p in (FIXTURES / "variants").iterdir() if p.is_dir())
MUTATIONS = {m.name: m for m in _mutations.MUTATIONS}


def write_nb(path: Path, *sources: str) -> Path:
    cells = [new_markdown_cell("# 실습 5") if s.startswith("#md") else new_code_cell(s) for s in sources]
    nb = new_notebook(cells=cells, metadata={"colab": {"provenance": []}, "accelerator": "GPU"})
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path


def module_names(text: str) -> set[str]:
    return {n.name for n in ast.parse(text).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


# ---------------------------------------------------------------- the contract and the messages


def test_contract_is_the_reference_s_public_definitions():
    for module, names in CONTRACT.items():
        assert module_names((REPO / "solution" / f"{module}.py").read_text()) == set(names)


def test_missing_definition_and_a_cell_that_does_not_parse(tmp_path):
    nb = write_nb(tmp_path / "lab5.ipynb", "#md", "import torch\nfrom torch import nn",
                  "def l1_penalty(model):\n    return torch.zeros(())",
                  "def l2_penalty(model:\n    return 0",           # cell 4: broken
                  "def set_seed(seed):\n    torch.manual_seed(seed)")
    notices = extract(nb, tmp_path / "out")
    assert "`evaluate` is not defined in any cell of lab5.ipynb" in notices
    assert any(n.startswith("cell 4 of lab5.ipynb is not valid Python (line 1:") for n in notices), notices
    assert module_names((tmp_path / "out/penalties.py").read_text()) == {"l1_penalty"}  # the rest still there
    assert module_names((tmp_path / "out/train.py").read_text()) == {"set_seed"}
    assert "import torch" in (tmp_path / "out/train.py").read_text()


def test_a_dependency_on_top_level_code_is_named_and_nothing_top_level_is_taken(tmp_path):
    nb = write_nb(tmp_path / "lab5.ipynb",
                  "!pip install -q torchvision\n%matplotlib inline\nimport torch\nfrom google.colab import drive\n"
                  "drive.mount('/content/drive')",
                  "LMBD = 0.003\ndevice = torch.device('cpu')\nmodel = DropoutMLP()\n"
                  "for epoch in range(70):\n    raise SystemExit('ran')",
                  "def evaluate(model, loader, criterion, device):\n    return float(LMBD), float(len(history))",
                  "history = [train_epoch(model) for _ in range(3)]")
    notices = extract(nb, tmp_path / "out")
    assert any("`evaluate` (cell 3) uses `history`, which only top-level code sets (cell 4" in n for n in notices)
    train = (tmp_path / "out/train.py").read_text()
    assert "LMBD = 0.003" in train and "import torch" not in train  # only what evaluate uses
    for absent in ("range(70)", "DropoutMLP()", "drive", "pip", "matplotlib", "device = "):
        assert absent not in train, absent


def test_ipython_lines_are_neutralised_and_the_last_definition_wins(tmp_path):
    nb = write_nb(tmp_path / "lab5.ipynb",
                  "%%time\nimport numpy as np\ndef channel_stats(images):\n    !nvidia-smi\n    return 1, 2",
                  "%%bash\necho def make_loaders",                                 # not Python at all
                  "def channel_stats(images):\n    x = np.asarray(images) % 7\n    return x, x",
                  "x = 3\n%timeit channel_stats(x)\nobj?")
    notices = extract(nb, tmp_path / "out")
    data = (tmp_path / "out/data.py").read_text()
    assert "% 7" in data and "nvidia" not in data and "make_loaders" not in module_names(data)
    assert any("`channel_stats` is defined 2 times (cell 1, cell 3): the last one (cell 3)" in n for n in notices)
    assert not any("not valid Python" in n for n in notices), notices


def test_provenance_names_cell_and_first_line(tmp_path):
    import json

    nb = write_nb(tmp_path / "lab5.ipynb", "#md", "from torch import nn",
                  "class DropoutMLP(nn.Module):\n    def __init__(self, drop_prob=0.0):\n        super().__init__()")
    extract(nb, tmp_path / "out")
    prov = json.loads((tmp_path / "out" / notebook.PROVENANCE).read_text())
    assert prov["DropoutMLP"]["cell"] == 3 and prov["DropoutMLP"]["module"] == "model"
    assert prov["DropoutMLP"]["first_line"] == "class DropoutMLP(nn.Module):"
    assert "super().__init__()" in prov["DropoutMLP"]["code"]


def test_a_damaged_notebook_is_a_notice(tmp_path):
    (tmp_path / "lab5.ipynb").write_text("{not json")
    notices = extract(tmp_path / "lab5.ipynb", tmp_path / "out")
    assert notices and "could not be read as a notebook" in notices[0]
    assert all((tmp_path / "out" / f"{m}.py").is_file() for m in CONTRACT)


def test_colab_export_with_a_broken_part_keeps_the_rest(tmp_path):
    py = tmp_path / "lab5.py"
    py.write_text('"""lab5.ipynb\n\nAutomatically generated by Colab.\n"""\n\n!pip install torch\n\nimport torch\n\n'
                  "def set_seed(seed):\n    torch.manual_seed(seed)\n\nfor i in range(3:\n    print(i)\n\n"
                  "def evaluate(model, loader, criterion, device):\n    return 0.0, 1.0\n")
    notices = extract(py, tmp_path / "out")
    assert any(n.startswith("lab5.py, line 13: not valid Python") for n in notices), notices
    assert module_names((tmp_path / "out/train.py").read_text()) == {"set_seed", "evaluate"}


def test_the_student_report_shows_the_notebook_code_of_a_failed_check_escaped():
    from grader.report_html import render_student
    from grader.results import CheckResult, Outcome, SubmissionResult

    check = CheckResult(id="penalties.gradients", part="penalties", title="grads", outcome=Outcome.FAILED,
                        score=0.0, max_score=3.0, message="wrong", location="penalties.py:l1_penalty / l2_penalty")
    code = "def l2_penalty(model):\n    return '<b>' and 0"
    result = SubmissionResult(name="lab5", checks=(check,), source="lab5.ipynb", duration=1.0, extra={
        "notebook": {"l2_penalty": {"module": "penalties", "cell": 11, "first_line": "def l2_penalty(model):",
                                    "code": code}}})
    html = render_student(result)
    assert "Your code (l2_penalty, cell 11)" in html
    assert "return &#39;&lt;b&gt;&#39; and 0" in html and "<b>" not in html


# ---------------------------------------------------------------- same code, same grade


def _key_checks(checks):
    return [(c.id, c.outcome.value, c.score, c.message, c.expected, c.got, c.mistake) for c in checks]


def _key(result):
    return _key_checks(result.checks)


def _code_of(path: Path) -> str:
    return ast.dump(ast.parse(path.read_text()))


def _fixture(name: str, dest: Path) -> Path:
    if name == "reference":
        return _build.build_submission(dest)
    if name == "stubs":
        return _build.build_submission(dest, base=REPO / "assignment")
    if name in MUTATIONS:
        return _build.build_submission(dest, mutation=MUTATIONS[name])
    return _build.build_submission(dest, overlay=FIXTURES / "variants" / name)


def _extract_both(files: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """``files`` written as a notebook and as its .py export, both extracted (from_nb, from_py), which
    give the same code (only the "# cell n" notes differ): the notebook and the notices of both."""
    nb, py = _notebooks.write_all(files, tmp_path / "handed_in")
    notices = extract(nb, tmp_path / "from_nb") + extract(py, tmp_path / "from_py")
    for m in CONTRACT:
        assert _code_of(tmp_path / "from_py" / f"{m}.py") == _code_of(tmp_path / "from_nb" / f"{m}.py"), m
    return nb, notices


def _handed_in(name: str, tmp_path: Path) -> Path:
    """The fixture as files, and extracted from its notebook (from_nb) and its .py export (from_py)."""
    files = _fixture(name, tmp_path / "files")
    nb, notices = _extract_both(files, tmp_path)
    assert nbformat.validate(nbformat.read(str(nb), as_version=4)) is None
    assert not [n for n in notices if "defined 2 times" not in n], notices
    return files


def _assert_graded_as(name: str, want) -> None:
    if name == "stubs":
        assert all(outcome == "not_implemented" and score == 0 for _, outcome, score, *_ in want)
    else:
        assert all(outcome == "passed" for _, outcome, *_ in want), want


def test_the_reference_grades_the_same_in_the_sandbox_as_notebook_export_and_files(tmp_path, grade, config):
    """The whole path once, in the sandbox: files, notebook and export give the same results."""
    files = _handed_in("reference", tmp_path)
    # Patient limits: on a loaded machine a probe can pass 20 s; a timeout would then be the load's,
    # not the code's, and this test compares code.
    patient = dataclasses.replace(config, probe_timeout=180.0, import_timeout=180.0, startup_timeout=300.0,
                                  total_timeout=1800.0)
    want = _key(grade(files, config=patient))
    assert _key(grade(tmp_path / "from_nb", config=patient)) == want
    assert _key(grade(tmp_path / "from_py", config=patient)) == want
    _assert_graded_as("reference", want)


@pytest.mark.parametrize("name", ["stubs", *VARIANTS])
def test_stubs_and_variants_grade_the_same_as_notebook_export_and_files(name, tmp_path, expected):
    """The stubs and the correct variants (trusted code, written for the tests or taken from public
    code) graded in this process, the same probes and checks as in the sandbox: what is compared is
    the code each form gives, and the sandbox path is the reference's test above."""
    files = _handed_in(name, tmp_path)
    want = _key_checks(_inprocess.grade(files, expected))
    assert _key_checks(_inprocess.grade(tmp_path / "from_nb", expected)) == want
    assert _key_checks(_inprocess.grade(tmp_path / "from_py", expected)) == want
    _assert_graded_as(name, want)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_grades_the_same_as_a_notebook(name, tmp_path, expected):
    """The mutations are the reference with one mistake each (trusted code): graded in this process,
    the same probes and checks as in the sandbox, so all 44 fit the suite's time."""
    files = _fixture(name, tmp_path / "files")
    _extract_both(files, tmp_path)
    want = _key_checks(_inprocess.grade(files, expected))
    assert _key_checks(_inprocess.grade(tmp_path / "from_nb", expected)) == want
    assert any(outcome != "passed" for _, outcome, *_ in want)


def test_a_notebook_handed_in_is_graded_with_its_cells_shown_for_failed_checks(tmp_path, grade):
    """Through intake, as `check lab5.ipynb` and `grade` do: the provenance reaches the result and
    the student report shows the cell behind each failed check."""
    from grader.report_html import render_student

    nb, _ = _notebooks.write_all(REPO / "examples" / "typical_mistakes", tmp_path, "정하늘_lab5")
    result = grade(nb)
    provenance = result.extra["notebook"]
    names = {n for module_names in CONTRACT.values() for n in module_names}
    assert names <= set(provenance) and all("code" in provenance[n] for n in names)
    failed = [c for c in result.checks if c.outcome.value == "failed"]
    assert failed and result.score > 0
    assert "Your code (" in render_student(result)


# ---------------------------------------------------------------- the generated notebook's self-check cell


def _run_self_check(monkeypatch, tmp_path, capsys, *, training=True):
    """The self-check cell executed with subprocess.run recorded (nothing installed or graded) and no
    torchvision at all (the check's images ship with the grader: nothing is downloaded): the commands it
    ran and what it printed."""
    import subprocess
    import types

    from grader import lab_notebook
    from grader.checks import TRAINING

    source = lab_notebook.render(REPO / "solution", "https://example.invalid/course.git").cells[-1].source
    assert "TRAINING = True" in source
    source = source.replace("TRAINING = True", f"TRAINING = {training}", 1)
    ran = []
    monkeypatch.setitem(sys.modules, "torchvision", None)  # an import of it fails
    display = types.ModuleType("IPython.display")
    display.HTML, display.display = str, lambda *a: None
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: ran.append(argv) or subprocess.CompletedProcess(argv, 0))
    monkeypatch.chdir(tmp_path)
    exec(compile(source, "self-check", "exec"), {})
    checks = [argv for argv in ran if argv[1:4] == ["-m", "grader", "check"]]
    assert len(checks) == 1
    return checks[0], capsys.readouterr().out, f"{sum(c.points for c in TRAINING):g}"


def test_the_self_check_runs_the_training_check_and_downloads_nothing(monkeypatch, tmp_path, capsys):
    check, printed, _points = _run_self_check(monkeypatch, tmp_path, capsys)
    assert "--no-training" not in check and "--data" not in check and "NOT run" not in printed


def test_the_self_check_says_plainly_when_the_training_check_is_turned_off(monkeypatch, tmp_path, capsys):
    check, printed, points = _run_self_check(monkeypatch, tmp_path, capsys, training=False)
    assert "--no-training" in check
    assert f"The training check ({points} points) is NOT run" in printed and f"학습 검사({points}점)" in printed
