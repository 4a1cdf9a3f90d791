"""One control group per worker: the sandbox's memory and processes bounded as a whole (Linux).

Rlimits bound each process of a worker; a submission that starts four children bounds nothing
with them. Where the grader can make a control group (as root with cgroup v1's ``memory`` and
``pids`` controllers mounted writable, or in a cgroup v2 folder delegated to it), every worker
gets one below the grader's own: ``memory.max`` / ``memory.limit_in_bytes`` (swap included, and
none of it on v2) and ``pids.max``. The worker is placed in it before any of its code runs (by the
fork server's child for itself, or by a tiny shell that writes its own pid and execs the worker),
so everything it starts is counted with it. At the limit the kernel ends the whole group
(v2: ``memory.oom.group``) or freezes it for the grader to end (v1: the OOM killer off): the
worker ends at the sandbox's limit, never a random process of it, and the counter the kernel keeps
(``oom_kill``, ``under_oom``) says so: that, not a guess from an exit status, is the evidence.

Where no group can be made (an ordinary user without delegation, a container without
``/sys/fs/cgroup`` writable), ``Watchdog`` sums the proportional set size of the worker's
processes instead and ends the worker over the limit; workers are the kernel's first choice for
its OOM killer (``oom_score_adj`` +1000) and the grader, where allowed, its last (−1000).
"""
from __future__ import annotations

import functools
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .i18n import _

ROOT = Path("/sys/fs/cgroup")
PREFIX = "reglab-"
_counter = itertools.count(1)
_lock = threading.Lock()


@dataclass(frozen=True)
class Support:
    """How this grader bounds a worker: ``version`` 1 or 2 (a cgroup per worker) or 0 (the watchdog)."""
    version: int
    parents: tuple[tuple[str, str], ...] = ()  # (controller, folder its groups are made in)
    why_not: str = ""

    def describe(self, memory_mb: int, processes: int) -> str:
        if self.version:
            return _("cgroup v{version}: {memory} MB of memory and {processes} processes per worker").format(
                version=self.version, memory=memory_mb, processes=processes)
        return _("no cgroup ({why}): per-process limits and a watchdog at {memory} MB of memory per worker").format(
            why=self.why_not, memory=memory_mb)


def _own(controller: str) -> str | None:
    """This process's group for ``controller`` ('' for the v2 hierarchy), from /proc/self/cgroup."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _n, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return None


def _v1_parent(controller: str) -> Path | None:
    own = _own(controller)
    folder = ROOT / controller
    if own is None or not (folder / "cgroup.procs").exists() or (folder / "cgroup.controllers").exists():
        return None
    return folder / own.lstrip("/")


def _v2_parent() -> tuple[Path | None, str]:
    own = _own("")
    mount = next((m for m in (ROOT, ROOT / "unified") if (m / "cgroup.controllers").exists()), None)
    if own is None or mount is None:
        return None, "no cgroup v2 hierarchy"
    parent = mount / own.lstrip("/")
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        missing = [c for c in ("memory", "pids") if c not in enabled]
        if missing:  # fails (EBUSY) while this group holds processes: the rule of no internal processes
            (parent / "cgroup.subtree_control").write_text(" ".join("+" + c for c in missing))
    except OSError as exc:
        return None, f"cgroup v2 at {parent}: memory and pids cannot be enabled for subgroups ({exc.strerror})"
    return parent, ""


@functools.lru_cache(maxsize=1)
def support() -> Support:
    """Decided once per grader: make (and remove) a probe group the way workers' are made."""
    if not os.path.isdir("/proc/self") or not ROOT.is_dir():
        return Support(0, why_not="no /sys/fs/cgroup")
    candidates, why = [], []
    v1 = [(c, _v1_parent(c)) for c in ("memory", "pids")]
    if all(p is not None for _c, p in v1):
        candidates.append(Support(1, tuple((c, str(p)) for c, p in v1)))
    else:
        why.append("no writable cgroup v1 memory and pids controllers")
    parent, reason = _v2_parent() if not candidates else (None, "")
    if parent is not None:
        candidates.append(Support(2, (("", str(parent)),)))
    elif reason:
        why.append(reason)
    for found in candidates:
        try:
            for _controller, parent in found.parents:
                _sweep(Path(parent))
            Group.make(found, 64, 8).remove()
            return found
        except OSError as exc:
            why.append(f"cgroup v{found.version}: {exc.strerror or exc}")
    return Support(0, why_not="; ".join(why))


