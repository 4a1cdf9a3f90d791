"""Warm worker starts (Linux): one clean process imports torch once and forks every worker.

A fresh worker interpreter pays ``import torch``: a second or more of CPU, again for every restart
after a hang or a corrupted channel. The fork server (``worker/zygote.py``) pays it once per
grader process. It is started like a worker (the private copy of ``grader/worker``, ``python -I``,
a worker's clean environment), so its memory holds what a fresh worker's would: no request, no
course secret, no result, no student code. Isolation is unchanged: the sandbox (bwrap's or
unshare's, built per worker around a holder process by ``isolation.py``) is joined by the forked
worker before it becomes the sandbox user.

Workers are the server's children, not this process's: ``Forked`` stands in for the part of
``subprocess.Popen`` the sandbox uses, its exit status reported by the server.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path


class StartError(OSError):
    """The fork server could not start a worker (the grader's failure, never the student's)."""


class Forked:
    """A worker forked by the server: pid, poll(), wait() and kill() like a Popen's."""

    def __init__(self, pid: int, server: ForkServer):
        self.pid, self.returncode, self._server = pid, None, server
        self._ended = threading.Event()

    def _exit(self, status: int) -> None:
        self.returncode = status
        self._ended.set()

    def poll(self) -> int | None:
        if self.returncode is None and not self._server.alive and not alive(self.pid):
            self._exit(-signal.SIGKILL)  # the server died: its report of this end is lost
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:  # in steps: a server that died reports nothing more
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                raise subprocess.TimeoutExpired("worker", timeout)
            self._ended.wait(left)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the child, then its session (the worker and what it started in it). In this order:
        a child killed before it made its session never forks the worker."""
        for kill, target in ((os.kill, self.pid), (os.killpg, self.pid)):
            try:
                kill(target, signal.SIGKILL)
            except OSError:
                pass


def alive(pid: int) -> bool:
    """Whether ``pid`` is running (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


class ForkServer:
    """One server process; ``spawn`` may be called from any thread."""

    def __init__(self, command: list[str], env: dict[str, str]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._home = tempfile.mkdtemp(prefix="reglab-forkserver-")
        try:
            self.proc = subprocess.Popen([*command, str(theirs.fileno())], pass_fds=(theirs.fileno(),), cwd="/",
                                         env={**env, "HOME": self._home, "TMPDIR": self._home},
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         start_new_session=True)
        finally:
            theirs.close()
        self._sock = ours
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._next = 0
        self._waiting: dict[int, list] = {}
        self._workers: dict[int, Forked] = {}
        self.alive = True
        threading.Thread(target=self._read, name="reglab-forkserver", daemon=True).start()

    def spawn(self, spec: dict, fds: list[int], timeout: float) -> Forked:
        """Fork a worker: ``spec`` is its env, cwd and namespace kinds; ``fds`` its request,
        result and output pipes, then the sandbox's namespace descriptors."""
        if not self._ready.wait(timeout) or not self.alive:
            raise StartError(f"the fork server did not start ({self._why()})")
        event, box = threading.Event(), []
        with self._lock:
            self._next += 1
            ident = self._next
            self._waiting[ident] = [event, box]
            try:
                socket.send_fds(self._sock, [json.dumps({**spec, "id": ident}).encode()], fds)
            except OSError as exc:
                del self._waiting[ident]
                raise StartError(f"the fork server is gone ({exc})") from None
        if not event.wait(timeout) or not box:
            raise StartError(f"the fork server did not fork the worker ({self._why()})")
        if isinstance(box[0], StartError):
            raise box[0]
        return box[0]

    def _why(self) -> str:
        code = self.proc.poll()
        return f"it exited with status {code}" if code is not None else "no answer"

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            kind = message["kind"]
            if kind == "ready":
                self._ready.set()
            elif kind == "started":
                worker = Forked(message["pid"], self)
                with self._lock:
                    self._workers[worker.pid] = worker
                    event, box = self._waiting.pop(message["id"])
                box.append(worker)
                event.set()
            elif kind == "failed":
                with self._lock:
                    event, box = self._waiting.pop(message["id"])
                box.append(StartError(f"the forked worker could not enter its sandbox: {message['error']}"))
                event.set()
            elif kind == "exited":
                with self._lock:
                    worker = self._workers.pop(message["pid"], None)
                if worker is not None:
                    worker._exit(message["status"])
        self.alive = False
        self._ready.set()
        with self._lock:
            for event, _box in self._waiting.values():
                event.set()

    def close(self) -> None:
        try:  # the server exits at the end of its socket (shutdown also wakes the reading thread)
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self.proc.kill()  # it holds nothing worth a goodbye: its workers are ended by their Worker
        self.proc.wait()
        shutil.rmtree(self._home, ignore_errors=True)


_server: ForkServer | None = None
_server_lock = threading.Lock()


def server(command: list[str], env: dict[str, str]) -> ForkServer:
    """This process's fork server, started on first use and again if it died."""
    global _server
    with _server_lock:
        if _server is None or not _server.alive or _server.proc.poll() is not None:
            _server = ForkServer(command, env)
            atexit.register(_server.close)
        return _server


def supported() -> bool:
    return hasattr(os, "fork") and hasattr(socket, "send_fds") and Path("/proc/self/ns").is_dir()
