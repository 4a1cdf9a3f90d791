"""The sandbox's backends: which one a run uses, and the view each gives the worker.

One backend is chosen per run (``Config.sandbox`` / ``REGLAB_SANDBOX``):

- ``bwrap`` (bubblewrap): a whitelisted, read-only view (the interpreter and its libraries, the
  worker's code, its own scratch folder writable), own PID, network, IPC and UTS namespaces;
- ``unshare``: own mount, PID, network namespaces; the grader's secrets mounted over;
- ``uid``: no namespaces (Docker's default seccomp profile): a seccomp filter and rlimits, and a
  check, before any student code runs, that nothing the student must not see is open to the
  sandbox user (``sandboxuser.check_exposure``); where the kernel has Landlock, also bubblewrap's
  whitelist as a Landlock allow-list (``uid+landlock``, ``landlock_view``);
- ``none``: no isolation at all (a student's own ``check``, or ``grade --unsafe-no-sandbox``).

Each is tried once, for real, before it is chosen: a backend that cannot start this Python as the
sandbox user is not used.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import cgroups, programs
from .i18n import N_, _
from .sandboxuser import TEMPORARY, SandboxUnavailable, Slot, exposed_to

BACKENDS = ("bwrap", "unshare", "uid", "none")
SCRATCH = "home"               # the worker's writable folder in its work folder (HOME and TMPDIR)
INSTALL_HINT = N_("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), "
                  "or run the grader as root in a container that allows namespaces, or as root with the "
                  "Python package pyseccomp (pip install pyseccomp) and a Python installation readable by "
                  "other users")


@dataclass(frozen=True)
class Backend:
    name: str                      # bwrap | unshare | uid | none
    drops_uid: bool = False        # student code runs as a dedicated sandbox user
    namespaces: bool = False       # own PID namespace: its end kills everything inside
    whitelist: bool = False        # sees only what is bound in (else: the host, minus what is hidden)
    why_not: tuple[str, ...] = ()  # why the better backends were not used
    landlock: bool = False         # uid: the worker restricts itself to bwrap's view with Landlock

    @property
    def isolated(self) -> bool:
        return self.name != "none"

    def label(self, unsafe: bool = False) -> str:
        return self.name + ("+landlock" if self.landlock else "") + (
            " (unsafe: --unsafe-no-sandbox)" if unsafe and not self.isolated else "")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def interpreter_paths() -> tuple[str, ...]:
    """Where this interpreter and its libraries live (venv, conda, /usr, a tool cache, pyenv...), with
    the real paths behind their links, outermost first. Never the current folder or the project."""
    paths = {sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix,
             os.path.dirname(sys.executable)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    paths.update(site.getsitepackages())
    user = site.getusersitepackages() if site.ENABLE_USER_SITE else ""
    if user and os.path.isdir(user):
        paths.add(user)
    paths.update(_worker_interpreter_paths())
    paths.update(os.path.realpath(p) for p in list(paths))
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    kept = sorted(p for p in paths if p and os.path.isdir(p) and p != "/")
    return tuple(p for p in kept if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in kept))


@functools.lru_cache(maxsize=1)
def _worker_interpreter_paths() -> tuple[str, ...]:
    """The prefixes and library folders of ``python -I`` as a worker (and the fork server) runs it, in its
    own words. This process may see others: started with ``-S``, it never read its venv's pyvenv.cfg."""
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", programs.source("ask_paths")], capture_output=True, text=True, timeout=120,
                              cwd="/", stdin=subprocess.DEVNULL)
        return tuple(str(p) for p in json.loads(proc.stdout))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return ()


SYSTEM_BINDS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache",
                "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")


