"""Landlock (Linux 5.13+): a file-system allow-list an unprivileged process puts on itself, without any
namespace. Where the ``uid`` backend has no mount namespace for a whitelisted view, the worker restricts
itself with it (``jail.enter``) to what bubblewrap's view would hold: the listed folders read-only, its
own scratch writable, nothing else; with ABI 4 no TCP, with ABI 6 no abstract Unix socket and no signal
outside its own domain. The restriction holds for the worker and everything it starts, and cannot be
lifted. System calls through ``ctypes`` (no dependency); self-contained (``ctypes`` and ``os`` only) so
that ``python -I -S landlock.py`` is the grader's probe (``backends._try_landlock``).
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform

# The generic system-call table (x86_64, aarch64, riscv64... share these numbers).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
# The file-system rights each ABI version knows (a kernel refuses a ruleset naming one it does not).
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2          # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2  # ABI 6

READ = EXECUTE | READ_FILE | READ_DIR
DEVICE = READ_FILE | WRITE_FILE  # /dev/null and the like: no ioctl, no execution
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the rights a rule on a file may hold


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _call(number: int, *args) -> int:
    ret = _libc.syscall(ctypes.c_long(number), *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock system call {number}: {os.strerror(err)}")
    return ret


def abi() -> int:
    """The kernel's Landlock ABI version, 0 where there is none (not built, turned off, or the
    container's seccomp profile refuses the call)."""
    if not platform.system() == "Linux":
        return 0
    try:
        return _call(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except OSError:
        return 0


def restrict(read: list[str], write: list[str], devices: list[str]) -> int:
    """Restrict this process (and all it starts) to ``read`` (read and execute), ``write`` (everything
    below it) and ``devices`` (character devices read and written, such as /dev/null). Paths that do
    not exist or cannot be opened are left out (they are out of reach either way). Sets
    ``no_new_privs`` (Landlock's condition for an unprivileged process). Returns the ABI used."""
    version = abi()
    if version < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available")
    handled = FS_BY_ABI[min(version, 5)]
    size = ctypes.sizeof(_RulesetAttr) if version >= 6 else (16 if version >= 4 else 8)
    attr = _RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if version >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0)
    ruleset = _call(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for paths, access in ((read, READ), (write, handled), (devices, DEVICE)):
            for path in paths:
                _allow(ruleset, path, access & handled)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        _call(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return version


def _allow(ruleset: int, path: str, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            access &= FILE_RIGHTS  # a rule on a file may hold no folder right
        rule = _PathBeneath(access, fd)
        _call(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_uint(RULE_PATH_BENEATH), ctypes.byref(rule),
              ctypes.c_uint32(0))
    finally:
        os.close(fd)


def probe(allowed: str) -> str:
    """'' when Landlock restricts this process as it should (``allowed`` readable, ``/`` not), else why
    not. Run in a throw-away process: the restriction cannot be lifted."""
    try:
        restrict([allowed], [], ["/dev/null"])
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.listdir(allowed)
    except OSError as exc:
        return f"an allowed folder cannot be read ({exc.strerror})"
    try:
        os.listdir("/")
    except PermissionError:
        return ""
    return "the restriction did not hold"


if __name__ == "__main__":
    import sys

    why = probe(sys.argv[1])
    print(why or f"abi {abi()}")
    sys.exit(1 if why else 0)
