"""Grade the fixture submissions of tests/fixtures and check the grader's verdicts.

- ``MUTATIONS``: one realistic student mistake each. Its part must lose points, every other part
  must keep full marks, and a failing check of that part must name the mistake (its keyword).
- ``variants/<name>``: correct implementations written differently from the reference: full marks.
- ``hostile/<name>``: code that attacks the grader; ``expect.json`` says what can be asserted.

Each fixture is graded once per session (``GradingCache``), three at a time in spawned worker
processes (``REGLAB_FIXTURE_JOBS`` sets how many; 1 grades sequentially in this process), with
the grader's expected data cached in the session's temporary folder. Hostile fixtures run with
shorter probe/import timeouts than the defaults (they hang on purpose).
"""
from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import dataclasses
import importlib.util
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

import pytest

from grader.config import Config
from grader.grading import grade_submission
from grader.results import Outcome, SubmissionResult

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _load(name: str):
    """Load tests/fixtures/<name>.py by path (independent of how pytest imports test modules)."""
    spec = importlib.util.spec_from_file_location(f"reglab_test_fixtures_{name}", FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_build = _load("build")
_mutations = _load("mutations")
build_submission = _build.build_submission
MUTATIONS = _mutations.MUTATIONS
MUTATIONS_BY_NAME = {m.name: m for m in MUTATIONS}

GRADED_PARTS = ("penalties", "model", "data", "train")
VARIANT_DIRS = {p.name: p for p in sorted((FIXTURES / "variants").iterdir()) if p.is_dir()}
HOSTILE_DIRS = {p.name: p for p in sorted((FIXTURES / "hostile").iterdir()) if p.is_dir()}

# Placeholders in hostile fixtures, replaced in the built copy (never in tests/fixtures itself).
TOKEN_PLACEHOLDER = "__REGLAB_RUN_TOKEN__"
RECORD_DIR_PLACEHOLDER = "__REGLAB_RECORD_DIR__"
RECORD_PREFIX = "REGLAB-HOSTILE"

# Hostile fixtures hang on purpose: shorter limits than the defaults keep the file fast.
# (Only lowered, and only where the Config has the field.)
HOSTILE_LIMITS = {"probe_timeout": 5.0, "import_timeout": 20.0}
EXPECT_KEYS = {"why", "full", "zero_parts", "full_parts", "not_full_parts", "not_full", "leftovers",
               "records_required", "max_output_chars", "allow_grader_error"}


def base_config(cache: Path | None = None) -> Config:
    """``Config(training=False)``, with the expected data cached in this session's own folder (a
    shared ~/.cache/reglab may hold data computed from other versions of the sources)."""
    config = Config(training=False)
    if cache is not None and hasattr(config, "cache"):
        config = dataclasses.replace(config, cache=cache)
    return config


def hostile_config(cache: Path | None = None) -> Config:
    base = base_config(cache)
    lower = {k: min(v, getattr(base, k)) for k, v in HOSTILE_LIMITS.items() if hasattr(base, k)}
    return dataclasses.replace(base, **lower) if lower else base


def _expect(folder: Path) -> dict:
    return json.loads((folder / "expect.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- grading cache

@dataclasses.dataclass
class Graded:
    key: str
    path: Path | None = None
    token: str = ""
    result: SubmissionResult | None = None
    error: str | None = None          # traceback of a failure to build or grade


class GradingCache:
    """Builds each fixture once (in this process) and grades it once.

    With ``jobs > 1`` the gradings run in a pool of *processes* (spawned): ``grade_submission``
    computes the expected data in its own process, with global state (torch's RNG, the reference
    modules it patches with mutants, temporary cache files named by pid), so concurrent gradings
    must not share a process.
    """

    def __init__(self, root: Path, jobs: int):
        self.root = root
        self.record_dir = root / "records"
        self.cache_dir = root / "expected-cache"
        for folder in (self.record_dir, self.cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.jobs = max(1, jobs)
        self._entries: dict[str, tuple[Graded, concurrent.futures.Future | None]] = {}
        self._pool = None
        if self.jobs > 1:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.jobs, mp_context=multiprocessing.get_context("spawn"))

    # -- building
    def build(self, key: str, token: str) -> Path:
        kind, name = key.split(":", 1)
        dest = self.root / kind / name
        if kind == "reference":
            return build_submission(dest)
        if kind == "mutation":
            return build_submission(dest, mutation=MUTATIONS_BY_NAME[name])
        if kind == "variant":
            return build_submission(dest, overlay=VARIANT_DIRS[name])
        if kind == "hostile":
            build_submission(dest, overlay=HOSTILE_DIRS[name])
            for py in dest.glob("*.py"):
                text = py.read_text(encoding="utf-8")
                if TOKEN_PLACEHOLDER in text or RECORD_DIR_PLACEHOLDER in text:
                    py.write_text(text.replace(TOKEN_PLACEHOLDER, token)
                                  .replace(RECORD_DIR_PLACEHOLDER, str(self.record_dir)), encoding="utf-8")
            return dest
        raise KeyError(key)

    def config_for(self, key: str) -> Config:
        return hostile_config(self.cache_dir) if key.startswith("hostile:") else base_config(self.cache_dir)

    # -- scheduling
    def submit(self, key: str) -> None:
        if key in self._entries:
            return
        graded = Graded(key, token=uuid.uuid4().hex)
        future = None
        try:
            graded.path = self.build(key, graded.token)
            if self._pool is not None:
                future = self._pool.submit(grade_submission, graded.path, self.config_for(key))
        except BaseException:  # noqa: BLE001 - reported by the test that needs this fixture
            graded.error = "building the submission failed:\n" + traceback.format_exc()
        self._entries[key] = (graded, future)

    def prefetch(self, keys: list[str]) -> None:
        if self._pool is None or not keys:
            return
        # The first grading computes the expected data and caches it on disk: let it finish
        # before the others start, so that they load it instead of computing it again.
        self.submit(keys[0])
        self.get(keys[0])
        # Hostile fixtures mostly wait (for their own timeouts): spread them among the others so
        # that the waiting overlaps with gradings that use the CPU.
        rest = keys[1:]
        slow = [k for k in rest if k.startswith("hostile:")]
        fast = [k for k in rest if not k.startswith("hostile:")]
        order, every = [], max(1, len(fast) // (len(slow) + 1))
        for i, key in enumerate(fast):
            if slow and i % every == 0:
                order.append(slow.pop(0))
            order.append(key)
        for key in order + slow:
            self.submit(key)

    def get(self, key: str) -> Graded:
        self.submit(key)
        graded, future = self._entries[key]
        if graded.result is not None or graded.error is not None:
            return graded
        try:
            if future is None:
                graded.result = grade_submission(graded.path, self.config_for(key))
            else:
                try:
                    graded.result = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    # The pool died (not the grading): grade here instead.
                    graded.result = grade_submission(graded.path, self.config_for(key))
            if not isinstance(graded.result, SubmissionResult):
                graded.error = f"grade_submission returned {type(graded.result).__name__}, not a SubmissionResult"
        except BaseException:  # noqa: BLE001
            graded.error = traceback.format_exc()
        return graded

    def close(self) -> None:
        """Wait for the gradings, then clean up after every hostile fixture (also those whose test
        did not run, e.g. after ``-x``): kill what it left running, remove the files it forged."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for key, (graded, future) in self._entries.items():
            if key.startswith("hostile:"):
                if future is not None and future.done() and not future.cancelled() and graded.result is None:
                    try:
                        graded.result = future.result()
                    except BaseException:  # noqa: BLE001
                        pass
                _cleanup(self, graded, _records(self, graded))


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory):
    jobs = int(os.environ.get("REGLAB_FIXTURE_JOBS", "3" if (os.cpu_count() or 1) >= 2 else "1"))
    cache = GradingCache(tmp_path_factory.mktemp("fixture-submissions"), jobs)
    here = Path(__file__).resolve()
    wanted = []
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "key" in params and Path(str(item.path)).resolve() == here and params["key"] not in wanted:
            wanted.append(params["key"])
    try:
        cache.prefetch(wanted)
        yield cache
    finally:
        cache.close()


# ---------------------------------------------------------------------------- helpers

def _part(res: SubmissionResult, part: str) -> tuple[float, float]:
    return res.parts().get(part, (0.0, 0.0))


def _graded_total(res: SubmissionResult) -> tuple[float, float]:
    """Score and maximum over the checks that ran (a SKIPPED check, e.g. training, counts for neither)."""
    ran = [c for c in res.checks if c.outcome is not Outcome.SKIPPED]
    return round(sum(c.score for c in ran), 6), round(sum(c.max_score for c in ran), 6)


def _is_full(res: SubmissionResult, part: str) -> bool:
    score, most = _part(res, part)
    return most > 0 and score >= most - 1e-9


def _clip(text, n: int = 600) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= n else text[:n] + f"… [{len(text) - n} more]"


def _describe(res: SubmissionResult, only_part: str | None = None) -> str:
    lines = [f"{res.name}: {res.score}/{res.max_score}  parts={res.parts()}"]
    if res.grader_error:
        lines.append(f"  grader_error: {_clip(res.grader_error, 2000)}")
    for problem in res.problems:
        lines.append(f"  problem: {_clip(problem)}")
    for c in res.checks:
        if c.outcome is Outcome.PASSED or (only_part and c.part != only_part):
            continue
        lines.append(f"  [{c.outcome.value}] {c.id} ({c.score}/{c.max_score}): {_clip(c.message)}")
        for label in ("expected", "got", "mistake", "hint", "location", "traceback"):
            value = getattr(c, label)
            if value:
                lines.append(f"      {label}: {_clip(value)}")
    if res.output:
        lines.append(f"  output (last 400 chars): {res.output[-400:]!r}")
    return "\n".join(lines)


def _result(graded_fixture: Graded) -> SubmissionResult:
    assert graded_fixture.error is None, (
        f"{graded_fixture.key}: building or grading raised instead of returning a result:\n"
        f"{graded_fixture.error}")
    return graded_fixture.result


def _assert_no_grader_errors(res: SubmissionResult) -> None:
    broken = [c for c in res.checks if c.outcome is Outcome.GRADER_ERROR]
    assert res.grader_error is None and not broken, (
        "the grader blamed itself (GRADER_ERROR):\n" + _describe(res))


def _assert_full_marks(res: SubmissionResult, why: str) -> None:
    lost = [c for c in res.checks if c.outcome not in (Outcome.PASSED, Outcome.SKIPPED) or
            (c.outcome is Outcome.PASSED and c.score < c.max_score)]
    not_full = [p for p in GRADED_PARTS if not _is_full(res, p)]
    assert not lost and not not_full, f"expected full marks ({why}); lost points:\n{_describe(res)}"


# ---------------------------------------------------------------------------- processes

def _proc_state(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process, or None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone (FileNotFoundError, or ESRCH while reading)
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], fields[19]


def _running(pid: int, start: str) -> bool:
    """Is the recorded process (same pid *and* start time) still running (zombies do not count)?"""
    if not Path("/proc").is_dir():  # no procfs: the plain existence test
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = _proc_state(pid)
    if state is None or state[0] in ("Z", "X", "x"):
        return False
    return start == "?" or state[1] == start


def _token_processes(token: str) -> list[int]:
    """Live processes whose command line carries the token (the exec'd daemon's)."""
    found, needle = [], token.encode()
    if not Path("/proc").is_dir():
        return found
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            state = _proc_state(int(entry))
            if state is not None and state[0] not in ("Z", "X", "x"):
                found.append(int(entry))
    return found


def _records(cache: GradingCache, g: Graded) -> list[tuple[str, ...]]:
    """The traces a hostile fixture left: files named by its token and lines in the output."""
    lines: list[str] = []
    for folder in {cache.record_dir, Path(tempfile.gettempdir()), Path("/tmp")}:
        path = folder / f"reglab-hostile-{g.token}.pid"
        try:
            lines += path.read_text(errors="replace").splitlines()
        except OSError:
            pass
    if g.result is not None:
        lines += (g.result.output or "").splitlines()
    prefix = f"{RECORD_PREFIX} {g.token} "
    out: list[tuple[str, ...]] = []
    for line in lines:
        line = line.strip()
        if line.startswith(prefix):
            rec = tuple(line[len(prefix):].split())
            if rec and rec not in out:
                out.append(rec)
    return out


def _cleanup(cache: GradingCache, g: Graded, records) -> None:
    """Kill what the fixture left running (verified by pid + start time or token) and remove its files."""
    for rec in records:
        if len(rec) == 3 and rec[1].isdigit() and _running(int(rec[1]), rec[2]):
            try:
                os.kill(int(rec[1]), signal.SIGKILL)
            except OSError:
                pass
        if rec[0] == "forged" and len(rec) >= 2:
            path = Path(" ".join(rec[1:]))
            try:
                if path.is_file() and g.token in path.read_text(errors="replace"):
                    path.unlink()
            except OSError:
                pass
    for pid in _token_processes(g.token):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for folder in {cache.record_dir, Path(tempfile.gettempdir()), Path("/tmp")}:
        (folder / f"reglab-hostile-{g.token}.pid").unlink(missing_ok=True)


def _leftovers(g: Graded, records) -> list[str]:
    deadline = time.monotonic() + 5.0  # a SIGKILLed process may take a moment to go
    while True:
        alive = [f"{rec[0]} pid {rec[1]} (started at tick {rec[2]})" for rec in records
                 if len(rec) == 3 and rec[1].isdigit() and _running(int(rec[1]), rec[2])]
        alive += [f"pid {pid} carrying the run token in its command line" for pid in _token_processes(g.token)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


# ---------------------------------------------------------------------------- the tests

REFERENCE_KEY = "reference:solution"
HOSTILE_KEYS = [f"hostile:{name}" for name in HOSTILE_DIRS]
VARIANT_KEYS = [f"variant:{name}" for name in VARIANT_DIRS]
MUTATION_KEYS = [f"mutation:{m.name}" for m in MUTATIONS]


def _ids(keys):
    return [k.split(":", 1)[1] for k in keys]


def test_fixture_folders_are_well_formed():
    """Cheap structural checks: expect.json, docstrings, variants that are not copies of the reference."""
    assert len(MUTATIONS) >= 26 and {m.part for m in MUTATIONS} == set(GRADED_PARTS)
    assert len(VARIANT_DIRS) >= 10
    reference = {f: (_build.SOLUTION / f).read_text(encoding="utf-8")
                 for f in ("penalties.py", "model.py", "data.py", "train.py")}
    for name, folder in VARIANT_DIRS.items():
        expect = _expect(folder)
        assert expect.get("full") is True and expect.get("why"), name
        assert not set(expect) - EXPECT_KEYS, (name, set(expect) - EXPECT_KEYS)
        files = [p for p in folder.glob("*.py")]
        assert files, f"variant {name} has no .py file"
        for py in files:
            assert py.read_text(encoding="utf-8") != reference.get(py.name), f"variant {name}/{py.name} is a copy"
    for name, folder in HOSTILE_DIRS.items():
        expect = _expect(folder)
        assert expect.get("why"), name
        assert not set(expect) - EXPECT_KEYS, (name, set(expect) - EXPECT_KEYS)
        named = [*expect.get("zero_parts", []), *expect.get("full_parts", []), *expect.get("not_full_parts", [])]
        assert set(named) <= set(GRADED_PARTS) and len(named) == len(set(named)), name
        pys = list(folder.glob("*.py"))
        assert pys, f"hostile {name} has no .py file"
        for py in pys:
            text = py.read_text(encoding="utf-8")
            assert text.lstrip().startswith('"""'), f"hostile {name}/{py.name}: no top docstring"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation_applies_and_imports(mutation, tmp_path):
    """Every old string occurs exactly once in the reference, and the mutated module still imports
    (in this process, as a package of its own: the reference's modules use relative imports)."""
    package = f"reglab_mutant_{mutation.name}"
    folder = build_submission(tmp_path / package, mutation=mutation)
    (folder / "__init__.py").write_text("")
    spec = importlib.util.spec_from_file_location(package, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    sys.modules[package] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[package])
    try:
        importlib.import_module(f"{package}.{mutation.file[:-3]}")
    finally:
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]


@pytest.mark.parametrize("key", [REFERENCE_KEY], ids=["reference"])
def test_reference_gets_full_marks(key, graded):
    res = _result(graded.get(key))
    _assert_no_grader_errors(res)
    _assert_full_marks(res, "the reference solution itself")


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=_ids(HOSTILE_KEYS))
def test_hostile_submission(key, graded):
    name = key.split(":", 1)[1]
    expect = _expect(HOSTILE_DIRS[name])
    g = graded.get(key)
    records = _records(graded, g)
    try:
        res = _result(g)
        problems = []
        for part in expect.get("zero_parts", []):
            score, most = _part(res, part)
            if not (most > 0 and score == 0):
                problems.append(f"{part} must score 0, got {score}/{most}")
        for part in expect.get("full_parts", []):
            if not _is_full(res, part):
                problems.append(f"{part} must keep full marks, got {_part(res, part)}")
        for part in expect.get("not_full_parts", []):
            score, most = _part(res, part)
            if not score < most:
                problems.append(f"{part} must not get full marks, got {score}/{most}")
        earned, most = _graded_total(res)
        if expect.get("not_full") and not earned < most:
            problems.append(f"the total must be below full marks, got {earned}/{most} (skipped checks left out)")
        if not expect.get("allow_grader_error"):
            broken = [c.id for c in res.checks if c.outcome is Outcome.GRADER_ERROR]
            if res.grader_error or broken:
                problems.append(f"the grader blamed itself (GRADER_ERROR) for the student's code: "
                                f"{broken or res.grader_error}")
        if "max_output_chars" in expect:
            cap = int(expect["max_output_chars"])
            texts = {"output": res.output or ""}
            for c in res.checks:
                for label in ("message", "expected", "got", "hint", "mistake", "traceback"):
                    texts[f"{c.id}.{label}"] = getattr(c, label) or ""
            too_long = {k: len(v) for k, v in texts.items() if len(v) > cap}
            if too_long:
                problems.append(f"printed output is not capped at {cap} characters: {too_long}")
        if expect.get("leftovers"):
            procs = [r for r in records if r and r[0] != "forged"]
            if expect.get("records_required") and not procs:
                problems.append("the fixture left no pid record (files reglab-hostile-<token>.pid in "
                                f"{graded.record_dir}, {tempfile.gettempdir()} or /tmp, nor lines in the output): "
                                "cannot check that its processes are gone")
            alive = _leftovers(g, procs)
            if alive:
                problems.append("processes still running after grading returned: " + "; ".join(alive))
        assert not problems, (f"hostile fixture {name} ({expect['why']}):\n  - " + "\n  - ".join(problems) +
                              "\n" + _describe(res))
    finally:
        _cleanup(graded, g, records)


@pytest.mark.parametrize("key", VARIANT_KEYS, ids=_ids(VARIANT_KEYS))
def test_variant_gets_full_marks(key, graded):
    name = key.split(":", 1)[1]
    expect = _expect(VARIANT_DIRS[name])
    res = _result(graded.get(key))
    _assert_no_grader_errors(res)
    _assert_full_marks(res, f"correct variant {name}: {expect['why']}")


@pytest.mark.parametrize("key", MUTATION_KEYS, ids=_ids(MUTATION_KEYS))
def test_mutation_loses_points_in_its_part(key, graded):
    mutation = MUTATIONS_BY_NAME[key.split(":", 1)[1]]
    res = _result(graded.get(key))
    _assert_no_grader_errors(res)
    score, most = _part(res, mutation.part)
    assert score < most, (f"{mutation.name} ({mutation.why}) must lose points in {mutation.part}, "
                          f"got {score}/{most}\n{_describe(res)}")
    others = [p for p in GRADED_PARTS if p != mutation.part and not _is_full(res, p)]
    assert not others, (f"{mutation.name} only breaks {mutation.part}, yet {others} lost points\n"
                        f"{_describe(res)}")
    failing = [c for c in res.checks if c.part == mutation.part and c.outcome is not Outcome.PASSED]
    texts = [f"{c.mistake or ''} {c.hint or ''} {c.message or ''}".lower() for c in failing]
    assert any(mutation.keyword in t for t in texts), (
        f"{mutation.name} ({mutation.why}): no failing {mutation.part} check mentions "
        f"{mutation.keyword!r} in its mistake, hint or message\n{_describe(res, only_part=mutation.part)}")