def _bwrap_view(work: str, readable: tuple[str, ...], hide: tuple[Path, ...], scratch_mb: int = 0) -> list[str]:
    """The file system the worker sees under bubblewrap: nothing but what is listed here. Writable only
    its scratch (``work``/home), /tmp and /dev/shm: fresh tmpfs of ``scratch_mb`` each (bubblewrap 0.5
    or later: ``--size``), mode 1777 (as root the worker becomes the sandbox user after bwrap made them)."""
    args = ["--tmpfs", "/"]
    made: set[str] = {"/"}

    def parents(path: str) -> None:
        for parent in reversed(Path(path).parents):
            p = str(parent)
            if p not in made:
                made.add(p)
                args.extend(["--perms", "0755", "--dir", p])

    for path in SYSTEM_BINDS:
        if os.path.islink(path):
            parents(path)
            args.extend(["--symlink", os.readlink(path), path])
        elif os.path.exists(path):
            parents(path)
            args.extend(["--ro-bind", path, path])
        made.add(path)
    args.extend(["--proc", "/proc", "--dev", "/dev", *_scratch_tmpfs("/tmp", scratch_mb),
                 *_scratch_tmpfs("/dev/shm", scratch_mb)])
    made.update(("/proc", "/dev", "/tmp"))
    inside = [p for p in readable if p.startswith(work.rstrip("/") + "/")]  # bound over the writable folder
    for path in (*interpreter_paths(), *(p for p in readable if p not in inside)):
        parents(path)
        args.extend(["--ro-bind", path, path])
    parents(work)
    # The work folder, the worker's current folder, is a private size-capped tmpfs it may write (code that
    # saves a file by a relative name runs), its scratch inside; what the grader wrote there for this
    # start (the package, the inputs) is bound over it read-only, from the grader's copy on the host.
    args.extend([*_scratch_tmpfs(work, scratch_mb), "--perms", "1777", "--dir", str(Path(work) / SCRATCH)])
    for path in inside:
        args.extend(["--ro-bind", path, path])
    # What the bound libraries hold but the worker must not read (a pip-installed grader's expected data).
    bound = (*interpreter_paths(), *readable)
    for secret in hide:
        s = str(secret)
        if any(s == b or s.startswith(b.rstrip("/") + "/") for b in bound):
            args.extend(["--tmpfs", s] if secret.is_dir() else ["--ro-bind", "/dev/null", s])
    return args


DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")  # what bwrap's --dev holds


def landlock_view(work: str, readable: tuple[str, ...]) -> dict[str, list[str]]:
    """The paths of ``_bwrap_view`` as a Landlock allow-list (``worker/landlock.py``): read-only the system's
    libraries, the Python installation, ``readable`` and /proc; read-write ``work`` and the shared
    temporary folders; the harmless devices.
    A grader's secret inside a bound folder (a pip-installed grader's expected data) cannot be cut out
    of an allow-list: there ``check_exposure``'s permission check still keeps it from the sandbox user."""
    read = [p for p in (*SYSTEM_BINDS, "/proc", *interpreter_paths(), *readable) if os.path.exists(p)]
    # The shared temporary folders: POSIX semaphores and shared memory (multiprocessing's locks, a
    # DataLoader's batches) live in /dev/shm and nowhere else, and ordinary code writes to /tmp by name.
    # They are the host's, shared by every sandbox user: what one leaves there with open permissions
    # another could read, as without Landlock, until the grader removes it when the worker ends.
    write = [work, *(p for p in TEMPORARY if os.path.isdir(p))]
    return {"read": read, "write": write, "devices": [d for d in DEVICES if os.path.exists(d)]}


def _scratch_tmpfs(path: str, scratch_mb: int) -> list[str]:
    size = ["--size", str(scratch_mb << 20)] if scratch_mb and _bwrap_sizes() else []
    return [*size, "--perms", "1777", "--tmpfs", path]


@functools.lru_cache(maxsize=1)
def _bwrap_sizes() -> bool:
    """Whether this bubblewrap takes ``--size`` (0.5 and later). Without it a tmpfs is bounded only by the
    worker's memory limit (its pages are charged to the worker's cgroup)."""
    try:
        out = subprocess.run([shutil.which("bwrap") or "bwrap", "--version"], capture_output=True, text=True,
                             timeout=30).stdout.split()
        return tuple(int(x) for x in out[-1].split(".")[:2]) >= (0, 5)
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return False


