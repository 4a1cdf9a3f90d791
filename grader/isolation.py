"""Isolation: how a worker process is started, limited and killed with everything it started.

What the worker may see and do is decided here; what it is asked and what comes back is
``sandbox.py``'s business.
"""
from __future__ import annotations

import functools
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sandbox import Limits

MODULE_FILES = ("penalties.py", "model.py", "data.py", "train.py")
MAX_FILE_BYTES = 1 << 20       # a submission's single source file
MAX_TOTAL_BYTES = 8 << 20      # all the source files it may bring
TOKEN_VAR = "REGLAB_SANDBOX"   # every process the worker starts inherits it: how leftovers are found


def copy_submission(src: Path, dest_pkg: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Copy the submission's Python files (no links, size-capped) into a fresh package folder."""
    dest_pkg.mkdir(parents=True)
    copied, problems, total = [], [], 0
    for path in sorted([*src.glob("*.py"), *src.glob("*/*.py")]):
        rel = path.relative_to(src)
        hidden = any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
        if hidden or rel == Path("__init__.py"):  # our own __init__ replaces the student's
            continue
        if path.is_symlink() or not path.is_file():
            problems.append(f"{rel}: not a regular file, left out")
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES or total + size > MAX_TOTAL_BYTES:
            problems.append(f"{rel}: too large ({size} bytes), left out")
            continue
        total += size
        (dest_pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest_pkg / rel)
        copied.append(str(rel))
    (dest_pkg / "__init__.py").write_text('"""The submission under test."""\n')
    return tuple(copied), tuple(problems)


def rlimits(limits: Limits):
    def apply() -> None:
        mb = 1 << 20
        if limits.memory_mb:  # 0 on a GPU, where CUDA's address-space reservations exceed any sane limit
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        cpu = int(limits.total_timeout * max(2, limits.threads)) + 30
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # Counts every process of the user, so it is generous; enforced once the worker drops its
        # capabilities (see worker/jail.py). The sweep catches whatever escapes the process group.
        resource.setrlimit(resource.RLIMIT_NPROC, (4096, 4096))
    return apply


def environment(home: Path, token: str, threads: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "TMPDIR") if k in os.environ}
    env.update({"HOME": str(home), TOKEN_VAR: token, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONIOENCODING": "utf-8"})
    env.update(extra)
    return env


def sweep(token: str) -> int:
    """SIGKILL every process that carries this worker's token (daemons that left its group too)."""
    killed, needle = 0, f"{TOKEN_VAR}={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
                    killed += 1
        except (OSError, ProcessLookupError):
            continue
    return killed


@functools.lru_cache(maxsize=1)
def jail_prefix() -> tuple[str, ...]:
    """The ``unshare`` command that gives the worker its own mount, network and PID namespaces, or ()
    where this machine does not allow it (then the worker runs without hiding anything, and the
    token sweep is what finds what it left behind)."""
    tool = shutil.which("unshare")
    if not tool:
        return ()
    # --pid --fork --kill-child: the worker is process 1 of its own PID namespace, and dies when unshare
    # is killed; when process 1 dies the kernel kills every process in the namespace, daemons included.
    prefix = ((tool, "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc")
              + (() if os.geteuid() == 0 else ("--map-root-user",)) + ("--",))
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else ()


def kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
