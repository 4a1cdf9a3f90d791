"""What the reference (and each known mistake) gives on every probe: the grader's expected data.

Computed in the grader's own process from ``solution/`` — never in the worker — and cached on
disk as plain arrays keyed by the sources that produced it, so a student's repeated self-checks
do not pay for it (nor import torch here). A release ships the same file instead of the reference.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .lab import LABS, current
from .outcome import ProbeOutcome

PACKAGE_ROOT = Path(__file__).resolve().parent
REFERENCE_NAME = "reglab_reference"
REFERENCE = "reference"
ALTERNATIVE = "reference_true"   # the reference without stand-ins (for students who inline a penalty)
FORMAT = 2  # 2: every array in one buffer (one read, not one zip member each)


@dataclass(frozen=True)
class Expected:
    """``variant -> probe -> ProbeOutcome`` for the reference, its alternative and the mutants."""

    table: dict[str, dict[str, ProbeOutcome]]
    mistakes: dict[str, str]      # mutant name -> the mistake it names
    # A probe's known mistakes' results (mutant -> outcome), computed the first time they are asked for:
    # one submission's own inputs (grader/derive.py) pay for the mutants only where a check fails.
    fill: Callable[[str], dict[str, ProbeOutcome]] | None = field(default=None, compare=False, repr=False)
    _filled: set = field(default_factory=set, compare=False, repr=False)

    def reference(self, probe: str) -> ProbeOutcome | None:
        return self.table.get(REFERENCE, {}).get(probe)

    def accepted(self, probe: str) -> list[dict]:
        """Results that count as correct: the reference's, and its alternative where there is one."""
        found = [self.table.get(v, {}).get(probe) for v in (REFERENCE, ALTERNATIVE)]
        return [o.values for o in found if o is not None and o.ok]

    def mutants(self, probe: str) -> list[tuple[str, dict]]:
        if self.fill is not None and probe not in self._filled:
            self._filled.add(probe)
            for name, outcome in self.fill(probe).items():
                self.table.setdefault(name, {})[probe] = outcome
        return [(name, rows[probe].values) for name, rows in self.table.items()
                if name in self.mistakes and probe in rows and rows[probe].ok]

    def without(self, probes: set[str]) -> "Expected":
        """A copy that leaves these probes out (hidden checks in a student release)."""
        return Expected({v: {p: o for p, o in rows.items() if p not in probes} for v, rows in self.table.items()},
                        self.mistakes)


def source_key(solution: Path) -> str:
    """Changes whenever anything that shapes the expected data changes."""
    versions = f"{FORMAT} {sys.version_info[:2]} {np.__version__} {importlib.metadata.version('torch')}"
    h = hashlib.sha256(versions.encode())
    files = sorted(solution.glob("*.py")) + sorted((PACKAGE_ROOT / "worker").glob("*.py"))
    files += sorted((LABS / current().name).glob("*.py"))  # the lab's names and its known mistakes
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:20]


