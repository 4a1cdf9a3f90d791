"""Isolation: how a worker process is started, limited and killed with everything it started.

What the worker may see and do is decided here; what it is asked and what comes back is
``sandbox.py``'s business. One backend is chosen per run (``Config.sandbox`` / ``REGLAB_SANDBOX``):

- ``bwrap`` (bubblewrap): a whitelisted, read-only view (the interpreter and its libraries, the
  worker's code, its own scratch folder writable), own PID, network, IPC and UTS namespaces;
- ``unshare``: own mount, PID, network namespaces; the grader's secrets mounted over;
- ``uid``: no namespaces (Docker's default seccomp profile): a seccomp filter and rlimits, and a
  check, before any student code runs, that nothing the student must not see is open to the
  sandbox user; where the kernel has Landlock, also bubblewrap's whitelist as a Landlock
  allow-list (``uid+landlock``, ``landlock_view``);
- ``none``: no isolation at all (a student's own ``check``, or ``grade --unsafe-no-sandbox``).

On Linux a worker is forked by the fork server (``forkserver.py``) rather than started afresh; with
namespaces, the sandbox is still built here per worker, around a holder process whose namespaces the
forked worker enters (``_hold``, ``worker/jail.py:join``).

As root, student code never runs as root: each worker switches (in ``worker/jail.py``, before any
student import) to a dedicated system user ``reglab-sandbox[-N]`` that owns no file, one per worker
graded at once, so "kill every process of this uid" ends exactly that worker's processes.
"""
from __future__ import annotations

import atexit
import compileall
import json
import functools
import os
import shutil
import signal
import site
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from select import POLLIN, poll
from pathlib import Path
from typing import TYPE_CHECKING

from . import cgroups, forkserver
from .i18n import N_, _

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

if TYPE_CHECKING:
    from .limits import Limits

MODULE_FILES = ("penalties.py", "model.py", "data.py", "train.py")
MAX_FILE_BYTES = 1 << 20       # a submission's single source file
MAX_TOTAL_BYTES = 8 << 20      # all the source files it may bring
MAX_ENTRIES = 5000             # files and folders a submission's tree may hold
BACKENDS = ("bwrap", "unshare", "uid", "none")
SANDBOX_USER = "reglab-sandbox"
JAIL_VAR = "REGLAB_JAIL"          # the worker's jail instructions (worker/jail.py)
PRIVATE_UMASK = 0o077          # the grader's, set before it creates anything: what it writes is its own
NPROC = 512                    # processes of the sandbox uid (one worker's): fork bombs stop here
SCRATCH = "home"               # the worker's writable folder in its work folder (HOME and TMPDIR)
TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")  # shared by every user where there is no mount namespace
INSTALL_HINT = N_("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), "
                  "or run the grader as root in a container that allows namespaces, or as root with the "
                  "Python package pyseccomp (pip install pyseccomp) and a Python installation readable by "
                  "other users")


class SandboxUnavailable(Exception):
    """No backend can keep the student's code from the grader's files (or the one asked for cannot)."""


# ---------------------------------------------------------------- the submission's copy


