"""Isolation: how a worker process is started, limited and killed with everything it started.

What the worker may see is its backend's business (``backends.py``), who it runs as the sandbox
user's (``sandboxuser.py``); what it is asked and what comes back is ``sandbox.py``'s. Here: the
worker's code, its limits and environment, its start (forked or fresh) and its end.

On Linux a worker is forked by the fork server (``forkserver.py``) rather than started afresh; with
namespaces, the sandbox is still built here per worker, around a holder process whose namespaces the
forked worker enters (``_hold``, ``worker/jail.py:join``).

As root, student code never runs as root: each worker switches (in ``worker/jail.py``, before any
student import) to a sandbox user of its own, which ``Worker.kill_all`` ends with everything it started.
"""
from __future__ import annotations

import atexit
import compileall
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from select import POLLIN, poll
from typing import TYPE_CHECKING

from . import cgroups, forkserver, lab, programs
from .backends import SCRATCH, Backend, bwrap_command, current, interpreter_paths, landlock_view, unshare_command
from .i18n import _
from .sandboxuser import SANDBOX_USER, Slot, clear_user_files, kill_uid, uid_processes

if TYPE_CHECKING:
    from .limits import Limits

JAIL_VAR = "REGLAB_JAIL"          # the worker's jail instructions (worker/jail.py)
NPROC = 512                    # processes of the sandbox uid (one worker's): fork bombs stop here


_copy_lock = threading.Lock()


def worker_package() -> Path:
    """A copy of ``grader/worker`` with a bare ``grader/__init__.py`` and the lab's worker folder as
    ``grader/worker/lab``, readable by the sandbox user: the worker imports nothing else of the grader or
    the lab (which hold the expected data, the checks and the known mistakes)."""
    with _copy_lock:
        return _worker_package()


