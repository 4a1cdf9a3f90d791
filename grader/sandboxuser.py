"""The sandbox users: who student code runs as where the grader is root, what they can reach, and the
end of everything they started.

Each worker graded at once holds one dedicated system user, ``reglab-sandbox[-N]``, that owns no file:
"kill every process of this uid" then ends exactly that worker's processes, and what that user can
read is seen with its own eyes, by a process that has become it (``programs/as_user.py``).
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import programs
from .i18n import _

try:
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

if TYPE_CHECKING:
    from .backends import Backend

SANDBOX_USER = "reglab-sandbox"
TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")  # shared by every user where there is no mount namespace
PRIVATE_UMASK = 0o077          # the grader's, set before it creates anything: what it writes is its own


class SandboxUnavailable(Exception):
    """No backend can keep the student's code from the grader's files (or the one asked for cannot)."""


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


class Slot:
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
def _as_user(uid: int, gid: int, what: str, data: bytes = b"") -> bytes:
    return subprocess.run([sys.executable, "-I", "-S", "-c", programs.source("as_user"), str(uid), str(gid), what], input=data,
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


def check_exposure(paths, backend: Backend) -> None:
    """Refuse (SandboxUnavailable naming the path) when the sandbox user could read or write one of
    ``paths`` (the reference, the expected data, the submissions, the output folder), or could rename or
    remove entries in a folder above one (world-writable and not sticky). Needed where there is no
    whitelisted view: the ``unshare`` and ``uid`` backends. ``paths`` must exist already
    (``private_folders``): a path the grader creates later is checked by nothing."""
    if not backend.drops_uid or backend.whitelist:
        return
    existing = [Path(p).resolve() for p in paths if p and os.path.lexists(p)]
    ancestors = sorted({str(a) for p in existing for a in p.parents})
    slot = Slot()
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


def private_folders(paths, backend: Backend) -> None:
    """Where only permissions keep the grader's files from the sandbox user (``unshare``, ``uid``): create
    every folder the grader will write in (the output folder, the expected-data cache) now, 0700, so that
    ``check_exposure`` sees them and their ancestors before any worker starts. With the umask the grader
    sets first (``PRIVATE_UMASK``), nothing it creates in them later is open to other users."""
    if not backend.drops_uid or backend.whitelist:
        return
    for path in paths:
        Path(path).mkdir(parents=True, exist_ok=True, mode=0o700)


def kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid``, from a process that has become that user: kill(-1) reaches
    exactly the processes it may signal, i.e. its own uid's, whatever they renamed or detached."""
    for _attempt in range(50):
        if not uid_processes(uid):
            return
        _as_user(uid, uid, "kill")
        time.sleep(0.02)


def uid_processes(uid: int) -> list[int]:
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


def clear_user_files(uid: int, scratch: Path) -> None:
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