def bwrap_command(argv: list[str], work: str, readable: tuple[str, ...], hide: tuple[Path, ...],
                  holder: bool = False, scratch_mb: int = 0) -> list[str]:
    """``holder``: the command only holds the sandbox for a forked worker to join, and needs no capability."""
    tool = shutil.which("bwrap")
    if tool is None:
        raise SandboxUnavailable("bwrap is not installed")
    ns = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if _is_root() and holder:
        caps = ["--cap-drop", "ALL"]
    elif _is_root():
        # No user namespace: root keeps only what the worker needs until it becomes the sandbox user (which
        # clears them all): switching uid and gid, and reading its request in the folder that user owns.
        caps = ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                "--cap-add", "CAP_DAC_READ_SEARCH"]
    else:
        ns.append("--unshare-user")
        caps = ["--cap-drop", "ALL"]
    return [tool, *ns, "--die-with-parent", "--new-session", *caps, *_bwrap_view(work, readable, hide, scratch_mb),
            "--chdir", "/" if holder else work, "--", *argv]


UNSHARE = ("--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts")


def unshare_command(argv: list[str]) -> list[str]:
    tool = shutil.which("unshare")
    if tool is None:
        raise SandboxUnavailable("unshare (util-linux) is not installed")
    # --pid --fork --kill-child: the worker is process 1 of its own PID namespace and dies with unshare;
    # when process 1 dies the kernel kills every process in the namespace, daemons included.
    return [tool, *UNSHARE, "--", *argv]