def load_reference(solution: Path):
    """Import ``solution/`` under a private package name (in the grader's process only)."""
    from .worker.impl import Impl

    if REFERENCE_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(REFERENCE_NAME, solution / "__init__.py",
                                                      submodule_search_locations=[str(solution)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[REFERENCE_NAME] = package
        spec.loader.exec_module(package)
    modules = {m: importlib.import_module(f"{REFERENCE_NAME}.{m}") for m in current().modules}
    return Impl(modules, trusted=True)


def compute(solution: Path, probes: list[str], seeds: Mapping[str, str] | None = None,
            variants: str = "all") -> Expected:
    """``seeds``: probe -> seed string (absent: the public seed); ``variants``: "all", "reference" (and
    its alternative) or "mutants"."""
    import torch

    ref = load_reference(solution)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the worker: the same reduction order, the same float32 rounding
    try:
        return compute_for(ref, probes, seeds or {}, variants)
    finally:
        torch.set_num_threads(threads)


def compute_for(ref, probes: list[str], seeds: Mapping[str, str] | None = None, variants: str = "all") -> Expected:
    """The expected data of an implementation (the reference) and its mutants on ``probes``."""
    mutants = current().mutants()
    from .worker.probing import PROBES, run

    current().probes()

    seeds = seeds or {}
    table: dict[str, dict[str, ProbeOutcome]] = {REFERENCE: {}, ALTERNATIVE: {}}
    if variants in ("all", "reference"):
        for name in probes:
            seed = seeds.get(name, "")
            table[REFERENCE][name] = _attempt(lambda: run(ref, name, seed=seed))
            if PROBES[name].uses_standins:
                table[ALTERNATIVE][name] = _attempt(lambda: run(ref, name, standins_on=False, seed=seed))
    if variants in ("all", "mutants"):
        for m in mutants:
            with ref.patched(m.build(ref)):
                table[m.name] = {name: _attempt(lambda: run(ref, name, seed=seeds.get(name, "")))
                                 for name in m.probes if name in probes}
    return Expected(table, {m.name: m.mistake for m in mutants})


def _attempt(fn) -> ProbeOutcome:
    import torch

    state = torch.random.get_rng_state()
    try:
        values = fn()
        return ProbeOutcome("ok", values={k: (np.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in values.items()})
    except Exception as exc:  # noqa: BLE001 - a mutant may well raise on some probe
        return ProbeOutcome("raised", message=f"{type(exc).__name__}: {exc}")
    finally:
        torch.random.set_rng_state(state)


def save(expected: Expected, path: Path) -> None:
    """One ``.npz`` holding every array in one buffer, plus one ``.json`` of everything else (the
    buffer's index included); both written atomically."""
    blob, meta = _split(expected)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with open(tmp.with_suffix(".npz"), "wb") as fh:
        np.savez(fh, data=blob)
    tmp.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp.with_suffix(".npz"), path.with_suffix(".npz"))
    os.replace(tmp.with_suffix(".json"), path.with_suffix(".json"))


def _split(expected: Expected) -> tuple[np.ndarray, dict]:
    """The arrays packed in one byte buffer (indexed "variant|probe|key" -> [dtype, shape, offset] in
    the JSON-able rest)."""
    meta = {"format": FORMAT, "mistakes": expected.mistakes, "table": {}, "index": {}}
    chunks, offset = [], 0
    for variant, rows in expected.table.items():
        for probe, outcome in rows.items():
            scalars = {}
            for key, value in outcome.values.items():
                if isinstance(value, np.ndarray):
                    data = np.ascontiguousarray(value)
                    meta["index"][f"{variant}|{probe}|{key}"] = [data.dtype.str, list(data.shape), offset]
                    raw = data.reshape(-1).view(np.uint8)
                    pad = -raw.size % 8  # every array starts 8-aligned
                    chunks += [raw, np.zeros(pad, np.uint8)]
                    offset += raw.size + pad
                else:
                    scalars[key] = value
            meta["table"].setdefault(variant, {})[probe] = {"status": outcome.status, "message": outcome.message,
                                                            "values": scalars}
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)), meta


def load(path: Path) -> Expected:
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: expected-data format {meta.get('format')} is not {FORMAT}")
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as npz:
        return _join(npz["data"], meta)


def _join(blob: np.ndarray, meta: dict) -> Expected:
    by_row: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for name, (dtype, shape, offset) in meta["index"].items():  # "variant|probe|key": probe names hold no "|"
        variant, probe, key = name.split("|", 2)
        dtype = np.dtype(dtype)
        size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        by_row.setdefault((variant, probe), {})[key] = blob[offset:offset + size].view(dtype).reshape(shape)
    table: dict[str, dict[str, ProbeOutcome]] = {}
    for variant, rows in meta["table"].items():
        for probe, row in rows.items():
            values = {**row["values"], **by_row.get((variant, probe), {})}
            table.setdefault(variant, {})[probe] = ProbeOutcome(row["status"], values=values, message=row["message"])
    return Expected(table, dict(meta["mistakes"]))