def copy_submission(src: Path, dest_pkg: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Copy the submission's Python files into a fresh package folder, following no link at any depth.

    A symbolic link (file or folder, ``src`` itself included) or a file with other hard links is
    refused, each with a problem naming it: a link may point at a classmate's files or the reference.
    """
    dest_pkg.mkdir(parents=True)
    copied, problems, total = [], [], 0
    (dest_pkg / "__init__.py").write_text('"""The submission under test."""\n')
    if os.path.islink(src):
        return (), (f"{Path(src).name}: is a symbolic link; links are not followed, nothing was graded",)
    try:
        root_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return (), (f"{Path(src).name}: cannot be read ({exc.strerror})",)
    try:
        entries = _walk(root_fd, Path(), 0, problems)
    finally:
        os.close(root_fd)
    for rel, fd in entries:
        try:
            st = os.fstat(fd)
            if rel.suffix != ".py" or len(rel.parts) > 2 or rel == Path("__init__.py"):
                continue  # only the package's modules and one level of helper folders are imported
            if st.st_nlink > 1:
                problems.append(f"{rel}: has other hard links (it may be someone else's file), left out")
                continue
            if st.st_size > MAX_FILE_BYTES or total + st.st_size > MAX_TOTAL_BYTES:
                problems.append(f"{rel}: too large ({st.st_size} bytes), left out")
                continue
            total += st.st_size
            (dest_pkg / rel).parent.mkdir(parents=True, exist_ok=True)
            with os.fdopen(os.dup(fd), "rb") as fh, open(dest_pkg / rel, "wb") as out:
                shutil.copyfileobj(fh, out)
            copied.append(str(rel))
        finally:
            os.close(fd)
    return tuple(copied), tuple(problems)


def _walk(dir_fd: int, rel: Path, count: int, problems: list[str]) -> list[tuple[Path, int]]:
    """Regular files below ``dir_fd`` as (relative path, open fd), opened with O_NOFOLLOW relative to
    their folder's fd so that no link, and no folder swapped for a link meanwhile, is ever followed."""
    found: list[tuple[Path, int]] = []
    try:
        names = sorted(os.listdir(dir_fd))
    except OSError as exc:
        problems.append(f"{rel or '.'}: cannot be listed ({exc.strerror})")
        return found
    for name in names:
        path = rel / name
        if name.startswith(".") or name == "__pycache__":
            continue
        count += 1
        if count > MAX_ENTRIES:
            problems.append(f"more than {MAX_ENTRIES} files and folders: the rest was left out")
            break
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            if name.endswith(".py") or stat.S_ISDIR(_target_mode(dir_fd, name)) or len(path.parts) < 3:
                problems.append(f"{path}: is a symbolic link; links are not followed, left out")
            continue
        if stat.S_ISDIR(st.st_mode):
            if len(path.parts) > 3:
                continue
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError:
                problems.append(f"{path}: cannot be opened, left out")
                continue
            try:
                found += _walk(sub, path, count, problems)
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            if not name.endswith(".py"):
                continue
            try:
                found.append((path, os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)))
            except OSError:
                problems.append(f"{path}: cannot be opened, left out")
        elif name.endswith(".py"):
            problems.append(f"{path}: not a regular file, left out")
    return found


def _target_mode(dir_fd: int, name: str) -> int:
    try:
        return os.stat(name, dir_fd=dir_fd).st_mode
    except OSError:
        return 0


def refuse_links(path: Path) -> str | None:
    """Why a submission folder cannot be used as given (a link on the way to its lab folder), or None."""
    path = Path(path)
    for p in (path, path / "assignment"):
        if os.path.islink(p):
            return f"{p.name} is a symbolic link; links are not followed, nothing was graded"
    return None


# ---------------------------------------------------------------- the backend


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


_ASK_PATHS = ("import json, site, sys, sysconfig; print(json.dumps([sys.prefix, sys.exec_prefix, sys.base_prefix, "
              "*(sysconfig.get_paths()[k] for k in ('stdlib', 'platstdlib', 'purelib', 'platlib')), "
              "*site.getsitepackages()]))")


@functools.lru_cache(maxsize=1)
def _worker_interpreter_paths() -> tuple[str, ...]:
    """The prefixes and library folders of ``python -I`` as a worker (and the fork server) runs it, in its
    own words. This process may see others: started with ``-S``, it never read its venv's pyvenv.cfg."""
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", _ASK_PATHS], capture_output=True, text=True, timeout=120,
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


_SWITCH_TEST = ("import os, sys; u, g = int(sys.argv[1]), int(sys.argv[2]); os.setgroups([]); os.setresgid(g, g, g);"
                " os.setresuid(u, u, u); import encodings.idna, json, sysconfig; sysconfig.get_paths()")


