"""Running untrusted submissions: a worker child process with limits, killed with everything it started.

Only the files the worker writes in its result folder come back, read as plain data
(``np.load(allow_pickle=False)`` and JSON); exit codes and printed text are never results.
A hang or crash costs the import or probe it happened in: the worker is started again for the
probes that are left, with the culprit module replaced by a stand-in.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .isolation import copy_submission, environment, jail_prefix, kill, rlimits, sweep

MAX_RESULT_BYTES = 64 << 20    # one probe's result files


@dataclass(frozen=True)
class Limits:
    probe_timeout: float = 20.0     # seconds of wall time for one probe
    startup_timeout: float = 90.0   # starting Python and torch, before any student code runs
    import_timeout: float = 20.0    # importing one of the submission's modules
    total_timeout: float = 300.0    # the whole submission
    memory_mb: int = 8192           # address space (torch alone maps about 3.5 GB)
    file_mb: int = 128              # largest file the worker may write (output log included)
    output_kb: int = 64             # printed text kept for the report
    threads: int = 1


@dataclass(frozen=True)
class ProbeOutcome:
    status: str                     # ok | not_implemented | raised | bad_return | missing | import_error
                                    # | timeout | crashed | grader
    values: dict = field(default_factory=dict)
    message: str = ""
    location: str = ""
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class SandboxRun:
    outcomes: dict[str, ProbeOutcome]
    module_errors: dict[str, str]   # module -> why it could not be imported
    output: str                     # what the student's code printed (capped)
    starts: int                     # how many workers it took
    elapsed: float
    copied: tuple[str, ...]         # the files that were graded
    problems: tuple[str, ...] = ()  # e.g. files too large or links left out


def _read_result(out_dir: Path, name: str) -> ProbeOutcome | None:
    meta_path, arr_path = out_dir / f"{name}.json", out_dir / f"{name}.npz"
    try:
        if not meta_path.is_file() or meta_path.stat().st_size > MAX_RESULT_BYTES:
            return None
        record = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(record, dict):
            return ProbeOutcome("crashed", message="the worker's result was not a record")
        if record.get("status") != "ok":
            return ProbeOutcome(str(record.get("status", "crashed")), message=str(record.get("message", ""))[:4000],
                                location=str(record.get("location", "")), traceback=str(record.get("traceback", ""))[:4000])
        values = {}
        if not isinstance(record.get("values"), dict):
            return ProbeOutcome("crashed", message="the worker's result had no values")
        for key, value in record["values"].items():
            if isinstance(value, (bool, int, float, str)) or value is None:
                values[str(key)] = value
        if arr_path.stat().st_size > MAX_RESULT_BYTES:
            return ProbeOutcome("crashed", message="the result arrays were too large")
        with np.load(arr_path, allow_pickle=False) as npz:
            for key in npz.files:
                arr = npz[key]
                if arr.dtype.kind in "biuf":
                    values[key] = arr
        return ProbeOutcome("ok", values=values)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        return ProbeOutcome("crashed", message=f"the worker's result could not be read ({type(exc).__name__})")


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return f"exited with status {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


@dataclass(frozen=True)
class Job:
    """What to run: probe names, with settings and a time limit of their own for some."""
    probes: list[str]
    params: dict[str, dict] = field(default_factory=dict)     # probe -> keyword arguments (plain JSON)
    timeouts: dict[str, float] = field(default_factory=dict)  # probe -> seconds, instead of probe_timeout
    inputs: tuple[Path, ...] = ()  # data files for the probes: copied to the worker's inputs/ folder
    seed: str = ""                 # the probes' inputs are drawn from it ("" = the public seed)


def run_probes(submission: Path, probes: list[str] | Job, limits: Limits = Limits(),
               env_extra: dict[str, str] | None = None, hide: tuple[Path, ...] = ()) -> SandboxRun:
    """Run ``probes`` on the submission in a sandboxed worker, restarting it after hangs or crashes.

    ``hide``: folders and files (the reference, expected data) the worker must not be able to read.
    """
    job = probes if isinstance(probes, Job) else Job(list(probes))
    probes = job.probes
    started = time.monotonic()
    deadline = started + limits.total_timeout
    work = Path(tempfile.mkdtemp(prefix="reglab-"))
    try:
        package = work / "sub" / "assignment"
        copied, problems = copy_submission(submission, package)
        out_dir, home, inputs = work / "out", work / "home", work / "inputs"
        for folder in (out_dir, home, inputs):
            folder.mkdir()
        for path in job.inputs:
            shutil.copyfile(path, inputs / path.name)
        log_path = work / "output.log"
        outcomes: dict[str, ProbeOutcome] = {}
        blocked: dict[str, str] = {}
        module_errors: dict[str, str] = {}
        starts = 0
        pending = list(probes)
        while pending and starts <= len(probes) + 4:
            starts += 1
            token = secrets.token_hex(8)
            culprit, status, how = _start_worker(package, dataclasses.replace(job, probes=pending), blocked, out_dir,
                                                 home, log_path, token, limits, env_extra or {}, deadline, hide)
            sweep(token)
            for name in pending:
                result = _read_result(out_dir, name)
                if result is not None:
                    outcomes[name] = result
            pending = [p for p in pending if p not in outcomes]
            if culprit is None:
                break
            kind, name = culprit
            if kind == "startup":  # Python or torch itself did not start: nothing of the student's ran
                for probe in pending:
                    outcomes[probe] = ProbeOutcome("grader", message=f"the worker could not start: it {how}")
                pending = []
                break
            if kind == "import":
                blocked[name] = how
                module_errors[name] = how
            elif kind == "probe" and name in pending:
                outcomes[name] = ProbeOutcome(status, message=how)
                pending.remove(name)
            if time.monotonic() >= deadline:
                break
        for name in pending:
            outcomes[name] = ProbeOutcome("timeout", message=f"the submission used up its total time "
                                                             f"({limits.total_timeout:.0f} s) before this ran")
        output = _read_capped(log_path, limits.output_kb * 1024)
        module_errors.update(_import_errors(out_dir))
        return SandboxRun(outcomes, module_errors, output, starts, time.monotonic() - started, copied, problems)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _import_errors(out_dir: Path) -> dict[str, str]:
    path = out_dir / "imports.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return {str(k): str(v)[:4000] for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _read_capped(path: Path, cap: int) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(cap + 1)
        size = path.stat().st_size
    except OSError:
        return ""
    text = head[:cap].decode("utf-8", "replace")
    return text + (f"\n… [{size - cap} more bytes not shown]" if size > cap else "")


# ``-I`` drops PYTHONPATH and the current folder, so ``-m grader.worker`` would find whichever grader
# is installed, not necessarily this one (a student release or the Gradescope source folder run from
# PYTHONPATH). The worker therefore loads *this* grader package by its location; only the package
# itself is made importable, never the folder around it (which may hold the reference).
_WORKER_BOOT = ("import importlib.util as u, runpy, sys\n"
                "s = u.spec_from_file_location('grader', {init!r}, submodule_search_locations=[{pkg!r}])\n"
                "m = u.module_from_spec(s); sys.modules['grader'] = m; s.loader.exec_module(m)\n"
                "runpy.run_module('grader.worker', run_name='__main__', alter_sys=True)\n")


def worker_command() -> list[str]:
    """The interpreter command line of a worker (its request file's path comes after it)."""
    package = Path(__file__).resolve().parent
    return [sys.executable, "-I", "-c", _WORKER_BOOT.format(init=str(package / "__init__.py"), pkg=str(package))]


def _start_worker(package: Path, job: Job, blocked: dict[str, str], out_dir: Path, home: Path,
                  log_path: Path, token: str, limits: Limits, env_extra: dict[str, str],
                  deadline: float, hide: tuple[Path, ...]) -> tuple[tuple[str, str] | None, str, str]:
    """Run one worker to its end. Returns the import or probe that hung or crashed (None when the
    worker finished), "timeout" or "crashed", and how, in words."""
    read_fd, write_fd = os.pipe()
    request = out_dir.parent / "request.json"
    prefix = jail_prefix()
    jail = {"hide_dirs": [str(p) for p in hide if p.is_dir()], "hide_files": [str(p) for p in hide if p.is_file()],
            "work_dir": str(out_dir.parent)} if prefix else None
    request.write_text(json.dumps({"package_dir": str(package), "probes": job.probes, "params": job.params,
                                   "seed": job.seed,
                                   "blocked": blocked, "out_dir": str(out_dir), "status_fd": write_fd,
                                   "threads": limits.threads, "jail": jail}))
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([*prefix, *worker_command(), str(request)],
                                cwd=home, env=environment(home, token, limits.threads, env_extra),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                pass_fds=(write_fd,), start_new_session=True, preexec_fn=rlimits(limits))
    os.close(write_fd)
    current: tuple[str, str] | None = ("import", "torch")
    step_limit = limits.startup_timeout  # seconds allowed for the current step
    step_deadline = time.monotonic() + step_limit
    buffer = b""
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as status:
            while True:
                now = time.monotonic()
                wait = min(step_deadline, deadline) - now
                if wait <= 0:
                    kill(proc)
                    limit = "its total time" if deadline <= step_deadline else f"its time limit ({step_limit:.0f} s)"
                    return _culprit(current), "timeout", f"did not finish within {limit}"
                ready, _, _ = select.select([status], [], [], wait)
                if not ready:
                    continue
                chunk = status.read(65536)
                if not chunk:  # the worker closed the pipe: it ended (or closed it itself)
                    try:
                        proc.wait(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
                    except subprocess.TimeoutExpired:
                        kill(proc)
                    code = proc.returncode
                    if current is None and code == 0:
                        return None, "", ""
                    return _culprit(current), "crashed", f"the process {_signal_name(code)}"
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    words = line.decode("utf-8", "replace").split()
                    if words[:1] == ["I"] and len(words) == 2:
                        current, step_limit = ("import", words[1]), limits.import_timeout
                    elif words[:1] == ["S"] and len(words) == 2:
                        current, step_limit = ("probe", words[1]), job.timeouts.get(words[1], limits.probe_timeout)
                    elif words[:1] in (["R"], ["E"]):  # between steps: no student function is running
                        current, step_limit = None, limits.probe_timeout
                    else:
                        continue
                    step_deadline = time.monotonic() + step_limit
    finally:
        kill(proc)


def _culprit(current: tuple[str, str] | None) -> tuple[str, str] | None:
    if current is None or current == ("import", "torch"):
        return ("startup", "") if current else ("between", "")
    return current


