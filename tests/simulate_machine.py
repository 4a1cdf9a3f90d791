"""Run a command as it would run on another kind of machine (Linux, as root): ``python
tests/simulate_machine.py [--python-readable] [--no-namespaces] -- COMMAND...``.

- ``--python-readable``: a machine whose Python is installed where every user can read it (Gradescope's
  ``/usr``, Colab, a venv). This machine's Python lives in ``/root/.pyenv`` under ``/root`` (0700), out of
  the sandbox user's reach; in a mount namespace of its own, a tmpfs (0755) is put over each folder of
  the interpreter's path that other users cannot enter, holding only the interpreter bound back.
- ``--private PATH``: PATH (this checkout) is the machine's only checkout and lives in a folder other
  users cannot enter, as in a TA's home (0700/0750) or Gradescope's ``/autograder/source`` (made 0700 by
  the autograder): a tmpfs (0700) over PATH's top-level folder (``private_top``), holding only PATH
  bound back, and an empty one over every other non-system top-level folder (``make_private``).
- ``--fresh-tmp``: a dedicated grading machine (a Gradescope container), whose /tmp holds nothing of
  anyone else's (this shared machine's /tmp holds other checkouts of the project, world-readable).
- ``--no-namespaces``: a container without namespaces, as Docker's default seccomp profile makes it:
  a seccomp filter (``grader.worker.jail.seccomp_filter``) makes ``unshare``, ``setns``, ``mount`` and
  ``clone`` with namespace flags fail with EPERM for this process and everything it starts.
- ``--no-landlock``: a kernel or container without Landlock (older kernels; profiles that do not let its
  system calls through): they fail with ENOSYS, as where the kernel lacks them.

Then it execs COMMAND. Must be started as ``unshare --mount --propagation private python ...`` when
``--python-readable`` is given (the tmpfs mounts stay in that namespace).
"""
from __future__ import annotations

import ctypes
import os
import stat
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.backends import interpreter_paths  # noqa: E402
from grader.worker import jail  # noqa: E402

libc = ctypes.CDLL(None, use_errno=True)


def mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else str(s).encode()  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def make_python_readable() -> None:
    """A tmpfs (0755) over the outermost folder that other users cannot enter on the way to each of
    this Python's folders, holding only those folders, bound back."""
    paths = list(interpreter_paths())
    tops = []
    for prefix in paths:
        closed = [p for p in reversed(Path(prefix).parents) if not os.stat(p).st_mode & stat.S_IXOTH]
        if closed and str(closed[0]) not in tops:
            tops.append(str(closed[0]))
    for top in tops:
        tmpfs_keeping(top, 0o755, paths)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def tmpfs_keeping(top: str, mode: int, keep: list[str]) -> None:
    """A fresh tmpfs (``mode``) over ``top``, holding only the folders of ``keep`` that lie under it,
    bound back (their parents 0755), so that a checkout or a Python installed there still works."""
    under = [p for p in keep if _under(p, top)]
    fds = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in under]
    mount("tmpfs", top, "tmpfs", 0, f"mode={mode:o}")
    for p, fd in fds:
        os.makedirs(p, exist_ok=True)
        for parent in Path(p).parents:
            if Path(top) in parent.parents:
                parent.chmod(0o755)
        mount(f"/proc/self/fd/{fd}", p, None, jail.MS_BIND | jail.MS_REC)
        os.close(fd)


def private_top(path: str) -> str:
    """The folder ``--private PATH`` closes: PATH's top-level folder (/work, with other checkouts beside
    this one), or under /tmp the folder below /tmp that holds it (a fresh clone in TMPDIR)."""
    parts = Path(path).parts
    return str(Path(*parts[:3])) if parts[1] == "tmp" and len(parts) > 3 else "/" + parts[1]


def cannot_simulate(path: str) -> str:
    """Why ``--private PATH`` cannot be simulated with this Python readable ('' when it can): the Python
    lives in the folder that would be closed (a venv beside the checkout)."""
    top = private_top(path)
    inside = [p for p in interpreter_paths() if _under(p, top)]
    return f"this Python ({inside[0]}) lives in {top}, which a private checkout there closes" if inside else ""


# Top-level folders of a bare container: the system's own, /root (0700: out of the sandbox user's reach
# already), /tmp (--fresh-tmp) and /var (the tests' folders outside TMPDIR live in /var/tmp).
SYSTEM_TOPS = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "sys", "dev", "run", "boot",
               "root", "tmp", "var"}


def make_private(path: str) -> None:
    """A tmpfs (0700) over ``private_top(PATH)``, holding PATH alone, bound back (a Python installed
    there is hidden with the rest: the sandbox user could not read it on such a machine either). Every
    other top-level folder of this machine (/work, /home, /opt...: other checkouts of the project) gets
    an empty tmpfs too, keeping only this Python, as in a container that holds the system, one Python
    and this checkout."""
    own = "/" + Path(path).parts[1]
    tmpfs_keeping(private_top(path), 0o700, [path])
    for entry in sorted(os.listdir("/")):
        top = "/" + entry
        if entry not in SYSTEM_TOPS and top != own and os.path.isdir(top) and not os.path.islink(top):
            tmpfs_keeping(top, 0o755, list(interpreter_paths()))


def fresh_tmp(private: list[str]) -> None:
    """An empty /tmp, except what must stay: a checkout or a Python installed under it (a fresh clone
    and venv under TMPDIR), bound back into the new one."""
    tmpfs_keeping("/tmp", 0o1777, [*interpreter_paths(), *private])


def no_landlock() -> None:
    """``--no-landlock``: Landlock's system calls fail with ENOSYS for this process and all it starts."""
    import errno

    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ALLOW)
    for name in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"):
        f.add_rule(sc.ERRNO(errno.ENOSYS), name)
    f.load()


def main(argv: list[str]) -> None:
    split = argv.index("--")
    flags, command = argv[:split], argv[split + 1:]
    if "--python-readable" in flags:
        make_python_readable()
    if "--fresh-tmp" in flags:
        fresh_tmp([os.path.abspath(flags[i + 1]) for i, f in enumerate(flags) if f == "--private"])
    for i, flag in enumerate(flags):
        if flag == "--private":
            make_private(os.path.abspath(flags[i + 1]))
    if "--no-namespaces" in flags:
        jail.seccomp_filter(student=False).load()
    if "--no-landlock" in flags:
        no_landlock()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