def _sweep(parent: Path) -> None:
    """Remove the empty groups a grader that was killed left behind (its pid gone, the group older than a
    minute: never one a live grader has just made and not yet entered)."""
    for entry in parent.glob(PREFIX + "*"):
        pid = entry.name[len(PREFIX):].split("-")[0]
        try:
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}") and time.time() - entry.stat().st_ctime > 60:
                entry.rmdir()  # fails while a process is in it
        except OSError:
            pass


class Group:
    """One worker's control group (one folder per v1 controller, or one v2 folder)."""

    def __init__(self, support: Support, folders: dict[str, Path], memory_mb: int):
        self.support, self.folders, self.memory_mb = support, folders, memory_mb

    @classmethod
    def make(cls, support: Support, memory_mb: int, processes: int) -> Group:
        with _lock:
            name = f"{PREFIX}{os.getpid()}-{next(_counter)}"
        folders: dict[str, Path] = {}
        group = cls(support, folders, memory_mb)
        try:
            for controller, parent in support.parents:
                folders[controller] = Path(parent) / name
                folders[controller].mkdir(mode=0o755)
            memory = memory_mb << 20
            if support.version == 1:
                mem = folders["memory"]
                (mem / "memory.limit_in_bytes").write_text(str(memory))
                if (mem / "memory.memsw.limit_in_bytes").exists():  # after the first: it may not be lower
                    (mem / "memory.memsw.limit_in_bytes").write_text(str(memory))
                (mem / "memory.oom_control").write_text("1")  # frozen at the limit; the grader ends it whole
                (folders["pids"] / "pids.max").write_text(str(processes))
            else:
                folder = folders[""]
                (folder / "memory.max").write_text(str(memory))
                if (folder / "memory.swap.max").exists():
                    (folder / "memory.swap.max").write_text("0")
                (folder / "memory.oom.group").write_text("1")  # the OOM killer ends every process of it
                (folder / "pids.max").write_text(str(processes))
        except BaseException:
            group.remove()
            raise
        return group

    def procs_files(self) -> list[str]:
        """Where a process writes its pid to enter the group (every controller's)."""
        return [str(folder / "cgroup.procs") for folder in self.folders.values()]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.folders.values():
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(found)

    def over_limit(self) -> bool:
        """Whether the kernel found the group out of memory (its own counters: no guess)."""
        try:
            if self.support.version == 1:
                state = dict(line.split() for line in (self.folders["memory"] / "memory.oom_control")
                             .read_text().splitlines() if len(line.split()) == 2)
                return state.get("under_oom") == "1" or int(state.get("oom_kill", "0")) > 0
            events = dict(line.split() for line in (self.folders[""] / "memory.events").read_text().splitlines())
            return int(events.get("oom_kill", "0")) > 0 or int(events.get("oom_group_kill", "0")) > 0
        except (OSError, ValueError, KeyError):
            return False

    def kill(self) -> None:
        """SIGKILL every process in the group, until none is left (a fork racing the kill is caught next round)."""
        for _attempt in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        for folder in self.folders.values():
            for _attempt in range(200):  # a killed process leaves the group once it is reaped
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def protect_grader() -> None:
    """The grader is the kernel's last choice when memory runs out (root only; silently kept otherwise)."""
    try:
        Path("/proc/self/oom_score_adj").write_text("-1000")
    except OSError:
        pass


class Watchdog:
    """Where no group can be made: the proportional set size of the worker's processes, summed."""

    EVERY = 1.0  # seconds between looks (each reads every process's smaps_rollup)

    def __init__(self, memory_mb: int, processes):
        self.memory_mb, self.processes, self.next = memory_mb, processes, 0.0

    def over_limit(self) -> bool:
        now = time.monotonic()
        if now < self.next:
            return False
        self.next = now + self.EVERY
        total = 0
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                    for line in fh:
                        if line.startswith(b"Pss:"):
                            total += int(line.split()[1]) << 10
                            break
            except (OSError, ValueError, IndexError):
                continue
        return total > self.memory_mb << 20