def seed_tag(seeds: Mapping[str, str]) -> str:
    """The cache's name for the probes' seeds: none (public) keeps the plain name; others only a hash."""
    if not seeds:
        return ""
    return "-s" + hashlib.sha256(json.dumps(sorted(seeds.items())).encode()).hexdigest()[:16]


def expected_for(solution: Path | None, packaged: Path | None, cache_dir: Path, probes: list[str],
                 seeds: Mapping[str, str] | None = None) -> Expected:
    """The expected data for the probes' inputs drawn from ``seeds`` (probe -> seed; none = public):
    from the reference (cached by source key and seeds) or, in a release, the packaged file."""
    seeds = dict(seeds or {})
    if solution is None or not (solution / "__init__.py").is_file():
        if packaged is None or not packaged.with_suffix(".json").is_file():
            raise FileNotFoundError("neither the reference solution nor packaged expected data was found")
        if seeds:
            raise FileNotFoundError("packaged expected data holds its own seeds only: grading with a secret "
                                    "seed needs the reference solution")
        return load(packaged)
    path = cache_dir / f"expected-{source_key(solution)}{seed_tag(seeds)}"
    with _CACHING:  # one computation of the shared file: whoever comes next reads it
        if path.with_suffix(".json").is_file() and path.with_suffix(".npz").is_file():
            try:
                return load(path)
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache is recomputed
        with _POOL.server() as server:
            save(server.compute(solution, probes, seeds, "all"), path)
        return load(path)


def expected_lazily(solution: Path, probes: list[str], seeds: Mapping[str, str]) -> Expected:
    """One submission's expected data, for its own derived seeds (never cached on disk: about 12 MB a
    submission, and --resume keeps what was graded from the same content anyway): the reference's
    results now; a probe's known mistakes only when a check asks for them."""
    with _POOL.server() as server:
        found = server.compute(solution, probes, seeds, "reference")

    def fill(probe: str) -> dict[str, ProbeOutcome]:
        try:
            with _POOL.server() as server:
                more = server.compute(solution, [probe], seeds, "mutants")
        except Exception as exc:  # noqa: BLE001 - only the hint is lost: the verdict never reads these
            print(f"reglab: the known mistakes of {probe} could not be computed: {exc}", file=sys.stderr)
            return {}
        return {name: rows[probe] for name, rows in more.table.items() if name in more.mistakes and probe in rows}
    return Expected({v: dict(rows) for v, rows in found.table.items()}, found.mistakes, fill=fill)


_CACHING = threading.Lock()


