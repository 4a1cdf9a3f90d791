"""Hiding the grader's secrets from the student's process (Linux, where namespaces are allowed).

The parent starts the worker under ``unshare --mount --net --pid`` (plus ``--map-root-user`` when
it is not root). Before any student code runs, the worker mounts an empty tmpfs over each hidden
folder (the project with the reference, the expected data) and /dev/null over each hidden file,
puts its own folder in place of /tmp, then gives up the right to undo it: it drops every capability (the user id stays, so the Python installation stays
readable, but root without capabilities cannot unmount, remount or read others' files).
The network namespace has no interfaces, so student code cannot reach anything either.
"""
from __future__ import annotations

import ctypes
import os

MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def enter(work_dir: str, hide_dirs: list[str], hide_files: list[str]) -> str:
    """Hide, then lock. Returns where ``work_dir`` is now seen: the system's temporary folder.

    The worker's own folder is mounted over the temporary folder it lives in, so the student's code
    sees neither other submissions being graded beside it nor anything else left in /tmp.
    """
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # nothing we mount leaks to the host
    for path in hide_dirs:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", 0, "size=4k,mode=0555")
    for path in hide_files:
        if os.path.isfile(path):
            _mount("/dev/null", path, None, MS_BIND, None)
    temp = os.path.dirname(os.path.abspath(work_dir))
    if temp != "/":
        _mount(work_dir, temp, None, MS_BIND, None)
    # Give up every capability for good: no umount, no remount, none regained by exec.
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    _drop_capabilities()
    return temp if temp != "/" else work_dir