@functools.lru_cache(maxsize=1)
def _worker_package() -> Path:
    here = Path(__file__).resolve().parent
    root = Path(tempfile.mkdtemp(prefix="reglab-worker-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "grader" / "worker").mkdir(parents=True)
    (root / "grader" / "__init__.py").write_text((here / "__init__.py").read_text(encoding="utf-8"), encoding="utf-8")
    for py in (here / "worker").glob("*.py"):
        shutil.copyfile(py, root / "grader" / "worker" / py.name)
    shutil.copytree(lab.current().worker_folder, root / "grader" / "worker" / "lab",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # Compiled once here: every worker would otherwise compile these from source (it writes no bytecode).
    compileall.compile_dir(root / "grader", quiet=2)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root / "grader"


# ---------------------------------------------------------------- limits and the environment


def limit_values(limits: Limits, nproc: bool = False) -> dict[str, tuple[int, int]]:
    """The worker's rlimits by ``resource`` name, (soft, hard): plain data in its jail instructions, set by
    the worker itself before anything else (``jail.enter``). No preexec function: it would make
    subprocess fork the threaded grader (see ``sandboxuser._as_user``)."""
    mb = 1 << 20
    values = {}
    if limits.memory_mb:  # 0 on a GPU, where CUDA's address-space reservations exceed any sane limit
        values["RLIMIT_AS"] = (limits.memory_mb * mb, limits.memory_mb * mb)
    cpu = int(limits.total_timeout * max(2, limits.threads)) + 30
    values["RLIMIT_CPU"] = (cpu, cpu + 5)
    values["RLIMIT_FSIZE"] = (limits.file_mb * mb, limits.file_mb * mb)
    values["RLIMIT_CORE"] = (0, 0)
    if nproc:  # counts the real uid's processes: exact once the worker is the sandbox user
        values["RLIMIT_NPROC"] = (NPROC, NPROC)
    return values


def thread_environment(threads: int) -> dict[str, str]:
    """What holds OpenMP and the BLAS libraries (torch's, numpy's OpenBLAS, MKL) to ``threads`` threads:
    in a worker, and in the reference process beside it (the same float rounding)."""
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def environment(home: Path, threads: int, extra: dict[str, str], tmp: Path | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "SYSTEMROOT") if k in os.environ}
    env.update({"HOME": str(home), "TMPDIR": str(tmp or home), "USER": SANDBOX_USER, "LOGNAME": SANDBOX_USER,
                "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                **thread_environment(threads), "PYTHONIOENCODING": "utf-8",
                # Large tensors on transparent huge pages where the kernel allows it (madvise): the probes'
                # per-sample gradients are fresh 50 MB blocks that otherwise fault in 4 KB at a time.
                "THP_MEM_ALLOC_ENABLE": "1"})
    env.update(extra)
    return env


# ---------------------------------------------------------------- starting and ending a worker


# A cold worker enters its cgroup before it is anything else: the shell writes its own pid into each
# controller's cgroup.procs (arguments up to "--"), then becomes the command; a failed write starts nothing.
_ENTER = 'for f do shift; [ "$f" = -- ] && break; echo $$ > "$f" || exit 70; done; exec "$@"'


class Bounds:
    """A worker's memory and processes, bounded as a whole: its cgroup, or where none can be made the
    watchdog (``cgroups.py``); for ``uid`` also the size of its scratch folder, which is no tmpfs there."""

    def __init__(self, limits: Limits, group: cgroups.Group | None):
        self.limits, self.group = limits, group
        self.memory: cgroups.Watchdog | None = None
        self.scratch: Path | None = None

    @classmethod
    def make(cls, backend: Backend, limits: Limits) -> Bounds | None:
        if not backend.isolated:
            return None
        found = bounding(limits)
        return cls(limits, cgroups.Group.make(found, limits.sandbox_memory_mb, limits.processes)
                   if found.version else None)

    def procs_files(self) -> list[str]:
        return self.group.procs_files() if self.group else []

    def enter_then(self, argv: list[str]) -> list[str]:
        if self.group is None:
            return argv
        return [shutil.which("sh") or "/bin/sh", "-c", _ENTER, "sh", *self.procs_files(), "--", *argv]

    def watch(self, processes, scratch: Path | None) -> None:
        """Where there is no group: sum ``processes()``'s memory; ``scratch``: a folder to measure."""
        if self.group is None:
            self.memory = cgroups.Watchdog(self.limits.sandbox_memory_mb, processes)
        self.scratch = scratch

    def exceeded(self) -> str:
        """'' while within the bounds, else which was passed, in words (the student's: their code ran in it)."""
        memory = self.group.over_limit() if self.group else self.memory is not None and self.memory.over_limit()
        # The scratch folder is measured at every look (the grader's loop, a few times a second: files are
        # written faster than the memory watchdog's pace) and first: its files are the group's page cache
        # too, so a passed memory bound may really be the scratch's.
        if self.scratch is not None and _folder_bytes(self.scratch) > self.limits.scratch_mb << 20:
            return _("your code wrote more than {size} to its scratch folder (the sandbox's limit)").format(
                size=f"{self.limits.scratch_mb} MB")
        if memory:
            return _("your code used more than {size} of memory (the sandbox's limit)").format(
                size=f"{self.limits.sandbox_memory_mb} MB")
        return ""

    def remove(self) -> None:
        if self.group is not None:
            self.group.remove()


def bounding(limits: Limits) -> cgroups.Support:
    """How workers are bounded in this run (named in every result)."""
    return cgroups.support() if limits.cgroup else cgroups.Support(0, why_not="cgroup = false")


def bounds_label(limits: Limits) -> str:
    return bounding(limits).describe(limits.sandbox_memory_mb, limits.processes)


def _folder_bytes(folder: Path, most: int = 100_000) -> int:
    """Disk space used below ``folder`` (no link followed); past ``most`` entries, counted as over any cap."""
    total, seen = 0, 0
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            seen += 1
            if seen > most:
                return 1 << 62
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total



@dataclass
class Worker:
    """A started worker. ``kill_all`` returns once every process it started is dead."""
    proc: subprocess.Popen | forkserver.Forked
    backend: Backend
    slot: Slot | None = None
    jail: dict = field(default_factory=dict)   # what worker/jail.py must do before any student code runs
    holder: subprocess.Popen | None = None     # the sandbox a forked worker joined (bwrap, unshare)
    bounds: Bounds | None = None               # its cgroup or watchdog
    work: Path | None = None
    _done: bool = False

    def __post_init__(self) -> None:
        if self.bounds is not None:
            uid = self.slot.uid if self.slot is not None and not self.backend.namespaces else None
            self.bounds.watch((lambda: uid_processes(uid)) if uid is not None else self._processes,
                              self.work / SCRATCH if uid is not None and self.work else None)

    def _processes(self) -> list[int]:
        roots = [self.proc.pid] + ([self.holder.pid] if self.holder else [])
        return [*roots, *(d for root in roots for d in _descendants(root))]

    def exceeded(self) -> str:
        """'' or the sandbox's bound that the worker's processes passed, in words."""
        return self.bounds.exceeded() if self.bounds is not None else ""

    def kill_all(self) -> None:
        if self._done:
            return
        procs = [p for p in (self.proc, self.holder) if p is not None]
        sandbox = self.holder or self.proc  # bwrap or unshare: the namespaces' parent
        inner = _children(sandbox.pid) if self.backend.namespaces else []
        for proc in procs:
            if isinstance(proc, forkserver.Forked):
                proc.kill()
            else:
                _killpg(proc)
        for pid in inner:  # the namespace's process 1: once it is gone, so is everything inside
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.holder is not None:
            self.holder.stdin.close()
        for pid in inner:
            _wait_gone(pid)
        if self.bounds is not None:
            self.bounds.remove()  # every process left in its cgroup, killed; the group removed
        if self.slot is not None:
            kill_uid(self.slot.uid)
            if not self.backend.whitelist and self.work is not None:  # uid, unshare: the host's shared folders
                clear_user_files(self.slot.uid, self.work / SCRATCH)
            self.slot.release()
        self._done = True

    def cpu_seconds(self) -> float:
        """User + system CPU time of the worker's live processes (for CPU-time step limits)."""
        total, ticks = 0.0, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        for pid in self._processes():
            try:
                with open(f"/proc/{pid}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
            except (OSError, IndexError, ValueError):
                continue
        return total


WALL_FACTOR = 3.0  # a step's wall-time backstop, in multiples of its CPU-time limit (a busy machine)


class StepClock:
    """One step's time limit, counted in CPU seconds of the worker's processes: a compute-bound probe on a
    machine busy with other work gets its full share; a wait (sleep, a blocked read) is caught by the
    wall-time backstop, ``WALL_FACTOR`` times the limit. Where CPU time cannot be read (no /proc) the
    limit is wall time."""

    def __init__(self, worker: Worker, limit: float, cpus: int = 1):
        self.worker, self.limit, self.cpus = worker, limit, max(1, cpus)
        self.started = time.monotonic()
        self.cpu0 = worker.cpu_seconds()
        self.counts_cpu = os.path.isdir("/proc")

    def over(self) -> str:
        """'' while within the limit, else which limit was passed, in words."""
        wall = time.monotonic() - self.started
        if not self.counts_cpu:
            return f"its time limit ({self.limit:.0f} s)" if wall >= self.limit else ""
        if self.worker.cpu_seconds() - self.cpu0 >= self.limit * self.cpus:
            return f"its time limit ({self.limit * self.cpus:.0f} s of CPU time)"
        if wall >= self.limit * WALL_FACTOR:
            return f"its time limit ({self.limit * WALL_FACTOR:.0f} s of wall time, {self.limit:.0f} s of CPU time)"
        return ""

    def poll(self) -> float:
        """Seconds until the next look at the clock."""
        return 0.25 if self.counts_cpu else max(0.0, self.started + self.limit - time.monotonic())


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo and len(out) < 4096:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and forkserver.alive(pid):
        time.sleep(0.01)


def _killpg(proc: subprocess.Popen) -> None:
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass


def worker_command(module: str = "grader.worker") -> list[str]:
    """The interpreter command line of a worker (its request and result descriptors come after it), or
    with ``grader.worker.zygote`` of the fork server (its socket comes after it)."""
    package = worker_package()  # grader/worker alone: the rest holds the expected data
    return [sys.executable, "-I", "-c", programs.source("worker_boot"), str(package / "__init__.py"), str(package),
            module]


_cold: list[str] = []  # why this process gave up warm starts (they failed once: the sandbox was not entered)

NAMESPACES = ("ipc", "uts", "net", "pid", "cgroup", "mnt", "user")  # in the order jail.join enters them


def warm(enabled: bool = True) -> bool:
    """Whether workers are forked by the fork server (Linux) rather than started as fresh interpreters."""
    return enabled and sys.platform.startswith("linux") and forkserver.supported()


def prestart(enabled: bool = True) -> None:
    """Start the fork server now (it does not wait for it): its imports overlap the grader's own start."""
    if warm(enabled):
        _server()


def _server() -> forkserver.ForkServer:
    return forkserver.server(worker_command("grader.worker.zygote"), environment(Path("/nonexistent"), 1, {}))


def spawn(pipes: tuple[int, int, int], *, work: Path, readable=(), limits: Limits, env: dict[str, str],
          hide: tuple[Path, ...] = (), backend: Backend | None = None) -> Worker:
    """Start a worker in this run's sandbox with ``pipes`` (its request, result and output descriptors).
    ``work``: its only writable folder; ``readable``: extra paths it may read, read-only to it also
    where they lie inside ``work`` (the grader's files there stay the grader's); ``hide``: the grader's
    secrets (hidden where the view is not a whitelist).

    Under every backend but ``none`` the worker calls ``worker.jail.enter()`` before any student code
    runs: it reads what to do from ``REGLAB_JAIL`` in its environment (set here), becomes the sandbox
    user, hides the secrets (``unshare``), drops every capability and, for ``uid``, installs its
    seccomp filter. A forked worker first joins the sandbox built for it here (``jail.join``).
    """
    backend = backend or current()
    work = Path(work)
    slot = Slot() if backend.drops_uid else None
    jail: dict = {}
    bounds = None
    try:
        bounds = Bounds.make(backend, limits)
        if slot is not None:
            grader_owned = {str(Path(p)) for p in readable}
            for folder, dirs, files in os.walk(work):
                dirs[:] = [d for d in dirs if os.path.join(folder, d) not in grader_owned]  # stays read-only
                os.chown(folder, slot.uid, slot.gid)
                for name in files:
                    os.chown(os.path.join(folder, name), slot.uid, slot.gid, follow_symlinks=False)
            # The folder itself stays the grader's (its group the sandbox user's): a later worker of this
            # user must not count it among what its user left in the shared /tmp (``_clear_user_files``).
            os.chown(work, os.getuid(), slot.gid)
            os.chmod(work, 0o750)
            jail.update(uid=slot.uid, gid=slot.gid)
        readable = tuple(str(Path(p)) for p in (str(worker_package().parent), *readable))
        if backend.name == "unshare":
            jail.update(hide_dirs=[str(p) for p in hide if p.is_dir()],
                        hide_files=[str(p) for p in hide if p.is_file()],
                        tmpfs=_unshare_tmpfs(work, readable, limits.scratch_mb))
        if backend.name == "uid":
            jail["seccomp"] = True
        if backend.landlock:
            jail["landlock"] = landlock_view(str(work), readable)
        if backend.isolated:
            jail.update(lock=True, oom_score_adj=1000)  # the kernel's first choice when memory runs out
        jail["rlimits"] = limit_values(limits, nproc=slot is not None)
        env = {**env, JAIL_VAR: json.dumps(jail)}
        if warm(limits.warm_start) and not _cold:
            try:
                return _fork(pipes, work, readable, limits, env, hide, backend, slot, jail, bounds)
            except OSError as exc:  # forkserver.StartError and the like, before any student code: fall back
                _cold.append(str(exc))
                print(_("warm worker starts are off for this run ({why}); every worker starts a fresh Python")
                      .format(why=exc), file=sys.stderr)

        def wrap(argv: list[str]) -> list[str]:
            if backend.name == "bwrap":
                argv = bwrap_command(argv, str(work), readable, tuple(hide), scratch_mb=limits.scratch_mb)
            elif backend.name == "unshare":
                argv = unshare_command(argv)
            return bounds.enter_then(argv) if bounds else argv
        request, result, output = pipes
        kwargs = {"start_new_session": True} if os.name == "posix" else \
            {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        proc = subprocess.Popen(wrap([*worker_command(), str(request), str(result)]), cwd=work, env=env,
                                stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                pass_fds=(request, result) if os.name == "posix" else (), **kwargs)
    except BaseException:
        if bounds is not None:
            bounds.remove()
        if slot is not None:
            slot.release()
        raise
    return Worker(proc, backend, slot, jail, bounds=bounds, work=work)


def _unshare_tmpfs(work: Path, readable, scratch_mb: int) -> dict:
    """What jail.enter mounts in an ``unshare`` worker's mount namespace: a private /tmp and /dev/shm
    (1777) and its scratch (the sandbox user's), each a tmpfs of ``scratch_mb``; the folders it needs
    from the host's /tmp (its work folder, its code, an interpreter installed there) bound back. (Not
    /var/tmp: a private one would let writes meant for the host's folders seem to succeed; what the
    sandbox user leaves there is removed when the worker ends, as for ``uid``.)"""
    size = f"size={scratch_mb}m," if scratch_mb else ""
    keep = [str(work), *readable, *interpreter_paths()]
    return {"size": size, "keep": [p for p in keep if p == "/tmp" or p.startswith("/tmp/")],
            "scratch": str(work / SCRATCH)}


def _fork(pipes, work: Path, readable, limits: Limits, env, hide, backend: Backend, slot, jail,
          bounds: Bounds | None) -> Worker:
    """A worker forked by the fork server; with namespaces, into a fresh sandbox around a holder."""
    holder, namespaces = None, []
    try:
        if backend.namespaces:
            argv = [sys.executable, "-I", "-S", "-c", programs.source("holder")]
            command = bwrap_command(argv, str(work), readable, tuple(hide), holder=True, scratch_mb=limits.scratch_mb) \
                if backend.name == "bwrap" else unshare_command(argv)
            holder, namespaces = _hold(command, limits.startup_timeout)
        proc = _server().spawn({"env": env, "cwd": str(work), "namespaces": [kind for kind, _fd in namespaces],
                                "cgroup": bounds.procs_files() if bounds else []},
                            [*pipes, *(fd for _kind, fd in namespaces)], limits.startup_timeout)
    except BaseException:
        if holder is not None:
            _end_holder(holder)
        raise
    finally:
        for _kind, fd in namespaces:
            os.close(fd)
    return Worker(proc, backend, slot, jail, holder, bounds, work)


def _hold(command: list[str], timeout: float) -> tuple[subprocess.Popen, list[tuple[str, int]]]:
    """Start the sandbox around a holder; once it is ready, open its namespaces (kind, descriptor)."""
    proc = subprocess.Popen(command, cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        poller = poll()
        poller.register(proc.stdout, POLLIN)
        ready = poller.poll(1000 * timeout) and os.read(proc.stdout.fileno(), 1) == b"."
        if not ready:
            _killpg(proc)
            err = proc.communicate(timeout=5)[1].decode("utf-8", "replace").strip().splitlines()
            raise forkserver.StartError(f"the sandbox did not start: {(err or ['no answer'])[-1]}")
        proc.stdout.close()
        proc.stderr.close()
        inner = _descendants(proc.pid)
        if not inner:
            raise forkserver.StartError("the sandbox's holder is gone")
        pid, fds = inner[-1], []
        try:
            for kind in NAMESPACES:
                fds.append((kind, os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)))
            # Still our holder (its stdin is our pipe): the pid was not reused by another process meanwhile.
            ours = f"pipe:[{os.fstat(proc.stdin.fileno()).st_ino}]"
            if os.readlink(f"/proc/{pid}/fd/0") != ours:
                raise forkserver.StartError("the sandbox's holder is gone")
            for kind in ("mnt", "pid"):
                if os.fstat(dict(fds)[kind]).st_ino == os.stat(f"/proc/self/ns/{kind}").st_ino:
                    raise forkserver.StartError(f"the sandbox has no {kind} namespace of its own")
        except BaseException:
            for _kind, fd in fds:
                os.close(fd)
            raise
        return proc, fds
    except BaseException:
        _end_holder(proc)
        raise


def _end_holder(proc: subprocess.Popen) -> None:
    """End a holder that no worker joined: its sandbox, and everything in it, goes with it."""
    _killpg(proc)
    proc.wait()
    proc.stdin.close()