def _probe(argv: list[str], env: dict | None = None) -> str:
    """'' when the command runs and exits 0, else why not."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=180, env=env, stdin=subprocess.DEVNULL)  # a busy machine
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode == 0:
        return ""
    return (proc.stderr.decode("utf-8", "replace").strip().splitlines() or [f"exit status {proc.returncode}"])[-1]


def _try_bwrap() -> str:
    if not shutil.which("bwrap"):
        return "bwrap: not installed"
    with tempfile.TemporaryDirectory(prefix="reglab-probe-") as work:
        os.mkdir(os.path.join(work, SCRATCH))  # the view mounts the worker's scratch there
        argv = [sys.executable, "-I", "-c", programs.source("switch_test") if _is_root() else "import encodings.idna"]
        slot = Slot() if _is_root() else None  # a sandbox user no worker is using (its kill would end the probe)
        try:
            if slot is not None:
                argv += [str(slot.uid), str(slot.gid)]
            why = _probe(bwrap_command(argv, work, (), ()))
        finally:
            if slot is not None:
                slot.release()
    return f"bwrap: {why}" if why else ""


def _try_unshare() -> str:
    if not _is_root():
        return "unshare: needs root here (as another user it would keep the grader's uid on a writable host)"
    if not shutil.which("unshare"):
        return "unshare: not installed"
    why = _probe(unshare_command(["true"])) or _interpreter_readable()
    return f"unshare: {why}" if why else ""


def _try_uid() -> str:
    if not _is_root():
        return "uid: needs root (to switch to the sandbox user)"
    try:
        import pyseccomp  # noqa: F401 - the filter the worker installs
        pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    except Exception as exc:  # noqa: BLE001 - ImportError, or libseccomp.so.2 missing
        return f"uid: no seccomp filter ({type(exc).__name__}: {exc}; pip install pyseccomp, apt-get install libseccomp2)"
    why = _interpreter_readable()
    return f"uid: {why}" if why else ""


def _interpreter_readable() -> str:
    """'' when the sandbox user can start this Python and read all its libraries (without a whitelisted
    view it sees them where they are: a Python under /root, 0700, is out of its reach)."""
    slot = Slot()
    try:
        uid, gid = slot.uid, slot.gid
        blocked = [p for p in interpreter_paths() if p not in exposed_to(uid, gid, [p], write=False)]
        if blocked:
            return f"the sandbox user cannot read the Python installation at {', '.join(blocked)}"
        why = _probe([sys.executable, "-I", "-c", programs.source("switch_test"), str(uid), str(gid)])
    finally:
        slot.release()
    return f"the sandbox user cannot start Python: {why}" if why else ""


def _try_landlock() -> str:
    """'' when a process can restrict itself with Landlock here (the kernel has it and the container lets
    its system calls through), else why not: tried in a throw-away Python, the restriction is for good."""
    probe = Path(__file__).resolve().parent / "worker" / "landlock.py"
    return _probe([sys.executable, "-I", "-S", str(probe), os.path.dirname(os.path.realpath(sys.executable))])


_TRIES = {"bwrap": _try_bwrap, "unshare": _try_unshare, "uid": _try_uid}
_FEATURES = {"bwrap": dict(namespaces=True, whitelist=True), "unshare": dict(namespaces=True), "uid": {}}


@functools.lru_cache(maxsize=None)
def choose(setting: str = "auto") -> Backend:
    """The backend for this run: ``setting`` if it works (else SandboxUnavailable saying why), or for
    ``auto`` the first that works of bwrap, unshare, uid, else ``none``."""
    if setting not in ("auto", *BACKENDS):
        raise SandboxUnavailable(f"unknown sandbox backend {setting!r}: use auto, {', '.join(BACKENDS)}")
    if setting == "none":
        return Backend("none")
    if not sys.platform.startswith("linux"):
        if setting != "auto":
            raise SandboxUnavailable(f"the {setting} sandbox needs Linux; this is {sys.platform}")
        return Backend("none", why_not=(f"{sys.platform}: the sandbox backends need Linux",))
    why_not = []
    for name in (BACKENDS[:3] if setting == "auto" else (setting,)):
        why = _TRIES[name]()
        if not why:
            landlock = name == "uid" and not _try_landlock()
            return Backend(name, drops_uid=_is_root(), why_not=tuple(why_not), landlock=landlock, **_FEATURES[name])
        why_not.append(why)
    if setting != "auto":
        raise SandboxUnavailable(f"the {setting} sandbox does not work here: {why_not[0]}")
    return Backend("none", why_not=tuple(why_not))


def current() -> Backend:
    """The backend this process uses: the one chosen by ``select`` or, by default, ``REGLAB_SANDBOX``."""
    return _selected or choose(os.environ.get("REGLAB_SANDBOX", "auto"))


_selected: Backend | None = None


def select(setting: str, unsafe: bool = False, required: bool = True) -> Backend:
    """Choose the run's backend once. ``required`` (grading marks): refuse when none isolates, unless
    ``unsafe``. Raises SandboxUnavailable with what is missing and how to install it."""
    global _selected
    backend = choose(setting)
    if required and not backend.isolated and not unsafe:
        missing = "; ".join(backend.why_not) or _("the sandbox was turned off (sandbox = none)")
        raise SandboxUnavailable(_("no sandbox can keep submissions from the grader's files here ({missing}). "
                                   "To fix: {hint}. Or pass --unsafe-no-sandbox to grade anyway "
                                   "(every result then says so).").format(missing=missing, hint=_(INSTALL_HINT)))
    _selected = backend
    if backend.isolated:
        cgroups.protect_grader()  # when memory runs out, a worker (+1000) goes first, the grader never
    return backend


def notice(backend: Backend) -> str:
    """One line for the terminal: which sandbox this run uses (and what it lacks)."""
    if backend.isolated:
        if backend.drops_uid:
            return _("sandbox: {name} as the sandbox user").format(name=backend.label())
        return _("sandbox: {name}").format(name=backend.label())
    # The reasons are the system's own diagnostics (commands, errors it printed): shown as they came.
    why = f" ({'; '.join(backend.why_not)})" if backend.why_not else ""
    return _("sandbox: none — your code runs unisolated, with your own rights") + why


# ---------------------------------------------------------------- the sandbox user
