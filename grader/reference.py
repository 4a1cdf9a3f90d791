"""What the reference (and each known mistake) gives on every probe: the grader's expected data.

Computed in the grader's own process from ``solution/`` — never in the worker — and cached on
disk as plain arrays keyed by the sources that produced it, so a student's repeated self-checks
do not pay for it (nor import torch here). A release ships the same file instead of the reference.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sandbox import ProbeOutcome

PACKAGE_ROOT = Path(__file__).resolve().parent
REFERENCE_NAME = "reglab_reference"
REFERENCE = "reference"
ALTERNATIVE = "reference_true"   # the reference without stand-ins (for students who inline a penalty)
FORMAT = 1


@dataclass(frozen=True)
class Expected:
    """``variant -> probe -> ProbeOutcome`` for the reference, its alternative and the mutants."""

    table: dict[str, dict[str, ProbeOutcome]]
    mistakes: dict[str, str]      # mutant name -> the mistake it names

    def reference(self, probe: str) -> ProbeOutcome | None:
        return self.table.get(REFERENCE, {}).get(probe)

    def accepted(self, probe: str) -> list[dict]:
        """Results that count as correct: the reference's, and its alternative where there is one."""
        found = [self.table.get(v, {}).get(probe) for v in (REFERENCE, ALTERNATIVE)]
        return [o.values for o in found if o is not None and o.ok]

    def mutants(self, probe: str) -> list[tuple[str, dict]]:
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
    files = sorted(solution.glob("*.py")) + sorted((PACKAGE_ROOT / "worker").glob("*.py")) + [PACKAGE_ROOT / "mutants.py"]
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:20]


def load_reference(solution: Path):
    """Import ``solution/`` under a private package name (in the grader's process only)."""
    from .worker.impl import MODULES, Impl

    if REFERENCE_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(REFERENCE_NAME, solution / "__init__.py",
                                                      submodule_search_locations=[str(solution)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[REFERENCE_NAME] = package
        spec.loader.exec_module(package)
    modules = {m: importlib.import_module(f"{REFERENCE_NAME}.{m}") for m in MODULES}
    return Impl(modules)


def compute(solution: Path, probes: list[str], seed: str = "") -> Expected:
    import torch

    ref = load_reference(solution)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the worker: the same reduction order, the same float32 rounding
    try:
        return compute_for(ref, probes, seed)
    finally:
        torch.set_num_threads(threads)


def compute_for(ref, probes: list[str], seed: str = "") -> Expected:
    """The expected data of an implementation (the reference) and its mutants on ``probes``."""
    from . import mutants
    from .worker.probes import PROBES, run

    table: dict[str, dict[str, ProbeOutcome]] = {REFERENCE: {}, ALTERNATIVE: {}}
    for name in probes:
        table[REFERENCE][name] = _attempt(lambda: run(ref, name, seed=seed))
        if PROBES[name].uses_standins:
            table[ALTERNATIVE][name] = _attempt(lambda: run(ref, name, standins_on=False, seed=seed))
    for m in mutants.MUTANTS:
        with ref.patched(m.build(ref)):
            table[m.name] = {name: _attempt(lambda: run(ref, name, seed=seed)) for name in m.probes if name in probes}
    return Expected(table, {m.name: m.mistake for m in mutants.MUTANTS})


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
    """One ``.npz`` of arrays plus one ``.json`` of everything else; both written atomically."""
    arrays, meta = {}, {"format": FORMAT, "mistakes": expected.mistakes, "table": {}}
    for variant, rows in expected.table.items():
        for probe, outcome in rows.items():
            scalars = {}
            for key, value in outcome.values.items():
                if isinstance(value, np.ndarray):
                    arrays[f"{variant}|{probe}|{key}"] = value
                else:
                    scalars[key] = value
            meta["table"].setdefault(variant, {})[probe] = {"status": outcome.status, "message": outcome.message,
                                                            "values": scalars}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with open(tmp.with_suffix(".npz"), "wb") as fh:
        np.savez(fh, **arrays)
    tmp.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp.with_suffix(".npz"), path.with_suffix(".npz"))
    os.replace(tmp.with_suffix(".json"), path.with_suffix(".json"))


def load(path: Path) -> Expected:
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: expected-data format {meta.get('format')} is not {FORMAT}")
    table: dict[str, dict[str, ProbeOutcome]] = {}
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for variant, rows in meta["table"].items():
        for probe, row in rows.items():
            values = dict(row["values"])
            prefix = f"{variant}|{probe}|"
            values.update({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
            table.setdefault(variant, {})[probe] = ProbeOutcome(row["status"], values=values, message=row["message"])
    return Expected(table, dict(meta["mistakes"]))


def seed_tag(seed: str) -> str:
    """The cache's name for a seed: "" (public) keeps the plain name; a secret only its hash."""
    return "" if not seed else "-s" + hashlib.sha256(b"reglab-seed\0" + seed.encode()).hexdigest()[:16]


def expected_for(solution: Path | None, packaged: Path | None, cache_dir: Path, probes: list[str],
                 seed: str = "") -> Expected:
    """The expected data for the probes' inputs drawn from ``seed`` ("" = public): from the
    reference (cached by source key and seed) or, in a release, the packaged file (public seed only)."""
    if solution is None or not (solution / "__init__.py").is_file():
        if packaged is None or not packaged.with_suffix(".json").is_file():
            raise FileNotFoundError("neither the reference solution nor packaged expected data was found")
        if seed:
            raise FileNotFoundError("packaged expected data holds the public seed only: grading with a secret "
                                    "seed needs the reference solution")
        return load(packaged)
    path = cache_dir / f"expected-{source_key(solution)}{seed_tag(seed)}"
    with _COMPUTING:  # the computation patches the reference's modules: one thread at a time
        if path.with_suffix(".json").is_file() and path.with_suffix(".npz").is_file():
            try:
                return load(path)
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache is recomputed
        compute_apart(solution, probes, seed, path)
        return load(path)


_COMPUTING = threading.Lock()

# The reference's probes need torch (about 800 MB resident): they run in a child process, so that the
# judging process stays small however many submissions it grades. The seed goes over stdin, never
# on a command line (which other users' processes can read in /proc).
_CHILD = ("import json, sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; "
          "from grader.reference import compute, save; a = json.load(sys.stdin); "
          "save(compute(Path(a['solution']), a['probes'], a['seed']), Path(a['path']))")


def compute_apart(solution: Path, probes: list[str], seed: str, path: Path) -> None:
    """Compute the expected data in a child process and save it at ``path`` (the cache)."""
    import subprocess

    here = Path(__file__).resolve().parent.parent  # the folder holding this grader package
    request = json.dumps({"solution": str(solution), "probes": list(probes), "seed": seed, "path": str(path)})
    proc = subprocess.run([sys.executable, "-I", "-c", _CHILD, str(here)], input=request, text=True,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"computing the expected data failed:\n{proc.stderr[-3000:]}")


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
