"""The fork server's side (Linux): import torch once, then fork every worker from this process.

``python -I -c <boot> SOCKET_FD``, started by ``grader/forkserver.py`` from the same private copy of
this package as a worker, with a worker's clean environment. It imports torch, torchvision's
transforms and the worker's own modules, and nothing else of the grader: it never sees a request, a
course secret, a result or a line of student code. Per worker it is sent (over a Unix socket,
descriptors as SCM_RIGHTS) the worker's three pipes, its environment and folder, and the namespaces
of the sandbox the grader built for it; it forks a child that

1. leads a session of its own, keeps the three pipes (as stdin /dev/null, stdout/stderr, request
   and result) and closes every other descriptor;
2. joins the sandbox's namespaces (``jail.join``);
3. forks the worker itself (inside the sandbox's PID namespace), which takes its environment and
   folder and runs ``__main__.main``: from there on it is exactly a worker started afresh, and
   ``jail.enter`` makes it the sandbox user before any student code;
4. waits for the worker and ends as it ended.

The server tells the grader each child's pid when it is forked and its status when it ends.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import sys
import tempfile
import traceback

import numpy  # noqa: F401 - preloaded: what every worker imports
import torch
import torch.nn.functional  # noqa: F401
import torch.utils.data  # noqa: F401

from . import jail
from .__main__ import main

try:  # what the lab's data.py imports; its heavy subpackages stay deferred (lazyvision.py)
    import torchvision.transforms  # noqa: F401
except ImportError:  # a worker that needs it meets the error itself
    pass

MAX_MESSAGE = 1 << 20


def serve(sock_fd: int) -> None:
    sock = socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select below
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    _send(sock, {"kind": "ready"})
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 16)
                except OSError:
                    data, fds = b"", []
                if not data:  # the grader is gone; its workers were its to end
                    os._exit(0)
                spec = json.loads(data)
                if not _forkable():  # an import started a thread or CUDA: the grader falls back
                    for fd in fds:
                        os.close(fd)
                    _send(sock, {"kind": "failed", "id": spec["id"],
                                 "error": "the fork server has more than one thread or a CUDA context"})
                    continue
                told_r, told_w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    sock.detach()
                    os.close(told_r)
                    _child(spec, fds, told_w)  # never returns
                os.close(told_w)
                for fd in fds:
                    os.close(fd)
                told = _read_all(told_r)
                if told == b"ok":
                    _send(sock, {"kind": "started", "id": spec["id"], "pid": pid})
                else:  # it could not enter the sandbox: no worker runs (its end, reported, matches no worker)
                    _send(sock, {"kind": "failed", "id": spec["id"],
                                 "error": told.decode("utf-8", "replace")[-2000:] or "the child ended"})
            else:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
        _reap(sock)


def _forkable() -> bool:
    """Forking is only safe from a process with one thread and no CUDA context."""
    return len(os.listdir("/proc/self/task")) == 1 and not torch.cuda.is_initialized()


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"kind": "exited", "pid": pid, "status": os.waitstatus_to_exitcode(status)})


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode())


def _child(spec: dict, fds: list[int], told: int) -> None:
    """The forked child: steps 1-4 of the module's docstring. Tells the server on ``told`` whether it
    entered the sandbox and forked the worker ("ok") or why not. Never returns."""
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        request, result, output, *namespaces = fds
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        keep = {0, 1, 2, request, result, told, *namespaces}
        for fd in [int(f) for f in os.listdir("/proc/self/fd")]:
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass  # the listing's own descriptor
        for procs in spec.get("cgroup", []):  # the worker's cgroup, before it exists: all it starts is counted
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))
        jail.join(list(zip(spec["namespaces"], namespaces)))
        worker = os.fork()
        if worker == 0:
            os.close(told)
            _worker(spec, request, result)
        os.write(told, b"ok")
        for fd in (0, 1, 2, told, request, result):
            os.close(fd)  # only the worker holds its pipes: they end when it does
        _, status = os.waitpid(worker, 0)
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code & 0xFF)
    except BaseException as exc:  # noqa: BLE001 - never back into the server's loop
        try:
            os.write(told, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(70)


def _worker(spec: dict, request: int, result: int) -> None:
    try:
        os.environ.clear()
        os.environ.update(spec["env"])
        os.chdir(spec["cwd"])
        tempfile.tempdir = None  # read again from the worker's TMPDIR
        sys.argv = ["-c", str(request), str(result)]
        main(request, result)
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        os._exit(1)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
