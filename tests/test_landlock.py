"""Landlock's allow-list (grader/worker/landlock.py) in a throw-away process: what it allows and refuses.
Skipped where the kernel (or the container's seccomp profile) has no Landlock."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader.worker import landlock

LANDLOCK = Path(landlock.__file__)
pytestmark = pytest.mark.skipif(landlock.abi() < 1, reason="no Landlock on this kernel")

CHILD = r"""
import importlib.util, os, socket, sys
spec = importlib.util.spec_from_file_location("landlock", sys.argv[1])
ll = importlib.util.module_from_spec(spec); spec.loader.exec_module(ll)
allowed, scratch, secret = sys.argv[2:5]
ll.restrict([allowed], [scratch], ["/dev/null"])
def tried(what, f):
    try:
        f()
        print(what, "ok")
    except OSError as exc:
        print(what, type(exc).__name__)
tried("read-allowed", lambda: open(os.path.join(allowed, "a.txt")).read())
tried("write-allowed", lambda: open(os.path.join(allowed, "new.txt"), "w"))
tried("write-scratch", lambda: open(os.path.join(scratch, "new.txt"), "w").write("x"))
tried("read-secret", lambda: open(secret).read())
tried("list-root", lambda: os.listdir("/"))
tried("devnull", lambda: open("/dev/null", "w").write("x"))
def abstract():
    with socket.socket(socket.AF_UNIX) as s:
        s.connect("\0" + sys.argv[5])
if ll.abi() >= 6:
    tried("abstract-socket", abstract)
"""


def test_the_allow_list_holds(tmp_path):
    import socket
    import uuid

    allowed, scratch = tmp_path / "allowed", tmp_path / "scratch"
    allowed.mkdir()
    scratch.mkdir()
    (allowed / "a.txt").write_text("a")
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    name = f"reglab-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX) as server:  # a listener outside the child's domain
        server.bind("\0" + name)
        server.listen(1)
        proc = subprocess.run([sys.executable, "-I", "-S", "-c", CHILD, str(LANDLOCK), str(allowed), str(scratch),
                               str(secret), name], capture_output=True, text=True, timeout=60)
    seen = dict(line.split() for line in proc.stdout.splitlines())
    assert proc.returncode == 0, proc.stderr
    assert seen["read-allowed"] == "ok" and seen["write-scratch"] == "ok" and seen["devnull"] == "ok", seen
    assert seen["write-allowed"] == seen["read-secret"] == seen["list-root"] == "PermissionError", seen
    if landlock.abi() >= 6:
        assert seen["abstract-socket"] == "PermissionError", seen


def test_the_probe_says_yes_here():
    proc = subprocess.run([sys.executable, "-I", "-S", str(LANDLOCK), "/usr"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("abi "), proc.stdout + proc.stderr