def _try_bwrap() -> str:
    if not shutil.which("bwrap"):
        return "bwrap: not installed"
    with tempfile.TemporaryDirectory(prefix="reglab-probe-") as work:
        os.mkdir(os.path.join(work, SCRATCH))  # the view mounts the worker's scratch there
        argv = [sys.executable, "-I", "-c", _SWITCH_TEST if _is_root() else "import encodings.idna"]
        slot = _Slot() if _is_root() else None  # a sandbox user no worker is using (its kill would end the probe)
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
    slot = _Slot()
    try:
        uid, gid = slot.uid, slot.gid
        blocked = [p for p in interpreter_paths() if p not in exposed_to(uid, gid, [p], write=False)]
        if blocked:
            return f"the sandbox user cannot read the Python installation at {', '.join(blocked)}"
        why = _probe([sys.executable, "-I", "-c", _SWITCH_TEST, str(uid), str(gid)])
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


def sandbox_ids(slot: int) -> tuple[int, int]:
    """uid and gid of ``reglab-sandbox`` (slot 0) or ``reglab-sandbox-N``, made when missing."""
    import pwd

    name = SANDBOX_USER if slot == 0 else f"{SANDBOX_USER}-{slot}"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd")
        if not useradd:
            raise SandboxUnavailable(f"user {name} is missing and useradd is not installed") from None
        subprocess.run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", name], check=False, capture_output=True)
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise SandboxUnavailable(f"the sandbox user {name} could not be created") from None
    return entry.pw_uid, entry.pw_gid


