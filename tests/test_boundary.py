"""The trust boundary is a module boundary: the worker side imports nothing that judges, and
nothing that judges imports the student's package."""
import ast
from pathlib import Path

GRADER = Path(__file__).resolve().parent.parent / "grader"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


def test_the_worker_imports_only_itself_the_standard_library_numpy_torch_and_pillow():
    # pyseccomp: the jail's seccomp filter (a ctypes binding), installed before any student code runs.
    # torchvision: preloaded by the fork server (zygote.py), as submissions import it.
    allowed_roots = {"numpy", "torch", "torchvision", "PIL", "__future__", "pyseccomp"}
    for path in (GRADER / "worker").glob("*.py"):
        for name in imports(path):
            if name.startswith("."):
                assert not name.startswith(".."), f"{path.name} imports {name}"
                continue
            root = name.split(".")[0]
            assert root in allowed_roots or root in __import__("sys").stdlib_module_names, f"{path.name}: {name}"


def test_the_judging_side_never_imports_the_students_package():
    for path in GRADER.rglob("*.py"):
        if "worker" in path.parts:
            continue
        assert not any(n.split(".")[0] == "assignment" for n in imports(path)), path
