"""Whose fault a failure is, decided by provenance, and a grader that cannot start a worker stops.

- A submission that rewrites every file it can reach in its folder (the package's ``__init__.py``
  the grader wrote, its own modules, the folder itself moved away and replaced), then crashes: the
  crash is its own import's, and the restarted worker starts from the grader's pristine copy.
- Notebook cells nested past Python's parser (200,000 unary minus signs; a 300,000-long attribute
  chain): the cell is the submission's problem, the rest of the notebook is graded.
- A deliberately broken worker package still reads "grader error" (a worker on the known-good
  package fails too).
- A grader whose sandbox user cannot reach its work folder (the uid backend with TMPDIR private to
  root) exits 2 before grading anyone, with the reason.

The batches go through ``python -m grader grade`` in every backend this machine offers where it
matters (bwrap as the machine is; uid on the simulated container without namespaces), each with a
correct neighbour (a copy of examples/complete) that keeps full marks.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from grader import intake, isolation
from grader.backends import choose, current
from grader.limits import Limits
from grader.sandbox import run_probes
from simulate_machine import cannot_simulate

REPO = Path(__file__).resolve().parent.parent
COMPLETE = REPO / "examples" / "complete"
SIMULATE = REPO / "tests" / "simulate_machine.py"
LINUX = sys.platform.startswith("linux")
pytestmark = [pytest.mark.skipif(not LINUX, reason="the sandbox backends need Linux"), pytest.mark.timeout(1800)]

# Appended to a correct penalties.py: rewrite every file in reach, replace the package folder, crash.
REWRITE_AND_CRASH = '''

def _rewrite_everything():
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    crash = "import os\\nos._exit(3)\\n"
    for root in (here, os.path.dirname(here), os.getcwd()):
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                try:
                    with open(path, "w") as fh:
                        fh.write(crash)
                    print("REWROTE", path, flush=True)
                except OSError as exc:
                    print("DENIED", path, type(exc).__name__, flush=True)
    try:  # the folder around the package is the worker's own: move it away and put a rewritten one there
        os.rename(os.path.dirname(here), os.path.join(os.getcwd(), "moved"))
        os.makedirs(here)
        with open(os.path.join(here, "__init__.py"), "w") as fh:
            fh.write(crash)
        print("REPLACED", here, flush=True)
    except OSError as exc:
        print("DENIED replacing", here, type(exc).__name__, flush=True)
    os._exit(1)


_rewrite_everything()
'''
BOMBS = {"minus": "x = " + "-" * 200_000 + "1\n", "attribute": "x = a" + ".b" * 300_000 + "\n"}


def _fixture_notebooks():
    spec = importlib.util.spec_from_file_location("reglab_test_fixtures_notebooks", REPO / "tests" / "fixtures" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_submissions(subs: Path) -> None:
    """neighbour, rewrite_crash, and the complete lab as a notebook with each parser bomb in a cell of its own."""
    shutil.copytree(COMPLETE, subs / "neighbour")
    shutil.copytree(COMPLETE, subs / "rewrite_crash")
    with open(subs / "rewrite_crash" / "penalties.py", "a", encoding="utf-8") as fh:
        fh.write(REWRITE_AND_CRASH)
    for name, code in BOMBS.items():
        nb = _fixture_notebooks().notebook_from_files(COMPLETE)
        nb.cells.insert(len(nb.cells) // 2, new_code_cell(code))
        nbformat.write(nb, str(subs / f"bomb_{name}.ipynb"))


def parts(result: dict) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for t in result["tests"]:
        score, most = out.get(t["tags"][0], (0.0, 0.0))
        out[t["tags"][0]] = (score + t["score"], most + t["max_score"])
    return out


def full(result: dict) -> bool:
    return result["score"] == sum(t["max_score"] for t in result["tests"]) > 0


def grader_errors(result: dict) -> list[str]:
    return [t["name"] for t in result["tests"] if t["tags"][1] == "grader_error"]  # tags: part, outcome


# ---------------------------------------------------------------- in this process (the machine's backend)


FAST = Limits(probe_timeout=20, import_timeout=20, total_timeout=240)


def test_rewriting_its_folder_then_crashing_is_charged_to_its_own_import(tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(COMPLETE, sub)
    with open(sub / "penalties.py", "a", encoding="utf-8") as fh:
        fh.write(REWRITE_AND_CRASH)
    run = run_probes(sub, ["pen.l1_mlp", "train.seed", "model.structure"], FAST)
    assert not [p for p, o in run.outcomes.items() if o.status == "grader"], run.outcomes
    assert run.outcomes["pen.l1_mlp"].status == "import_error", run.outcomes["pen.l1_mlp"]
    assert "penalties" in run.module_errors and "killed" not in run.module_errors["penalties"]
    assert run.outcomes["train.seed"].ok and run.outcomes["model.structure"].ok, run.outcomes
    # Nothing the grader wrote could be rewritten (where the backend drops the uid or binds it read-only).
    if current().drops_uid or current().whitelist:
        assert "DENIED" in run.output and not [l for l in run.output.splitlines() if l.startswith("REWROTE")], run.output


def test_the_students_time_starts_with_the_jailed_frame():
    from grader.channel import Caps, ChannelError, Protocol
    from grader.sandbox import _culprit

    protocol = Protocol(["pen.l1_mlp"], ("penalties",), Caps())
    protocol.handle({"kind": "hello"}, b"")
    assert not protocol.student and _culprit(protocol) == ("startup", "")  # a crash here is the grader's
    protocol.handle({"kind": "jailed"}, b"")
    assert protocol.student and _culprit(protocol) == ("between", "")  # from here on, the student's
    early = Protocol(["pen.l1_mlp"], ("penalties",), Caps())
    early.handle({"kind": "hello"}, b"")
    with pytest.raises(ChannelError):
        early.handle({"kind": "import", "module": "penalties"}, b"")  # no import before the jail


def broken_worker_package(folder: Path) -> Path:
    """A copy of the worker package whose worker fails after hello, before it is jailed."""
    shutil.copytree(isolation.worker_package().parent, folder / "pkg")
    main = folder / "pkg" / "grader" / "worker" / "__main__.py"
    text = main.read_text(encoding="utf-8")
    marker = '    channel.send({"kind": "hello"})\n'
    assert marker in text
    main.write_text(text.replace(marker, marker + '    raise RuntimeError("broken on purpose")\n'), encoding="utf-8")
    for pyc in (folder / "pkg").rglob("*.pyc"):
        pyc.unlink()
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder / "pkg" / "grader"


def test_a_deliberately_broken_worker_package_still_reports_grader_error(tmp_path, monkeypatch):
    broken = broken_worker_package(tmp_path)
    monkeypatch.setattr(isolation, "worker_package", lambda: broken)
    cold = Limits(probe_timeout=20, import_timeout=20, total_timeout=240, warm_start=False)  # fresh interpreters
    run = run_probes(COMPLETE, ["pen.l1_mlp", "train.seed"], cold)
    assert {o.status for o in run.outcomes.values()} == {"grader"}, run.outcomes
    message = run.outcomes["pen.l1_mlp"].message
    assert "known-good" in message and "broken on purpose" in message, message


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_notebook_cell_nested_past_the_parser_is_the_submissions(tmp_path, bomb):
    nb = _fixture_notebooks().notebook_from_files(COMPLETE)
    nb.cells.insert(3, new_code_cell(BOMBS[bomb]))
    path = tmp_path / "lab5.ipynb"
    nbformat.write(nb, str(path))
    work = tmp_path / "work"
    work.mkdir()
    prepared = intake.prepare(path, work)  # raises nothing into the grader
    assert any("nested too deeply" in n for n in prepared.notices), prepared.notices
    assert {p.name for p in prepared.folder.glob("*.py")} >= {"penalties.py", "model.py", "data.py", "train.py"}


def test_a_declared_encoding_that_fails_its_own_way_is_the_submissions(tmp_path):
    # idna and punycode raise UnicodeError itself, not UnicodeDecodeError, on bytes they cannot decode.
    sub = tmp_path / "sub"
    shutil.copytree(COMPLETE, sub)
    (sub / "penalties.py").write_bytes(b"# -*- coding: idna -*-\nx = a.xn--9999999999.b\n")
    work = tmp_path / "work"
    work.mkdir()
    prepared = intake.prepare(sub, work)  # raises nothing into the grader
    assert prepared.modules.get("penalties") == "syntax_error", prepared


@pytest.mark.parametrize("kind", ["zip", "tar.xz"])
def test_a_damaged_lzma_archive_is_unreadable_not_a_grader_error(tmp_path, kind):
    import tarfile
    import zipfile

    archive = tmp_path / f"lab.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_LZMA) as zf:
            for path in sorted(COMPLETE.glob("*.py")):
                zf.write(path, f"lab/{path.name}")
    else:
        with tarfile.open(archive, "w:xz") as tf:
            tf.add(COMPLETE, "lab")
    data = bytearray(archive.read_bytes())
    start = len(data) // 10 if kind == "zip" else len(data) * 3 // 4  # inside a member's compressed data
    for i in range(start, start + 64):
        data[i] ^= 0x55
    archive.write_bytes(bytes(data))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(intake.IntakeError) as caught:
        intake.prepare(archive, work)
    assert caught.value.status == intake.UNREADABLE


# ---------------------------------------------------------------- through `grade`, per backend


def simulated(*flags: str) -> list[str]:
    return ["unshare", "--mount", "--propagation", "private", sys.executable, str(SIMULATE), *flags, "--"]


def backends() -> list[tuple[str, list[str], str]]:
    found = []
    if LINUX and choose("auto").name == "bwrap":
        found.append(("bwrap", [], "bwrap"))
    if LINUX and os.geteuid() == 0 and shutil.which("unshare") and not cannot_simulate(str(REPO)):
        try:
            import pyseccomp  # noqa: F401
            found.append(("uid", simulated("--python-readable", "--private", str(REPO), "--fresh-tmp",
                                           "--no-namespaces"), "auto"))
        except ImportError:
            pass
    return found


BACKENDS = backends()
SECRET = uuid.uuid4().hex


@functools.lru_cache(maxsize=1)
def shared_cache() -> Path:
    """One expected-data cache (0700, outside TMPDIR) for every batch of this module."""
    return Path(tempfile.mkdtemp(prefix="reglab-provenance-cache-", dir="/var/tmp"))


def grade(prefix: list[str], setting: str, subs: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**{k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")}, "REGLAB_SANDBOX": setting,
               "XDG_CACHE_HOME": str(shared_cache()), "REGLAB_SECRET_SEED": SECRET, **env}
    return subprocess.run([*prefix, sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out),
                           "--no-training", "--jobs", "2"], cwd=REPO, env=environ, capture_output=True, text=True,
                          timeout=1500)


def _params() -> list:
    return [b[0] for b in BACKENDS] or [pytest.param("none", marks=pytest.mark.skip(reason="no sandbox backend here"))]


@pytest.fixture(scope="module")
def base():
    folder = Path(tempfile.mkdtemp(prefix="reglab-provenance-", dir="/var/tmp"))  # 0700: the uid backend checks
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(shared_cache(), ignore_errors=True)


@pytest.fixture(scope="module", params=_params())
def batch(request, base):
    name, prefix, setting = next(b for b in BACKENDS if b[0] == request.param)
    subs, out = base / name / "subs", base / name / "out"
    subs.mkdir(parents=True)
    write_submissions(subs)
    proc = grade(prefix, setting, subs, out)
    return name, proc, out


def _result(out: Path, name: str) -> dict:
    return json.loads((out / name / "results.json").read_text(encoding="utf-8"))


def test_grade_charges_rewrites_crashes_and_parser_bombs_to_the_student(batch):
    backend, proc, out = batch
    assert proc.returncode == 0, (backend, proc.stdout[-3000:], proc.stderr[-3000:])
    assert f"sandbox: {backend}" in proc.stderr
    neighbour = _result(out, "neighbour")
    assert full(neighbour) and not grader_errors(neighbour), neighbour["tests"]

    crashed = _result(out, "rewrite_crash")
    assert not grader_errors(crashed), (backend, crashed["tests"])
    got = parts(crashed)
    assert got["penalties"][0] == 0 and all(got[p][0] == got[p][1] for p in ("model", "data", "train")), got
    output = crashed["extra_data"]["reglab"]["output"]
    assert "DENIED" in output and "__init__.py" in output, output[-2000:]
    assert not [line for line in output.splitlines() if line.startswith("REWROTE") and "/sub/" in line], output[-2000:]

    for bomb in BOMBS:
        result = _result(out, f"bomb_{bomb}.ipynb")
        assert not grader_errors(result), (backend, bomb, result["tests"])
        assert full(result), (backend, bomb, [t for t in result["tests"] if t["status"] != "passed"])
        assert any("nested too deeply" in p for p in result["extra_data"]["reglab"]["problems"]), result["extra_data"]


@pytest.mark.skipif(not any(b[0] == "uid" for b in BACKENDS), reason="the simulated uid backend is not available here")
def test_a_grader_that_cannot_start_any_worker_exits_2_before_grading_anyone(base):
    _, prefix, setting = next(b for b in BACKENDS if b[0] == "uid")
    subs, out, private = base / "tmpdir" / "subs", base / "tmpdir" / "out", base / "tmpdir" / "private"
    subs.mkdir(parents=True)
    private.mkdir(mode=0o700)  # a careful TA's TMPDIR: root's alone
    shutil.copytree(COMPLETE, subs / "neighbour")
    proc = grade(prefix, setting, subs, out, TMPDIR=str(private))
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    assert "known-good" in proc.stderr and "PermissionError" in proc.stderr, proc.stderr[-3000:]
    assert "TMPDIR" in proc.stderr and str(private) in proc.stderr, proc.stderr[-3000:]
    assert not list(out.glob("*/results.json")) and not (out / "grades.csv").exists()
