"""The student release: no reference code inside, and a self-check that works exactly as in the repository.

The release is built once (``python -m grader release``, with two checks hidden through the
environment) and then used the way a student would: a fresh interpreter whose only way to the
grader is the release folder (``python -S`` with ``PYTHONPATH=<release>:<site-packages>``, so that
this repository's editable install cannot fill in anything the release lacks).
"""
from __future__ import annotations

import ast
import gettext
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml

from grader.config import tomllib  # tomli on Python 3.10

REPO = Path(__file__).resolve().parent.parent
SOLUTION = REPO / "solution"
MODULES = ("penalties", "model", "data", "train")
HIDDEN = ("penalties.unknown_kind", "penalties.gradients")  # one with its own probe, one sharing probes
HIDDEN_ONLY_PROBE, SHARED_PROBE = "pen.unknown_kind", "pen.l1_mlp"
HIDDEN_POINTS = 6
SECRET = "course-secret-7f3a9c1e"     # REGLAB_SECRET_SEED while building: never in the release
REPO_URL = "https://github.com/hanyang-allab/reglab-lab5"
CONTRACT = ("l1_penalty", "l2_penalty", "penalized_loss", "DropoutMLP", "channel_stats", "normalize_transform",
            "make_loaders", "set_seed", "train_epoch", "evaluate")


