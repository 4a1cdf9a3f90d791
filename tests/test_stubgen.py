"""assignment/ is generated from solution/: the stubs raise, and hand edits are caught as drift."""
import importlib.util
import inspect
import shutil
import sys

import pytest

from grader import stubgen
from grader.cli import main

from conftest import REPO

CONTRACT = {"penalties": ["l1_penalty", "l2_penalty", "penalized_loss"], "model": ["DropoutMLP"],
            "data": ["channel_stats", "normalize_transform", "make_loaders"],
            "train": ["set_seed", "train_epoch", "evaluate"]}


def test_assignment_matches_what_the_generator_writes():
    assert stubgen.drift(REPO / "solution", REPO / "assignment") == []


def test_editing_one_stub_by_hand_is_reported_as_drift(tmp_path, capsys):
    copy = tmp_path / "assignment"
    shutil.copytree(REPO / "assignment", copy)
    text = (copy / "penalties.py").read_text()
    (copy / "penalties.py").write_text(text.replace(
        'raise NotImplementedError("l2_penalty in penalties.py is not implemented yet")', "return 0", 1))
    assert stubgen.drift(REPO / "solution", copy) == ["penalties.py"]
    assert main(["stubs", "--check", "--assignment", str(copy)]) == 1
    assert "penalties.py" in capsys.readouterr().out


@pytest.fixture(scope="module")
def stubs():
    spec = importlib.util.spec_from_file_location("stub_pkg", REPO / "assignment" / "__init__.py",
                                                  submodule_search_locations=[str(REPO / "assignment")])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["stub_pkg"] = pkg
    spec.loader.exec_module(pkg)
    yield {m: importlib.import_module(f"stub_pkg.{m}") for m in CONTRACT}
    for name in [n for n in sys.modules if n.startswith("stub_pkg")]:
        del sys.modules[name]


@pytest.mark.parametrize("module,name", [(m, n) for m, names in CONTRACT.items() for n in names])
def test_every_stub_raises_not_implemented_and_keeps_its_docstring(stubs, module, name):
    obj = getattr(stubs[module], name)
    assert inspect.getdoc(obj) and "Handout" in inspect.getdoc(obj)
    args = {"l1_penalty": (None,), "l2_penalty": (None,), "penalized_loss": (None, None, 0, 1),
            "DropoutMLP": (), "channel_stats": (None,), "normalize_transform": (None, None),
            "make_loaders": (None, None), "set_seed": (0,), "train_epoch": (None,) * 5, "evaluate": (None,) * 4}
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        obj(*args[name])


def test_generator_rejects_unbalanced_markers():
    with pytest.raises(stubgen.StubError, match="without"):
        stubgen.stub_source("def f():\n    # BEGIN SOLUTION\n    return 1\n", "x.py")
    with pytest.raises(stubgen.StubError, match="not inside a function"):
        stubgen.stub_source("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "x.py")


def test_forward_stub_keeps_the_signature_and_super_init():
    text = (REPO / "assignment" / "model.py").read_text()
    assert "super().__init__()" in text and "def forward(self, x):" in text
    assert "nn.Linear(32 * 32 * 3" not in text