class _Slot:
    """A sandbox user held by one worker at a time, across every grader process on the machine."""

    def __init__(self) -> None:
        # In /run (root's, as the sandbox users are): one place for every grader on the machine, whatever
        # /tmp each of them sees.
        folder = Path("/run/reglab-slots") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir()) / "reglab-slots"
        folder.mkdir(mode=0o700, exist_ok=True)
        for n in range(256):
            fd = os.open(folder / f"{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.fd, self.n = fd, n
            self.uid, self.gid = sandbox_ids(n)
            kill_uid(self.uid)  # whatever a crashed grader left running as this user
            return
        raise SandboxUnavailable("256 sandbox users are busy")

    def release(self) -> None:
        os.close(self.fd)


# What is done with the sandbox user's eyes runs in a small interpreter of its own, never in a fork of the
# grader: the grader has threads that may be inside a BLAS call, and OpenBLAS's fork handler then waits
# for them forever (seen: a batch with the training check hung in kill_uid). subprocess starts it with
# vfork, which runs no fork handler.
_AS_USER = r"""import os, signal, sys
uid, gid, what = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.setgroups([]); os.setresgid(gid, gid, gid); os.setresuid(uid, uid, uid)
if what == "kill":
    try:
        os.kill(-1, signal.SIGKILL)  # every process this uid may signal: its own
    except OSError:
        pass
else:
    paths = sys.stdin.buffer.read().decode().split("\0")
    if what == "replace":  # a folder it may write and that is not sticky: it could swap what lies in it
        bad = [p for p in paths if p and os.access(p, os.W_OK) and not os.stat(p).st_mode & 0o1000]
    else:
        bad = [p for p in paths if p and os.path.lexists(p) and (os.access(p, os.R_OK) or os.path.isdir(p) and
               os.access(p, os.X_OK) or what == "write" and os.access(p, os.W_OK))]
    sys.stdout.buffer.write("\0".join([*bad, "END"]).encode())
"""


def _as_user(uid: int, gid: int, what: str, data: bytes = b"") -> bytes:
    return subprocess.run([sys.executable, "-I", "-S", "-c", _AS_USER, str(uid), str(gid), what], input=data,
                          capture_output=True, timeout=120, env={}, cwd="/", check=False).stdout


def exposed_to(uid: int, gid: int, paths, write: bool = True, what: str = "") -> list[str]:
    """The paths the sandbox user could read (or, with ``write``, write; with ``what="replace"``, the
    folders in which it could rename or remove entries): seen with its own eyes, by a process that has
    become that user."""
    paths = [str(p) for p in paths]
    what = what or ("write" if write else "read")
    data = _as_user(uid, gid, what, "\0".join(paths).encode()).decode().split("\0")
    if data[-1:] != ["END"]:  # the look did not finish: never take that for "nothing exposed"
        raise SandboxUnavailable(f"could not check what the sandbox user can reach ({', '.join(paths[:3])})")
    return [p for p in data[:-1] if p]


def check_exposure(paths, backend: Backend | None = None) -> None:
    """Refuse (SandboxUnavailable naming the path) when the sandbox user could read or write one of
    ``paths`` (the reference, the expected data, the submissions, the output folder), or could rename or
    remove entries in a folder above one (world-writable and not sticky). Needed where there is no
    whitelisted view: the ``unshare`` and ``uid`` backends. ``paths`` must exist already
    (``private_folders``): a path the grader creates later is checked by nothing."""
    backend = backend or current()
    if not backend.drops_uid or backend.whitelist:
        return
    existing = [Path(p).resolve() for p in paths if p and os.path.lexists(p)]
    ancestors = sorted({str(a) for p in existing for a in p.parents})
    slot = _Slot()
    try:
        bad = exposed_to(slot.uid, slot.gid, existing)
        swappable = exposed_to(slot.uid, slot.gid, ancestors, what="replace")
    finally:
        slot.release()
    if swappable:
        raise SandboxUnavailable(_(
            "{folder} is writable by other users: the sandbox user {user} could replace what the grader keeps in "
            "it ({backend} backend). Keep the output folder, the cache and the course's files below folders only "
            "root may write (chmod 755 {folder}), or install bubblewrap.").format(
                folder=swappable[0], user=SANDBOX_USER, backend=backend.name))
    if bad:
        raise SandboxUnavailable(
            f"{bad[0]} is readable or writable by other users (the sandbox user {SANDBOX_USER} could reach it"
            f"{' and ' + str(len(bad) - 1) + ' more' if len(bad) > 1 else ''}): without a mount namespace "
            f"({backend.name} backend) nothing but file permissions keeps submissions from it. "
            f"Make it private (chmod 700 {bad[0]}) or install bubblewrap.")


def private_folders(paths, backend: Backend | None = None) -> None:
    """Where only permissions keep the grader's files from the sandbox user (``unshare``, ``uid``): create
    every folder the grader will write in (the output folder, the expected-data cache) now, 0700, so that
    ``check_exposure`` sees them and their ancestors before any worker starts. With the umask the grader
    sets first (``PRIVATE_UMASK``), nothing it creates in them later is open to other users."""
    backend = backend or current()
    if not backend.drops_uid or backend.whitelist:
        return
    for path in paths:
        Path(path).mkdir(parents=True, exist_ok=True, mode=0o700)


def kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid``, from a process that has become that user: kill(-1) reaches
    exactly the processes it may signal, i.e. its own uid's, whatever they renamed or detached."""
    for _attempt in range(50):
        if not _uid_processes(uid):
            return
        _as_user(uid, uid, "kill")
        time.sleep(0.02)


def _uid_processes(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status", "rb") as fh:
                    text = fh.read()
            except OSError:
                continue
            fields = dict(line.split(b":", 1) for line in text.splitlines() if b":" in line)
            if fields.get(b"State", b"").split()[:1] in ([b"Z"], [b"X"]):
                continue
            if int(fields.get(b"Uid", b"-1 0").split()[0]) == uid:
                found.append(int(entry))
    return found


# ---------------------------------------------------------------- the worker's code


_copy_lock = threading.Lock()


def worker_package() -> Path:
    """A copy of ``grader/worker`` with a bare ``grader/__init__.py``, readable by the sandbox user: the
    worker imports nothing else of the grader (which holds the expected data and the known mistakes)."""
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
    # Compiled once here: every worker would otherwise compile these from source (it writes no bytecode).
    compileall.compile_dir(root / "grader", quiet=2)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root / "grader"


# ---------------------------------------------------------------- limits and the environment


def limit_values(limits: Limits, nproc: bool = False) -> dict[str, tuple[int, int]]:
    """The worker's rlimits by ``resource`` name, (soft, hard): plain data in its jail instructions, set by
    the worker itself before anything else (``jail.enter``). No preexec function: it would make
    subprocess fork the threaded grader (see ``_AS_USER``)."""
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


def _clear_user_files(uid: int, scratch: Path) -> None:
    """After a ``uid`` worker ended (none of its processes left): empty its scratch, and remove what its
    user left in the folders every user shares. Never follows a link (rmtree works on descriptors)."""
    for entry in [scratch / name for name in _listdir(scratch)] + \
            [Path(folder) / name for folder in TEMPORARY for name in _listdir(folder)]:
        try:
            st = os.lstat(entry)
        except OSError:
            continue
        if entry.parent != scratch and (st.st_uid != uid or scratch.is_relative_to(entry)):
            continue  # another user's, or the worker's own work folder (the grader's, chowned to it)
        try:
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                os.unlink(entry)
        except OSError:
            pass


def _listdir(folder) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


@dataclass
class Worker:
    """A started worker. ``kill_all`` returns once every process it started is dead."""
    proc: subprocess.Popen | forkserver.Forked
    backend: Backend
    slot: _Slot | None = None
    jail: dict = field(default_factory=dict)   # what worker/jail.py must do before any student code runs
    holder: subprocess.Popen | None = None     # the sandbox a forked worker joined (bwrap, unshare)
    bounds: Bounds | None = None               # its cgroup or watchdog
    work: Path | None = None
    _done: bool = False

    def __post_init__(self) -> None:
        if self.bounds is not None:
            uid = self.slot.uid if self.slot is not None and not self.backend.namespaces else None
            self.bounds.watch((lambda: _uid_processes(uid)) if uid is not None else self._processes,
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
                _clear_user_files(self.slot.uid, self.work / SCRATCH)
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


# ``-I`` drops PYTHONPATH and the current folder, so ``-m grader.worker`` would find whichever grader
# is installed, not necessarily this one (a student release or the Gradescope source folder run from
# PYTHONPATH). The worker therefore loads *this* grader package by its location; only the package
# itself is made importable, never the folder around it (which may hold the reference).
_WORKER_BOOT = ("import importlib.util as u, runpy, sys\n"
                "s = u.spec_from_file_location('grader', {init!r}, submodule_search_locations=[{pkg!r}])\n"
                "m = u.module_from_spec(s); sys.modules['grader'] = m; s.loader.exec_module(m)\n"
                "runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n")


def worker_command(module: str = "grader.worker") -> list[str]:
    """The interpreter command line of a worker (its request and result descriptors come after it), or
    with ``grader.worker.zygote`` of the fork server (its socket comes after it)."""
    package = worker_package()  # grader/worker alone: the rest holds the expected data
    return [sys.executable, "-I", "-c", _WORKER_BOOT.format(init=str(package / "__init__.py"), pkg=str(package),
                                                            module=module)]


_cold: list[str] = []  # why this process gave up warm starts (they failed once: the sandbox was not entered)

# What a forked worker's sandbox is built around: it says when the sandbox is ready, then waits for the end.
HOLDER = "import os; os.write(1, b'.'); os.close(1); os.read(0, 1)"
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
    slot = _Slot() if backend.drops_uid else None
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
            argv = [sys.executable, "-I", "-S", "-c", HOLDER]
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