def student_env(release: Path, **extra) -> dict[str, str]:
    paths = dict.fromkeys([str(release), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGLAB_", "GITHUB_", "PYTHON"))}
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def run_in(release: Path, *args: str, cwd: Path | None = None, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-S", *args], cwd=cwd or release, env=student_env(release, **env),
                          capture_output=True, text=True, timeout=240)


def copy_modules(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for m in MODULES:
        shutil.copyfile(src / f"{m}.py", dest / f"{m}.py")
    return dest


@pytest.fixture(scope="module")
def release(tmp_path_factory, small_cifar) -> Path:
    out = tmp_path_factory.mktemp("release") / "lab"
    env = {**os.environ, "REGLAB_HIDDEN": ",".join(HIDDEN), "REGLAB_SECRET_SEED": SECRET, "REGLAB_DATA": str(small_cifar)}
    proc = subprocess.run([sys.executable, "-m", "grader", "release", "--out", str(out), "--repo-url", REPO_URL],
                          cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no reference code inside" in proc.stdout and "2 hidden left out" in proc.stdout
    return out


def release_files(release: Path) -> list[Path]:
    return sorted(p for p in release.rglob("*") if p.is_file())


# ---------------------------------------------------------------- layout


def test_release_holds_the_stubs_the_grader_and_its_data_but_no_solution(release):
    rel = {p.relative_to(release).as_posix() for p in release_files(release)}
    for name in ("README.md", "pyproject.toml", ".gitignore", ".github/workflows/classroom.yml",
                 "grader/expected/expected.npz", "grader/expected/expected.json", "grader/expected/manifest.json",
                 "grader/__main__.py", "grader/worker/__main__.py", "grader/checks/registry.py",
                 "lab5_regularization.ipynb"):
        assert name in rel, name
    for stub in (REPO / "assignment").glob("*.py"):  # whatever assignment/ holds, as it is
        assert (release / "assignment" / stub.name).read_bytes() == stub.read_bytes()
    assert not (release / "solution").exists()
    assert not any(Path(r).name == "mutants.py" for r in rel)
    assert not any("__pycache__" in r or r.endswith(".pyc") for r in rel)
    assert not any(r.startswith(("tests/", "examples/", "bench/")) for r in rel)


def test_hidden_checks_and_their_only_data_are_left_out(release):
    manifest = json.loads((release / "grader/expected/manifest.json").read_text())
    assert manifest["hidden_checks"] == 2 and manifest["hidden_points"] == HIDDEN_POINTS
    assert not set(HIDDEN) & set(manifest["checks"])
    meta = json.loads((release / "grader/expected/expected.json").read_text())
    assert HIDDEN_ONLY_PROBE not in meta["table"]["reference"]
    assert SHARED_PROBE in meta["table"]["reference"]  # still needed by penalties.l1_value
    assert not [k for k in meta["index"] if k.split("|")[1] == HIDDEN_ONLY_PROBE]
    from grader.reference import load

    shipped = load(release / "grader/expected/expected")  # its one buffer holds what the index lists, no more
    assert sum(len(o.values) for rows in shipped.table.values() for o in rows.values()) >= len(meta["index"])
    assert (release / "grader/expected/expected.npz").stat().st_size < 1.1 * sum(
        a.nbytes for rows in shipped.table.values() for o in rows.values() for a in o.values.values()
        if hasattr(a, "nbytes")) + 4096
    checks = sorted((release / "labs/regularization/checks").glob("*.py"))
    assert len(checks) >= 5
    source = "\n".join(p.read_text() for p in checks)
    for check_id in HIDDEN:
        assert f'"{check_id}"' not in source  # their registrations are gone, not just their data
    # ... and so are their titles and hints, from the catalogs too
    from grader.checks import REGISTRY

    texts = lambda checks: {t for c in checks for t in (c.title, c.hint, c.contract) if t}  # noqa: E731
    only_hidden = texts(c for c in REGISTRY if c.id in HIDDEN) - texts(c for c in REGISTRY if c.id not in HIDDEN)
    assert only_hidden
    shipped = set()  # the grader's catalog and the lab's; English needs none: its ids are the text
    for folder in ("grader", "labs/regularization"):
        with open(release / folder / "locale/ko/LC_MESSAGES/reglab.mo", "rb") as fh:
            shipped |= set(gettext.GNUTranslations(fh)._catalog)
    assert not only_hidden & shipped
    assert texts(c for c in REGISTRY if c.id not in HIDDEN) <= shipped
    assert not list(release.rglob("*.po"))
    readme = (release / "README.md").read_text()
    assert f"2 more checks ({HIDDEN_POINTS} points) are hidden" in readme


def test_readme_explains_the_self_check_and_each_part_without_solution_code(release):
    readme = (release / "README.md").read_text()
    assert "python -m grader check" in readme and "pip install -e ." in readme
    from grader.checks import REGISTRY

    for check in REGISTRY:
        if check.id not in HIDDEN:
            assert check.title.replace("|", "/") in readme, check.title
    for module in MODULES:
        tree = ast.parse((SOLUTION / f"{module}.py").read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                assert f"`{node.name}`: {ast.get_docstring(node).splitlines()[0]}" in readme


def test_pyproject_makes_an_installable_package_with_the_data(release, tmp_path):
    project = tomllib.loads((release / "pyproject.toml").read_text())
    ours = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["requires-python"] == ours["project"]["requires-python"]  # one source
    assert "wcwidth>=0.2.6" in project["project"]["dependencies"]
    assert "locale/*/LC_MESSAGES/*.mo" in project["tool"]["setuptools"]["package-data"]["grader"]
    assert {"grader*", "assignment*"} <= set(project["tool"]["setuptools"]["packages"]["find"]["include"])
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(release)], capture_output=True, text=True, timeout=240)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip(f"cannot build wheels here: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "grader/expected/expected.npz" in names and "assignment/penalties.py" in names
    assert "grader/templates/student.html.j2" in names
    assert "grader/locale/ko/LC_MESSAGES/reglab.mo" in names and "grader/expected/training-subset.npz" in names
    assert "labs/regularization/locale/ko/LC_MESSAGES/reglab.mo" in names  # the lab's checks' Korean
    assert "labs/regularization/checks/penalties.py" in names and "labs/regularization/worker/probes.py" in names
    assert not any(n.endswith("mutants.py") or n.startswith("solution/") for n in names)


def test_classroom_workflow_follows_github_classroom_conventions(release):
    text = (release / ".github/workflows/classroom.yml").read_text()
    wf = yaml.safe_load(text)
    assert wf["name"] == "Autograding Tests"
    assert "push" in wf["on"] and ("repository_dispatch" in wf["on"] or "workflow_dispatch" in wf["on"])
    assert wf["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    (job,) = wf["jobs"].values()
    assert job["if"] == "github.actor != 'github-classroom[bot]'"
    steps = job["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "pip install -e ." in runs and "${REGLAB_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" in runs
    assert any(s.get("run", "").strip() == "python -m grader check --ci" for s in steps)
    # The training check's images ship in the grader: no download, no cache of CIFAR-10.
    assert "CIFAR10" not in runs and not any("cache" in str(s.get("uses", "")) for s in steps)
    python = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert python["with"]["python-version"] == "3.10"  # requires-python's lower bound


# ---------------------------------------------------------------- no solution code inside


def _without_docstring(body: list) -> list:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def reference_code() -> tuple[list[tuple[str, list[str]]], list[tuple[str, str, str]]]:
    """(function, its body as ast dumps) for every reference function that holds a solution region,
    and (function, statement source, its ast dump) for every statement inside a region."""
    bodies, statements = [], []
    for path in sorted(SOLUTION.glob("*.py")):
        src = path.read_text()
        lines = src.splitlines()
        regions = []
        start = None
        for i, line in enumerate(lines, start=1):
            if line.strip() == "# BEGIN SOLUTION":
                start = i
            elif line.strip() == "# END SOLUTION":
                regions.append((start, i))
        for node in ast.walk(ast.parse(src)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if not any(node.lineno < a <= node.end_lineno for a, b in regions):  # a region starts inside
                continue
            where = f"{path.name}:{node.name}"
            bodies.append((where, [ast.dump(s) for s in _without_docstring(node.body)]))
            for stmt in ast.walk(node):
                if isinstance(stmt, ast.stmt) and any(a < stmt.lineno and stmt.end_lineno < b for a, b in regions):
                    statements.append((where, ast.unparse(stmt), ast.dump(stmt)))
    return bodies, statements


def test_no_reference_function_body_or_solution_statement_in_any_file(release):
    bodies, statements = reference_code()
    assert len(bodies) >= 10 and statements  # every contract function was found
    substantial = [(w, s, d) for w, s, d in statements if len(s) >= 30]
    found = []
    for path in release_files(release):
        rel = path.relative_to(release)
        if path.suffix == ".py":
            tree = ast.parse(path.read_text())
            blocks = [[ast.dump(s) for s in b] for n in ast.walk(tree) for b in
                      (getattr(n, "body", None), getattr(n, "orelse", None)) if isinstance(b, list) and b
                      and isinstance(b[0], ast.stmt)]
            dumps = {ast.dump(n) for n in ast.walk(tree) if isinstance(n, ast.stmt)}
            for where, body in bodies:
                if any(block[i:i + len(body)] == body for block in blocks for i in range(len(block))):
                    found.append(f"{rel}: the body of {where}")
            found += [f"{rel}: {s!r} from {w}" for w, s, d in substantial if d in dumps]
        elif path.suffix in (".md", ".json", ".toml", ".yml", ".j2", ".css", ".js", ".txt", ""):
            text = re.sub(r"\s+", "", path.read_text(errors="replace"))
            found += [f"{rel}: {s!r} from {w}" for w, s, _ in substantial if re.sub(r"\s+", "", s) in text]
    assert not found, "\n".join(found)


def test_the_build_time_guard_finds_planted_reference_code(tmp_path):
    from grader.release import find_reference_code

    src = (SOLUTION / "penalties.py").read_text()
    body = src.split("# BEGIN SOLUTION", 2)[2].split("# END SOLUTION")[0]  # l2_penalty's region
    (tmp_path / "helper.py").write_text("import torch\nfrom torch import nn\n\n\ndef sum_of_squares(model):\n"
                                        "    # copied\n" + textwrap.indent(textwrap.dedent(body), "    "))
    (tmp_path / "notes.md").write_text("hint: " + textwrap.dedent(body))
    leaks, n = find_reference_code(tmp_path, SOLUTION)
    assert n >= 10
    assert any(x.startswith("helper.py: solution/penalties.py") for x in leaks), leaks
    assert any(x.startswith("notes.md: ") for x in leaks), leaks


EVALUATE = r'''
import importlib, importlib.util, inspect, json, os, random, sys
from pathlib import Path
import numpy as np, torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

release, solution, control = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
CONTRACT = %(contract)r
SEED = int.from_bytes(os.urandom(4), "little")   # fresh inputs, unknown when the release was built

def load_package(name, folder):
    init = folder / "__init__.py"
    if not init.exists():
        init.write_text("")
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    pkg = importlib.util.module_from_spec(spec); sys.modules[name] = pkg; spec.loader.exec_module(pkg)
    return {m: importlib.import_module(f"{name}.{m}") for m in ("penalties", "model", "data", "train")}

def net(seed):
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Linear(7, 5), nn.Tanh(), nn.Sequential(nn.Linear(5, 4, bias=False)), nn.LayerNorm(4),
                      nn.Linear(4, 3))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.rand(p.shape, generator=g) * 2 - 1)
    return m

def small(seed):
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Sigmoid(), nn.Dropout(0.0), nn.Linear(6, 3))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.rand(p.shape, generator=g) - 0.5)
    x = torch.rand((23, 3, 2, 2), generator=g); y = torch.randint(0, 3, (23,), generator=g)
    return m, DataLoader(TensorDataset(x, y), batch_size=7)

def fingerprint(name, fn, ref):
    rng = np.random.default_rng(SEED)
    if name in ("l1_penalty", "l2_penalty"):
        return [float(fn(net(SEED)))]
    if name == "penalized_loss":
        return [float(fn(torch.tensor(0.37), net(SEED), 0.7, 9, kind=k)) for k in ("l1", "l2")]
    if name == "channel_stats":
        mean, std = fn(rng.integers(0, 256, (13, 32, 32, 3), dtype=np.uint8))
        return list(np.asarray(mean, float)) + list(np.asarray(std, float))
    if name == "normalize_transform":
        t = fn(tuple(rng.random(3)), tuple(rng.random(3) + 0.5))
        return np.asarray(t(Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))).ravel().tolist()
    if name == "DropoutMLP":
        torch.manual_seed(SEED); state = ref["model"].DropoutMLP(0.0).state_dict()
        model = fn(0.0); model.load_state_dict(state); model.eval()
        x = torch.rand((4, 3, 32, 32), generator=torch.Generator().manual_seed(SEED))
        return model(x).detach().ravel().tolist()
    if name == "set_seed":
        fn(SEED %% 10000)
        return [random.random(), float(np.random.rand()), float(torch.rand(1))]
    if name == "make_loaders":
        tr, te = TensorDataset(torch.arange(29)), TensorDataset(torch.arange(17))
        a, b = fn(tr, te, batch_size=5)
        train = [t[0].tolist() for t in a]; test = [t[0].tolist() for t in b]
        return [len(x) for x in train] + [len(x) for x in test] + sorted(sum(train, [])) + sum(test, [])
    if name == "train_epoch":
        m, loader = small(SEED)
        avg = fn(m, loader, torch.optim.SGD(m.parameters(), lr=0.1), nn.CrossEntropyLoss(), "cpu", lmbd=0.2, kind="l2")
        return [float(avg)] + torch.cat([p.detach().ravel() for p in m.parameters()]).tolist()
    if name == "evaluate":
        m, loader = small(SEED)
        return [float(v) for v in fn(m, loader, nn.CrossEntropyLoss(), "cpu")]
    raise AssertionError(name)

def same(name, fn, ref):
    try:
        got = fingerprint(name, fn, ref)
    except BaseException:
        return False
    want = fingerprint(name, getattr(ref[MODULE[name]], name), ref)
    return len(got) == len(want) and bool(np.allclose(got, want, rtol=1e-5, atol=1e-6))

MODULE = {"l1_penalty": "penalties", "l2_penalty": "penalties", "penalized_loss": "penalties", "DropoutMLP": "model",
          "channel_stats": "data", "normalize_transform": "data", "make_loaders": "data", "set_seed": "train",
          "train_epoch": "train", "evaluate": "train"}
ref = load_package("_reference_under_test", solution)

# Every module of the release, imported from the release.
names, import_errors = [], []
for path in sorted(release.rglob("*.py")):
    rel = path.relative_to(release).with_suffix("")
    # The worker's entry points run only in a worker's copy, where the lab's worker folder is
    # grader.worker.lab: here that folder is scanned where it ships, under labs/.
    if rel.parts[0] not in ("grader", "labs", "assignment") or rel.name in ("__main__", "zygote"):
        continue
    names.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
modules = []
for name in names:
    try:
        mod = importlib.import_module(name)
    except BaseException as exc:
        import_errors.append(f"{name}: {type(exc).__name__}: {exc}")
        continue
    assert Path(mod.__file__).resolve().is_relative_to(release.resolve()), mod.__file__
    modules.append(mod)

candidates = {}
for mod in modules:
    for attr, obj in vars(mod).items():
        if attr in CONTRACT and callable(obj):
            candidates.setdefault(id(obj), (f"{mod.__name__}.{attr}", attr, obj))
        if inspect.isclass(obj) and getattr(obj, "__module__", "") == mod.__name__:
            for inner, member in vars(obj).items():
                if inner in CONTRACT and callable(member):
                    candidates.setdefault(id(member), (f"{mod.__name__}.{attr}.{inner}", inner, member))
matches = [where for where, name, obj in candidates.values() if same(name, obj, ref)]

# The detector works: a correct solution written differently does match the reference everywhere.
for name in [n for n in sys.modules if n == "assignment" or n.startswith("assignment.")]:
    del sys.modules[name]   # the control imports itself as `assignment` (from assignment.penalties import ...)
other = load_package("assignment", control)
control_misses = [n for n in CONTRACT if not same(n, getattr(other[MODULE[n]], n), ref)]
print(json.dumps({"modules": names, "import_errors": import_errors, "checked": sorted(w for w, _, _ in candidates.values()),
                  "matches": matches, "control_misses": control_misses,
                  "solution_importable": importlib.util.find_spec("solution") is not None,
                  "mutants_importable": importlib.util.find_spec("labs.regularization.mutants") is not None}))
'''


def test_nothing_in_the_release_evaluates_to_the_reference_on_fresh_inputs(release, tmp_path):
    control = REPO / "examples" / "complete"
    if not all((control / f"{m}.py").is_file() for m in MODULES):
        pytest.skip("examples/complete (the detector's positive control) is not there")
    copy_modules(control, tmp_path / "control")
    copy_modules(SOLUTION, tmp_path / "reference")
    script = tmp_path / "evaluate.py"
    script.write_text(EVALUATE % {"contract": CONTRACT})
    proc = run_in(release, str(script), str(release), str(tmp_path / "reference"), str(tmp_path / "control"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["solution_importable"] and not got["mutants_importable"]
    assert not got["import_errors"], got["import_errors"]
    assert "labs.regularization.worker.probes" in got["modules"] and any(m.startswith("assignment.") for m in got["modules"])
    assert "labs.regularization.worker.standins.l2_penalty" in got["checked"]  # the callables named like the contract
    assert not got["control_misses"], got["control_misses"]        # the detector does detect
    assert not got["matches"], got["matches"]


# ---------------------------------------------------------------- the self-check inside the release


def _results(folder: Path) -> dict:
    (path,) = folder.glob("*/results.json")
    return json.loads(path.read_text())["extra_data"]["reglab"]


def test_self_check_gives_the_stubs_zero(release, tmp_path):
    proc = run_in(release, "-m", "grader", "check", "--no-training", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"2 hidden checks ({HIDDEN_POINTS} points) are run by your TA" in proc.stdout
    result = _results(tmp_path / "out")
    core = [c for c in result["checks"] if c["part"] != "experiment"]
    assert core and all(c["score"] == 0 and c["outcome"] == "not_implemented" for c in core)
    assert not {c["id"] for c in result["checks"]} & set(HIDDEN)


def test_self_check_gives_the_reference_full_marks(release, tmp_path):
    sub = copy_modules(SOLUTION, tmp_path / "submission")
    proc = run_in(release, "-m", "grader", "check", str(sub), "--no-training", "--out", str(tmp_path / "out"))
    result = _results(tmp_path / "out")
    failed = [c for c in result["checks"] if c["outcome"] not in ("passed", "skipped")]
    assert not failed, failed
    core = [c for c in result["checks"] if c["part"] != "experiment"]
    assert sum(c["score"] for c in core) == sum(c["max_score"] for c in core) > 0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not {c["id"] for c in result["checks"]} & set(HIDDEN)
    assert f"2 hidden checks ({HIDDEN_POINTS} points) are run by your TA" in proc.stdout


def test_release_worker_is_the_release_grader(release):
    """-I drops PYTHONPATH: the worker must still load the release's grader, not an installed one
    (it runs a private copy of the release's grader/worker, made by the release's isolation.py)."""
    proc = run_in(release, "-c", "import subprocess, sys; from grader.isolation import worker_command; "
                                 "from grader.isolation import worker_package; "
                                 "import grader; from pathlib import Path; "
                                 "p = subprocess.run([*worker_command(), 'not-a-descriptor', '0'], "
                                 "capture_output=True, text=True); print(p.stderr); w = worker_package(); "
                                 "mine = Path(grader.__file__).parent / 'worker'; "
                                 "print('SAME', all((w / 'worker' / f.name).read_bytes() == f.read_bytes() "
                                 "for f in mine.glob('*.py')), w)")
    assert proc.returncode == 0, proc.stderr
    same, copy = proc.stdout.split("SAME ")[-1].split()
    assert same == "True" and str(Path(copy) / "worker" / "__main__.py") in proc.stdout
    assert str(REPO / "grader") not in proc.stdout


def test_ci_run_in_the_release_reports_classroom_points(release, tmp_path):
    """The workflow's command, run the way the runner runs it, in a student's repository."""
    workspace = tmp_path / "repo"
    shutil.copytree(release, workspace)
    copy_modules(SOLUTION, workspace / "assignment")
    summary = tmp_path / "summary.md"
    proc = run_in(workspace, "-m", "grader", "check", "--ci", "--no-training", cwd=workspace,
                  GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(workspace), GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = _results(workspace / "reports")
    total, top = result_points(result)
    assert total == top > 0
    assert f"::notice title=Autograding complete::Points {total}/{top}" in proc.stdout.splitlines()
    assert not [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    text = summary.read_text()
    assert f"## reglab: {total}/{top} points (100%)" in text and f"2 hidden checks ({HIDDEN_POINTS} points)" in text


def result_points(result: dict) -> tuple:
    fmt = lambda x: int(x) if float(x).is_integer() else x  # noqa: E731
    return fmt(sum(c["score"] for c in result["checks"])), fmt(sum(c["max_score"] for c in result["checks"]))


# ---------------------------------------------------------------- refusing to build a bad release


def test_release_refuses_unknown_hidden_ids_and_non_empty_folders(tmp_path):
    env = {**os.environ, "REGLAB_HIDDEN": "penalties.no_such_check"}
    proc = subprocess.run([sys.executable, "-m", "grader", "release", "--out", str(tmp_path / "x")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "REGLAB_HIDDEN" in proc.stderr and "penalties.no_such_check" in proc.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    env = {k: v for k, v in os.environ.items() if k != "REGLAB_HIDDEN"}
    proc = subprocess.run([sys.executable, "-m", "grader", "release", "--out", str(tmp_path / "full")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not an empty folder" in proc.stderr
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_a_lab_ships_only_the_code_a_grader_runs_never_its_reference_stubs_or_examples(tmp_path, monkeypatch):
    from grader import lab, release

    labs = tmp_path / "labs"
    for rel, text in (("__init__.py", ""), ("x/__init__.py", "LAB = None\n"), ("x/checks.py", "CHECKS = ()\n"),
                      ("x/mutants.py", "MUTANTS = []\n"), ("x/solution/penalties.py", "ANSWER = 42\n"),
                      ("x/assignment/penalties.py", "ANSWER = None\n"), ("x/examples/complete/penalties.py", "ANSWER = 42\n"),
                      ("x/notes.py", "TODO = 'the answer is 42'\n"), ("x/worker/probes.py", "PROBES = {}\n")):
        (labs / rel).parent.mkdir(parents=True, exist_ok=True)
        (labs / rel).write_text(text)
    monkeypatch.setattr(lab, "LABS", labs)
    monkeypatch.setattr(release, "LABS", labs)
    monkeypatch.setattr(release, "current", lambda: lab.Lab("x", parts=(), notebook="x.ipynb"))
    release.copy_grader(tmp_path / "out" / "grader")
    shipped = sorted(p.relative_to(tmp_path / "out" / "labs").as_posix() for p in (tmp_path / "out" / "labs").rglob("*")
                     if p.is_file())
    assert shipped == ["__init__.py", "x/__init__.py", "x/checks.py", "x/worker/probes.py"]


def test_strip_checks_removes_only_the_registration():
    from grader.release import strip_checks

    src = textwrap.dedent('''\
        @checks.add("a.one", points=1, title="one",
                    probes=("p",), location="x.py:f", hint="h")
        def one(ctx):
            return PASS


        @checks.add("a.two", points=1, title="two", probes=("q",), location="x.py:g", hint="h")
        def two(ctx):
            return one(ctx)
        ''')
    out = strip_checks(src, {"a.one"})
    assert '"a.one"' not in out and '"a.two"' in out and "def one(ctx):" in out
    ast.parse(out)


# ---------------------------------------------------------------- which checks a packaged grader runs


def test_a_packaged_grader_runs_only_the_checks_it_has_data_for(tmp_path, expected):
    from grader.checks import REGISTRY
    from grader.config import Config
    from grader.reference import save
    from grader.release import MANIFEST, select_checks

    packaged = tmp_path / "grader" / "expected" / "expected"
    save(expected.without({HIDDEN_ONLY_PROBE}), packaged)
    (packaged.parent / MANIFEST).write_text(json.dumps({"kind": "test", "hidden_checks": 0}))
    cfg = Config(solution=tmp_path / "no-solution", expected=packaged, training=False)
    selection = select_checks(cfg)
    ids = [c.id for c in selection.checks]
    assert "penalties.unknown_kind" not in ids and "penalties.penalized_loss" in ids
    assert not any(c.part == "experiment" for c in selection.checks)  # --no-training
    assert selection.hidden_left_out == 1 and selection.note() == "1 hidden check (3 points) is run by your TA"
    assert selection.expected is not None
    with_training = select_checks(Config(solution=tmp_path / "no-solution", expected=packaged, training=True))
    assert {c.id for c in REGISTRY if c.part == "experiment"} <= {c.id for c in with_training.checks}


def test_hidden_setting_marks_checks_in_the_repository(tmp_path):
    from grader.config import ConfigError, resolve
    from grader.release import select_checks

    toml = tmp_path / "reglab.toml"
    toml.write_text('hidden = ["model.flatten", "data.test_order"]\n')
    cfg = resolve({"training": False}, environ={}, config_file=toml)
    assert cfg.hidden == ("model.flatten", "data.test_order") and cfg.source("hidden") == str(toml)
    selection = select_checks(cfg)
    assert {c.id for c in selection.checks if c.hidden} == {"model.flatten", "data.test_order"}
    assert selection.hidden_left_out == 0 and selection.expected is None  # the reference is here: all run
    assert resolve({}, environ={"REGLAB_HIDDEN": " a.b , c.d,"}).hidden == ("a.b", "c.d")
    with pytest.raises(ConfigError, match="hidden"):
        resolve({}, environ={}, config_file=(tmp_path / "bad.toml", (tmp_path / "bad.toml").write_text(
            "hidden = 3\n"))[0])
    with pytest.raises(ConfigError, match="environment variable REGLAB_HIDDEN.*model.nope"):
        select_checks(resolve({}, environ={"REGLAB_HIDDEN": "model.nope"}))


# ---------------------------------------------------------------- hidden checks leak nothing, no secret


def _release_expected(release: Path):
    from grader.reference import load

    return load(release / "grader" / "expected" / "expected")


def test_no_expected_value_a_hidden_check_reads_is_in_the_release(release, expected):
    """Key by key: every (variant, probe, key) a hidden check reads, on the reference's results and on
    every known mistake's, is absent from the release's data (arrays and JSON alike)."""
    import numpy as np

    from grader.checks import REGISTRY
    from grader.release import expected_reads

    shipped = _release_expected(release)
    with np.load(release / "grader/expected/expected.npz") as npz:
        array_keys = set(npz.files)
    meta = json.loads((release / "grader/expected/expected.json").read_text())
    hidden = [c for c in REGISTRY if c.id in HIDDEN]
    total = 0
    for check in hidden:
        reads = expected_reads(check, expected)
        total += len(reads)
        for variant, probe, key in sorted(reads):
            assert f"{variant}|{probe}|{key}" not in array_keys, (check.id, variant, probe, key)
            assert key not in meta["table"].get(variant, {}).get(probe, {}).get("values", {}), (check.id, probe, key)
            outcome = shipped.table.get(variant, {}).get(probe)
            assert outcome is None or key not in outcome.values, (check.id, variant, probe, key)
    assert total >= 6  # penalties.gradients reads grad/* of both probes: the test has something to find
    # Everything else is the public seed's data, unchanged: the reference's own values, key by key.
    public_reads = set().union(*(expected_reads(c, expected) for c in REGISTRY if c.id not in HIDDEN))
    for variant, probe, key in sorted(public_reads):
        got = shipped.table[variant][probe].values[key]
        want = expected.table[variant][probe].values[key]
        assert np.array_equal(np.asarray(got), np.asarray(want)), (variant, probe, key)


def test_a_hidden_check_that_shares_a_value_with_a_public_one_stops_the_build(expected):
    from dataclasses import replace

    from grader.checks import REGISTRY
    from grader.release import ReleaseError, hidden_data

    l1 = next(c for c in REGISTRY if c.id == "penalties.l1_value")
    with pytest.raises(ReleaseError, match="hidden check penalties.l1_value reads the expected 'value' of probe "
                                           "pen.l1_mlp .*public check copy.l1_value"):
        hidden_data(expected, (replace(l1, id="copy.l1_value"),), (l1,))
    grads = next(c for c in REGISTRY if c.id == "penalties.gradients")
    withheld = hidden_data(expected, (l1,), (grads,))  # what it compares with, and what it judges of the results
    assert {k for _, _, k in withheld} == {f"grad/linear{i}.weight" for i in (1, 2, 3)} | {"differentiable", "shape"}


def test_the_course_secret_is_not_in_the_release(release, tmp_path):
    from grader.release import find_text

    assert find_text(release, SECRET) == []
    (tmp_path / "a.json").write_text(json.dumps({"seed": SECRET}))
    assert find_text(tmp_path, SECRET) == ["a.json"]  # the guard the build runs does find it


# ---------------------------------------------------------------- the student's notebook


NOTEBOOK = "lab5_regularization.ipynb"


def test_release_readme_explains_colab_first_then_the_local_path(release):
    readme = (release / "README.md").read_text()
    colab = readme.index("## In Google Colab")
    assert colab < readme.index("## On your own machine")
    assert f"[Open in Colab](https://colab.research.google.com/github/hanyang-allab/reglab-lab5/blob/main/{NOTEBOOK})" \
        in readme
    assert readme.index("File → Save a copy in Drive") < readme.index("## On your own machine")


def test_the_notebook_is_valid_and_made_from_the_stubs_single_source(release):
    import nbformat

    from grader import lab_notebook, stubgen

    nb = nbformat.read(str(release / NOTEBOOK), as_version=4)
    nbformat.validate(nb)
    assert nb == lab_notebook.render(SOLUTION, REPO_URL)  # drift: what release writes is what the source gives
    stubs = stubgen.generate(SOLUTION)
    cells = lab_notebook.function_cells(nb)
    assert set(cells) == set(CONTRACT)
    for module in MODULES:  # each function's cell is its stub, docstring and NotImplementedError included
        tree = ast.parse(stubs[f"{module}.py"])
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                assert ast.dump(ast.parse(nb.cells[cells[node.name]].source).body[0]) == ast.dump(node), node.name
                assert ast.get_docstring(node) and "NotImplementedError" in nb.cells[cells[node.name]].source
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "정규화" in text and "Dropout" in text and "Self-check" in text
    last = nb.cells[-1].source
    assert REPO_URL in last and "CIFAR10" not in last and '"grader", "check"' in last
    assert NOTEBOOK in last and "display(HTML(" in last


def _graded_notebook(nb, tmp_path, grade):
    import nbformat

    from grader.notebook import extract

    nbformat.write(nb, str(tmp_path / NOTEBOOK))
    notices = extract(tmp_path / NOTEBOOK, tmp_path / "extracted")
    return grade(tmp_path / "extracted"), notices


def test_the_untouched_notebook_grades_zero_not_implemented(release, tmp_path, grade):
    import nbformat

    result, notices = _graded_notebook(nbformat.read(str(release / NOTEBOOK), as_version=4), tmp_path, grade)
    assert not notices, notices
    assert result.checks and all(c.outcome.value == "not_implemented" and c.score == 0 for c in result.checks)


def test_the_notebook_with_the_reference_pasted_in_grades_full_marks(release, tmp_path, grade):
    import nbformat

    from grader import lab_notebook

    nb = nbformat.read(str(release / NOTEBOOK), as_version=4)
    for name, index in lab_notebook.function_cells(nb).items():  # what a student does: edit each function's cell
        module = next(m for m in MODULES if any(n.name == name for n in ast.parse(
            (SOLUTION / f"{m}.py").read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))))
        src = (SOLUTION / f"{module}.py").read_text()
        node = next(n for n in ast.parse(src).body if getattr(n, "name", None) == name)
        nb.cells[index].source = ast.get_source_segment(src, node)
    result, notices = _graded_notebook(nb, tmp_path, grade)
    assert not notices, notices
    assert result.checks and all(c.outcome.value == "passed" for c in result.checks), \
        [(c.id, c.message) for c in result.checks if c.outcome.value != "passed"]
    assert sum(c.score for c in result.checks) == sum(c.max_score for c in result.checks) > 0
