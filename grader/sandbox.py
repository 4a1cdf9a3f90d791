"""Running untrusted submissions: what a worker is asked, what comes back, whose fault a failure is.

The grader opens nothing by path in the worker's folder once the worker has started. The request
goes over an inherited pipe; results come back as frames on a pipe the grader created, decoded
with hard caps (``channel.py``); what the worker prints goes to a pipe that is drained and capped
as it comes. Exit codes and printed text are never results. A hang, crash or corrupted channel
costs the import or probe it happened in: the worker is started again for the probes that are
left, with the culprit module replaced by a stand-in.

Whose fault a failure is, is decided by provenance. Each worker starts in a folder rebuilt from the
grader's pristine copy of the submission (a folder the sandbox user cannot reach), with the files
the grader wrote read-only to it: nothing a worker wrote reaches the next one. The worker says
"jailed" on the channel once it is the sandbox user and about to import the submission; whatever
fails after that is the student's. A failure before it is shown as the grader's only once a worker
on a known-good package (``known_good``) fails too; a grader that cannot start that one stops
before grading anyone (``cli.py``).
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import isolation
from .channel import ChannelError, Decoder, Listener, Protocol
from .backends import SCRATCH
from .isolation import environment
from .lab import current
from .safecopy import copy_submission
from .limits import Limits
from .outcome import ProbeOutcome, SandboxRun
from .i18n import _
from .text import clean


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
    seeds: dict[str, str] = field(default_factory=dict)  # probe -> the seed its inputs are drawn from
                                                          # (derived: grader/derive.py; absent = public)
    apart: tuple[str, ...] = ()  # probes each run in a worker of its own, beside the others (grading.run_apart);
                                 # a name may be an instance, "probe/label", with params of its own


def run_probes(submission: Path, probes: list[str] | Job, limits: Limits = Limits(),
               env_extra: dict[str, str] | None = None, hide: tuple[Path, ...] = (),
               listener: Listener | None = None) -> SandboxRun:
    """Run ``probes`` on the submission in a sandboxed worker, restarting it after hangs or crashes.

    ``hide``: folders and files (the reference, expected data) the worker must not be able to read.
    ``listener``: told each import and probe as it starts and the training's progress (display only).
    """
    job = probes if isinstance(probes, Job) else Job(list(probes))
    probes = job.probes
    started = time.monotonic()
    deadline = started + limits.total_timeout * isolation.WALL_FACTOR  # CPU time: RLIMIT_CPU
    pristine = Path(tempfile.mkdtemp(prefix="reglab-"))  # the grader's own (0700): never in a worker's view
    try:
        copied, problems = _pristine(submission, pristine, job.inputs)
        output = Output(limits.output_kb * 1024)
        budget = [limits.caps.submission_bytes]
        outcomes: dict[str, ProbeOutcome] = {}
        blocked: dict[str, str] = {}
        module_errors: dict[str, str] = {}
        starts, failed_before = 0, ""
        pending = list(probes)
        while pending and starts <= len(probes) + 4:
            starts += 1
            end = _run_worker(pristine, dataclasses.replace(job, probes=pending), blocked, limits,
                              env_extra or {}, deadline, hide, output, budget, listener)
            if end.status != "corrupted":  # a corrupted run's results may be forged: none is kept
                outcomes.update(end.protocol.results)
                module_errors.update(end.protocol.import_errors)
            pending = [p for p in pending if p not in outcomes]
            if end.culprit is None:
                break
            kind, name = end.culprit
            if kind == "startup":  # it failed before it was jailed: nothing of the student's ran
                why = _startup_failure(end, failed_before, limits, env_extra or {}, hide)
                if why is None:  # a worker on a known-good package starts: try this one once more
                    failed_before = end.how
                    continue
                for probe in pending:
                    outcomes[probe] = ProbeOutcome("grader", message=why)
                pending = []
                break
            if kind == "import":
                blocked[name] = module_errors[name] = (
                    f"your code corrupted the grader's channel while it was imported: {end.how}"
                    if end.status == "corrupted" else end.how)
            elif kind == "probe" and name in pending:
                outcomes[name] = ProbeOutcome(end.status, message=end.how)
                pending.remove(name)
            elif kind == "between" and pending:  # student code (a thread it left) ended the worker
                outcomes[pending[0]] = ProbeOutcome(end.status, message=_("before this probe started: {how}").format(how=end.how))
                pending.pop(0)
            if time.monotonic() >= deadline:
                break
        for name in pending:
            outcomes[name] = ProbeOutcome("timeout", message=_("the submission used up its total time ({seconds} s) "
                                                               "before this ran").format(
                seconds=f"{limits.total_timeout:.0f}"))
        return SandboxRun(outcomes, module_errors, output.text(), starts, time.monotonic() - started,
                          tuple(clean(c, 300) for c in copied), tuple(clean(p, 600) for p in problems))
    finally:
        shutil.rmtree(pristine, ignore_errors=True)


def _pristine(submission: Path, pristine: Path, inputs: tuple[Path, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The grader's copy of what every worker gets: the package and the probes' inputs, written once."""
    copied, problems = copy_submission(submission, pristine / "assignment")
    (pristine / "inputs").mkdir()
    for path in inputs:
        shutil.copyfile(path, pristine / "inputs" / path.name)
    for path in (pristine / "assignment", pristine / "inputs"):
        for p in (path, *path.rglob("*")):
            p.chmod(0o755 if p.is_dir() else 0o644)  # the grader's, readable by the sandbox user whatever the umask
    return copied, problems