class ReferenceServer:
    """The reference's probes need torch (about 800 MB resident): they run in a child process, started
    on first use and kept (torch and the reference imported once, submission after submission computed
    there), so that the judging process stays small however many submissions it grades. Requests go
    over its stdin (a derived seed never on a command line, which other users' processes can read in
    /proc); each answer comes back on its stdout as two length-prefixed blobs (JSON, then the arrays'
    bytes it indexes: no pickle). One request at a time: see ``ReferencePool``."""

    def __init__(self):
        self.proc = None

    def compute(self, solution: Path, probes: list[str], seeds: Mapping[str, str], variants: str) -> Expected:
        request = json.dumps({"solution": str(solution), "probes": list(probes), "seeds": dict(seeds),
                              "variants": variants}).encode() + b"\n"
        for attempt in (1, 2):  # a child that died since the last request is started again, once
            self.start(solution)
            try:
                self.proc.stdin.write(request)
                self.proc.stdin.flush()
                meta = json.loads(self._blob())
                arrays = self._blob()
                break
            except (OSError, ValueError, EOFError):
                self.close()
                if attempt == 2:
                    raise
        if "error" in meta:
            raise RuntimeError(f"computing the expected data failed:\n{meta['error'][-3000:]}")
        return _join(np.frombuffer(bytearray(arrays), np.uint8), meta)

    def _blob(self) -> bytes:
        head = self.proc.stdout.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        data = self.proc.stdout.read(size) if size >= 0 else b""
        if size < 0 or len(data) != size:
            raise EOFError("the expected-data process ended")
        return data

    def start(self, solution: Path) -> None:
        """Start the child now: it imports torch, the probes, the mutants and the reference before its
        first request."""
        if self.proc is None or self.proc.poll() is not None:
            import subprocess

            from .isolation import thread_environment

            here = Path(__file__).resolve().parent.parent  # the folder holding this grader package
            # One thread, as in the worker (an idle OpenBLAS thread had doubled this process's CPU:
            # 0.59 s a submission, 0.35 s now).
            self.proc = subprocess.Popen([sys.executable, "-I", "-c", _SERVE, str(here), str(solution)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         env={**os.environ, **thread_environment(1)})

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                stream.close()
            self.proc = None


def serve(solution: str) -> None:
    """The child's loop: one request a line on stdin, one answer (or the error) on stdout."""
    out = os.fdopen(os.dup(1), "wb")  # the answers' own descriptor: anything printed goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    from .worker import lazyvision

    lazyvision.install()  # as in a worker: torchvision's zoo, datasets, io and ops (torch._dynamo) only if used
    current().mutants()  # imported (with torch and the probes) before the first request
    current().probes()

    load_reference(Path(solution))
    for line in sys.stdin.buffer:
        try:
            a = json.loads(line)
            blob, meta = _split(compute(Path(a["solution"]), a["probes"], a["seeds"], a["variants"]))
            blobs = (json.dumps(meta).encode(), blob.tobytes())
        except Exception:  # noqa: BLE001 - said to the grader, which reports it as its own failure
            import traceback

            blobs = (json.dumps({"error": traceback.format_exc()}).encode(), b"")
        for blob in blobs:
            out.write(len(blob).to_bytes(8, "little") + blob)
        out.flush()


_SERVE = "import sys; sys.path.insert(0, sys.argv[1]); from grader.reference import serve; serve(sys.argv[2])"


class ReferencePool:
    """At most ``size`` reference processes, each lent to one computation at a time. A batch that
    derives every submission's inputs computes the reference (and, where a check fails, its known
    mistakes) for each: about half of a submission's CPU. One process was busy 90% of a class's wall
    time with ``--jobs 2`` on 2 cores, and would cap a batch on a larger machine; see ``prestart``."""

    def __init__(self):
        self.size, self.made, self.idle = 1, 0, []
        self.free = threading.Condition()

    @contextlib.contextmanager
    def server(self):
        with self.free:
            while not self.idle and self.made >= self.size:
                self.free.wait()
            if self.idle:
                server = self.idle.pop()
            else:
                server, self.made = ReferenceServer(), self.made + 1
        try:
            yield server
        finally:
            with self.free:
                self.idle.append(server)
                self.free.notify()

    def prestart(self, solution: Path, size: int) -> None:
        with self.free:
            self.size = max(self.size, size)
        with self.server() as server:
            server.start(solution)


_POOL = ReferencePool()


def prestart(solution: Path, jobs: int = 1) -> None:
    """Start computing the expected data now: a batch that derives every submission's inputs needs it
    for the first submission, and its imports overlap the fork server's. A batch of ``jobs`` may use one
    reference process per two jobs that can run at once (the reference is about half of the CPU; each
    process holds torch, about 800 MB): the first starts now, the others when first needed."""
    _POOL.prestart(solution, max(1, min(jobs, os.cpu_count() or 1) // 2))


SECRET_FILE = ".reglab-secret"


def course_seed(secret: str, out: Path) -> str:
    """The seed ``grade`` draws its probes' inputs from: the course secret when one is set, else a
    random secret kept in the output folder (created once, mode 0600, so that grading the same
    folder again, or resuming, uses the same inputs). Never the public seed: results written back
    from a release's expected data match nothing."""
    if secret:
        return secret
    path = Path(out) / SECRET_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(16)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another grader created it first: use theirs
        return path.read_text(encoding="utf-8").strip() or value
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value
