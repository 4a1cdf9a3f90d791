"""grader/cgroups.py on its own: a group bounds what runs in it, the watchdog sees what a process holds,
and the v2 files are the ones the kernel reads (on a stand-in tree: this project's machines have v1).
The sizes are small on purpose (a shared machine): 64 MB groups, 100 MB watched."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import cgroups, isolation
from grader.limits import Limits

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="cgroups are Linux's")

HOG = "import time; b = b'x' * (200 << 20); time.sleep(60)"


def wait_for(condition, seconds: float = 20.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not cgroups.support().version, reason=f"no cgroup here: {cgroups.support().why_not}")
def test_a_process_over_the_groups_memory_is_stopped_and_the_group_ends_whole():
    group = cgroups.Group.make(cgroups.support(), 64, 16)
    bounds = isolation.Bounds(Limits(sandbox_memory_mb=64), group)
    proc = subprocess.Popen(bounds.enter_then([sys.executable, "-S", "-c", HOG]))
    try:
        assert wait_for(lambda: proc.pid in group.pids() or proc.poll() is not None)
        assert wait_for(group.over_limit), "the group never reached its limit"
        assert "more than 64 MB of memory" in bounds.exceeded()
    finally:
        group.remove()
    assert proc.wait(10) != 0
    assert not any(Path(f).parent.exists() for f in group.procs_files())


def test_the_watchdog_sums_what_the_processes_hold():
    proc = subprocess.Popen([sys.executable, "-S", "-c", HOG])
    try:
        def over(limit_mb: int) -> bool:
            return cgroups.Watchdog(limit_mb, lambda: [proc.pid]).over_limit()  # a fresh one looks at once

        assert wait_for(lambda: over(100)), "200 MB were never seen"
        assert not over(1000)
    finally:
        proc.kill()
        proc.wait()


def test_a_v2_group_gets_the_files_the_kernel_reads(tmp_path):
    support = cgroups.Support(2, (("", str(tmp_path)),))
    # Made as the kernel would: the folder appears with its files (memory.swap.max only where there is swap).
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        for name in ("memory.swap.max", "memory.events", "cgroup.procs"):
            (self / name).write_text("")

    Path.mkdir = mkdir
    try:
        group = cgroups.Group.make(support, 512, 100)
    finally:
        Path.mkdir = real_mkdir
    folder = Path(group.procs_files()[0]).parent
    assert (folder / "memory.max").read_text() == str(512 << 20)
    assert (folder / "memory.swap.max").read_text() == "0"
    assert (folder / "memory.oom.group").read_text() == "1"
    assert (folder / "pids.max").read_text() == "100"
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert not group.over_limit()
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.over_limit()