def _workspace(pristine: Path) -> Path:
    """A fresh folder for one worker: the package and the inputs as the grader wrote them (linked from
    its pristine copy, still the grader's and read-only to the sandbox user), an empty home, and the
    folder itself, which alone becomes the sandbox user's."""
    work = Path(tempfile.mkdtemp(prefix="reglab-"))
    shutil.copytree(pristine / "assignment", work / "sub" / "assignment", copy_function=_link)
    shutil.copytree(pristine / "inputs", work / "inputs", copy_function=_link)
    (work / "sub").chmod(0o755)
    (work / "home").mkdir()
    return work


def _link(src: str, dest: str) -> None:
    """The same file as the pristine copy (the grader's, 0644: the sandbox user cannot change it), or a
    copy where a link cannot be made (another file system)."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _startup_failure(end: _End, failed_before: str, limits: Limits, env_extra: dict[str, str],
                     hide: tuple[Path, ...]) -> str | None:
    """Why a worker that failed before it was jailed is the grader's failure, proved: a worker on a
    known-good package fails too. None when that one starts and this submission's worker was not
    retried yet (a passing failure: it is started again)."""
    why = known_good(limits, env_extra, hide)
    if why:
        return _("the worker could not start: it {how}; a worker on a known-good package fails too: {why}").format(
            how=end.how, why=why)
    if not failed_before:
        return None
    return _("the worker could not start, twice, before any of this submission's code could run "
             "(it {how}), while a worker on a known-good package starts").format(how=end.how)


def known_good(limits: Limits = Limits(), env_extra: dict[str, str] | None = None,
               hide: tuple[Path, ...] = ()) -> str:
    """'' when a worker starts and is jailed in this grader's sandbox on a package that holds nothing of
    any student's (an empty ``assignment``) and ends cleanly; else why not, in the worker's own words."""
    pristine = Path(tempfile.mkdtemp(prefix="reglab-"))
    try:
        with tempfile.TemporaryDirectory(prefix="reglab-known-good-") as empty:
            _pristine(Path(empty), pristine, ())
        output = Output(4096)
        deadline = time.monotonic() + limits.startup_timeout * isolation.WALL_FACTOR
        end = _run_worker(pristine, Job([]), {}, limits, env_extra or {}, deadline, hide, output,
                          [limits.caps.submission_bytes])
    except Exception as exc:  # noqa: BLE001 - the sandbox could not be built: that is the answer
        return clean(f"{type(exc).__name__}: {exc}", 600)
    finally:
        shutil.rmtree(pristine, ignore_errors=True)
    if end.culprit is None and end.protocol.student:
        return ""
    said = [line for line in output.text().splitlines() if line.strip()]
    return clean(end.how or _("it ended without a word"), 300) + (f" ({said[-1]})" if said else "")


class Output:
    """What the worker printed: the first ``cap`` bytes kept, the rest counted, all of it drained."""

    def __init__(self, cap: int):
        self.cap, self.head, self.total = cap, bytearray(), 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        if len(self.head) < self.cap:
            self.head += data[:self.cap - len(self.head)]

    def text(self) -> str:
        text = clean(self.head.decode("utf-8", "replace"), self.cap)
        return text + (f"\n… [{self.total - len(self.head)} more bytes not shown]" if self.total > len(self.head) else "")


@dataclass
class _End:
    protocol: Protocol
    culprit: tuple[str, str] | None  # the step that failed: ("startup"|"import"|"probe"|"between", name)
    status: str = ""                 # timeout | crashed | corrupted
    how: str = ""


def _run_worker(pristine: Path, job: Job, blocked: dict[str, str], limits: Limits, env_extra: dict[str, str],
                deadline: float, hide: tuple[Path, ...], output: Output, budget: list[int],
                listener: Listener | None = None) -> _End:
    """Run one worker to its end in a folder of its own, reading its frames and its output as they come."""
    work = _workspace(pristine)
    try:
        return _run_in(work, job, blocked, limits, env_extra, deadline, hide, output, budget, listener)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # never follows links the worker left


def _run_in(work: Path, job: Job, blocked: dict[str, str], limits: Limits, env_extra: dict[str, str],
            deadline: float, hide: tuple[Path, ...], output: Output, budget: list[int],
            listener: Listener | None) -> _End:
    package = work / "sub" / "assignment"
    nonce = secrets.token_bytes(8)
    modules = current().modules  # the lab's: the worker knows none itself
    request = json.dumps({"package_dir": str(package), "work_dir": str(work), "modules": modules, "probes": job.probes,
                          "params": job.params, "blocked": blocked, "nonce": nonce.hex(),
                          "seeds": {p: job.seeds[p] for p in job.probes if p in job.seeds},
                          "threads": limits.threads}).encode()
    protocol = Protocol(list(job.probes), tuple(m for m in modules if m not in blocked), limits.caps,
                        listener)
    decoder = Decoder(nonce, protocol, budget)
    req_r, req_w = os.pipe()
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        worker = isolation.spawn((req_r, res_w, out_w), work=work, readable=(package.parent, work / "inputs"),
                                 limits=limits,
                                 env=environment(work / SCRATCH, limits.threads, env_extra), hide=hide)
    finally:
        for fd in (req_r, res_w, out_w):
            os.close(fd)
    fds = _Pipes(req_w, res_r, out_r)
    try:
        return _follow(worker, protocol, decoder, job, limits, deadline, output, fds, request)
    finally:
        worker.kill_all()
        _drain(out_r, output)
        fds.close_all()


class _Pipes:
    """The grader's ends of one worker's pipes, non-blocking, each closed exactly once (other
    threads of a batch reuse descriptor numbers: a second close could hit theirs)."""

    def __init__(self, request: int, results: int, output: int):
        self.request, self.results, self.output = request, results, output
        self.open = {request, results, output}
        for fd in self.open:
            os.set_blocking(fd, False)

    def close(self, fd: int) -> None:
        if fd in self.open:
            self.open.discard(fd)
            os.close(fd)

    def close_all(self) -> None:
        for fd in list(self.open):
            self.close(fd)


def _follow(worker: isolation.Worker, protocol: Protocol, decoder: Decoder, job: Job, limits: Limits, deadline: float,
            output: Output, fds: _Pipes, request: bytes) -> _End:
    proc, req_w, res_r, out_r = worker.proc, fds.request, fds.results, fds.output
    step = protocol.step
    clock = isolation.StepClock(worker, limits.startup_timeout, limits.threads)
    reading = {res_r, out_r}
    while True:
        now = time.monotonic()
        bound = worker.exceeded()  # the sandbox's memory or scratch, passed by what ran in it
        if bound:
            return _End(protocol, _culprit(protocol), "crashed", bound)
        over = "its total time" if now >= deadline else clock.over()
        if over:
            return _End(protocol, _culprit(protocol), "timeout", f"did not finish within {over}")
        poller = select.poll()  # not select(): descriptor numbers may pass 1024 in a busy grader
        for fd in reading:
            poller.register(fd, select.POLLIN)
        if request:
            poller.register(req_w, select.POLLOUT)
        # A short wait: a worker that exits while a child of it holds the pipes open still ends here.
        events = dict(poller.poll(1000 * max(0.0, min(0.25, clock.poll(), deadline - now))))
        ready = set(events) - {req_w}
        if request and req_w in events:
            try:
                request = request[os.write(req_w, request):]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # the worker is gone or closed it: it will be seen ending
                request = b""
            if not request:
                fds.close(req_w)
        if out_r in ready and not _read(out_r, output.add):
            reading.discard(out_r)
        if res_r in ready:
            try:
                open_ = _read(res_r, decoder.feed)
            except ChannelError as exc:
                return _End(protocol, _culprit(protocol, corrupted=True), "corrupted", str(exc))
            if not open_:
                reading.discard(res_r)
        if protocol.step != step:
            step = protocol.step
            limit = (limits.import_timeout if step and step[0] == "import" else
                     job.timeouts.get(step[1], limits.probe_timeout) if step else limits.probe_timeout)
            # Steps with a limit of their own (the training check) may use every core.
            cpus = (os.cpu_count() or 1) if step and step[1] in job.timeouts else limits.threads
            clock = isolation.StepClock(worker, limit, cpus)
        if res_r not in reading or (proc.poll() is not None and res_r not in ready):
            try:  # it closed the channel or ended: what it sent is in; give it a moment to be reaped
                proc.wait(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
            if res_r in reading:
                try:
                    _read(res_r, decoder.feed)
                except ChannelError as exc:
                    return _End(protocol, _culprit(protocol, corrupted=True), "corrupted", str(exc))
            if protocol.done:  # every result in, and nothing after it: however it ended, it is done
                return _End(protocol, None)
            return _End(protocol, _culprit(protocol), "crashed",
                        worker.exceeded() or f"the process {_signal_name(proc.returncode)}")


def _read(fd: int, sink) -> bool:
    """Read what is there now (a bounded amount) into ``sink``; False at the end of the stream."""
    for _attempt in range(64):
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            return False
        if not chunk:
            return False
        sink(chunk)
    return True


def _drain(fd: int, output: Output, seconds: float = 0.5) -> None:
    """What is left in the output pipe, for a moment at most (a child the kill missed may hold it open)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(1000 * max(0.0, end - time.monotonic())) or not _read(fd, output.add):
            return


def _culprit(protocol: Protocol, corrupted: bool = False) -> tuple[str, str]:
    if protocol.step == ("startup", "") or not protocol.student:  # no student code can have run yet
        return ("startup", "")
    if corrupted:  # the step it happened in, or the last one before (whose frames may have set it up)
        return protocol.step or protocol.last or ("between", "")
    return protocol.step or ("between", "")
