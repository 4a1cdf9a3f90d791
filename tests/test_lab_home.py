"""The grader's core names no lab: every identifier of a lab's contract (its functions, modules, parts,
notebook and training runs) lives in that lab's package under labs/, and the core reads it from there
(``grader/lab.py``): a core file that spells one fails."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from grader import lab

CORE = Path(__file__).resolve().parents[1] / "grader"

# Core words that coincide with a part's name and mean something else there.
COINCIDENCES = {
    "data": "the CIFAR-10 folder (Config.data, `grader data`) and the key of its arrays",
    "train": "a curve's kind, beside test",
}
def lab_words() -> set[str]:
    words: set[str] = set()
    for name in lab.available():
        found = importlib.import_module(f"labs.{name}").LAB
        words |= {f for p in found.parts for f in p.functions} | set(found.part_names) | set(found.module_files)
        words.add(found.notebook)
        if found.training:
            words |= {run.name for run in found.training_check().SETTINGS.runs}
    return words - set(COINCIDENCES)


def spelled(path: Path, words: set[str]) -> set[str]:
    """The lab's words this file spells: as a string (whole, or as a check id's prefix ``part.``) or as
    a name or attribute."""
    prefixes = tuple(f"{w}." for w in words if w.isidentifier())
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            if value in words or value.startswith(prefixes) and value.split(".", 1)[1].isidentifier():
                found.add(value)
        elif isinstance(node, ast.Name) and node.id in words or isinstance(node, ast.Attribute) and node.attr in words:
            found.add(getattr(node, "id", None) or node.attr)
    return found


def core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_core_spells_no_lab_name():
    words = lab_words()
    spelling = {p.relative_to(CORE).as_posix(): sorted(spelled(p, words)) for p in core_files()}
    spelling = {k: v for k, v in spelling.items() if v}
    assert not spelling, f"the core spells a lab's names (read them from grader.lab.current()): {spelling}"


def test_the_core_templates_spell_no_lab_file_or_function():
    """The grader's own templates (reports, builds) name no lab's files, functions or notebook: a lab's
    student-facing texts are its own templates (labs/<lab>/templates/)."""
    words = set()
    for name in lab.available():
        found = importlib.import_module(f"labs.{name}").LAB
        words |= {f for p in found.parts for f in p.functions} | set(found.module_files) | {found.notebook}
    spelling = {}
    for path in sorted((CORE / "templates").rglob("*.j2")):
        text = path.read_text(encoding="utf-8")
        hits = sorted(w for w in words if re.search(rf"(?<![\w.]){re.escape(w)}(?!\w)", text))
        if hits:
            spelling[path.relative_to(CORE).as_posix()] = hits
    assert not spelling, f"the core's templates spell a lab's names (pass them in from grader.lab.current()): {spelling}"


def test_the_check_can_fail(tmp_path):
    source = tmp_path / "spells.py"
    source.write_text('PARTS = ("penalties", "model")\nx = impl.get("penalties", "l2_penalty")\n')
    assert {"penalties", "l2_penalty"} <= spelled(source, lab_words())


def test_the_lab_is_found_and_whole():
    found = lab.current()
    assert found.name in lab.available()
    assert found.modules and all(p.functions for p in found.parts if p.file)
    assert found.training in found.part_names and not dict((p.name, p.file) for p in found.parts)[found.training]


def test_a_labs_folder_in_the_current_folder_is_not_the_graders(tmp_path):
    """A student's folder may hold its own ``labs/``: the grader still reads the one beside itself."""
    import subprocess
    import sys

    fake = tmp_path / "labs" / "regularization"
    fake.mkdir(parents=True)
    (tmp_path / "labs" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("raise SystemExit('the wrong labs package was imported')\n")
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(1, sys.argv[1]); from grader import lab; "
                           "print(lab.current().modules)", str(CORE.parent)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "penalties" in proc.stdout, proc.stdout + proc.stderr


SECOND = '''from grader.lab import Lab, Part

LAB = Lab(name="second", parts=(Part("alpha", ("f",), ("알파", "Alpha")),), notebook="second.ipynb")
'''


def test_with_two_labs_the_setting_chooses_and_none_chosen_is_a_usage_error(tmp_path):
    """A grader beside several labs grades the one ``--lab``, REGLAB_LAB or reglab.toml names; with none
    named, the course's default (``labs.DEFAULT``), and without a default it stops (exit 2) and says how to
    choose; an unknown name is named with the labs there are."""
    import os
    import shutil
    import subprocess
    import sys

    tree = tmp_path / "kit"
    ignore = shutil.ignore_patterns("__pycache__", "expected")
    shutil.copytree(CORE, tree / "grader", ignore=ignore)
    shutil.copytree(CORE.parent / "labs", tree / "labs", ignore=ignore)
    for folder in ("solution", "assignment"):
        shutil.copytree(CORE.parent / folder, tree / folder, ignore=ignore)
    (tree / "labs" / "second" / "solution").mkdir(parents=True)
    (tree / "labs" / "second" / "__init__.py").write_text(SECOND)
    (tree / "labs" / "second" / "solution" / "alpha.py").write_text(
        "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n")
    env = {k: v for k, v in os.environ.items() if k != "REGLAB_LAB"}
    env["PYTHONPATH"] = str(tree)

    def run(*args, cwd=tmp_path, **extra):
        return subprocess.run([sys.executable, *args], cwd=cwd, env={**env, **extra}, capture_output=True, text=True,
                              timeout=120)

    name = ("-c", "from grader import lab; print(lab.current().name)")
    assert run(*name, REGLAB_LAB="second").stdout.split() == ["second"]
    assert run(*name, REGLAB_LAB="regularization").stdout.split() == ["regularization"]
    assert run(*name).stdout.split() == ["regularization"]  # none chosen: the course's default (labs.DEFAULT)
    (tree / "labs" / "__init__.py").write_text('"""Labs, and no default among them."""\n')
    unchosen = run(*name)
    assert unchosen.returncode != 0 and "LabError" in unchosen.stderr and "--lab" in unchosen.stderr
    cli = run("-m", "grader", "stubs", "--check")
    labs = len(list((tree / "labs").glob("*/__init__.py")))
    assert cli.returncode == 2 and f"{labs} labs" in cli.stderr and "--lab" in cli.stderr, cli.stderr
    cli = run("-m", "grader", "stubs", "--check", "--lab", "third", REGLAB_LAB="second")
    assert cli.returncode == 2 and "'third'" in cli.stderr and "regularization, second" in cli.stderr, cli.stderr
    # Each lab's reference and stubs: the regularization lab's at the top level, the second's in its package
    # (no stubs generated yet: stale).
    check = ("-m", "grader", "stubs", "--check")
    assert run(*check, "--lab", "regularization").returncode == 0
    (tmp_path / "reglab.toml").write_text('lab = "second"\n')
    from_file = run(*check)
    assert from_file.returncode == 1 and "alpha.py" in from_file.stdout, from_file.stdout + from_file.stderr
    assert run(*check, REGLAB_LAB="regularization").returncode == 0  # environment > file
    assert run(*check, "--lab", "regularization", REGLAB_LAB="second").returncode == 0  # command line > environment
    (tmp_path / "reglab.toml").unlink()
    late = run("-c", "from grader import lab; lab.current(); lab.select('second')", REGLAB_LAB="regularization")
    assert late.returncode != 0 and "cannot become 'second'" in late.stderr
