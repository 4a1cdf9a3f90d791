"""The reference processes a batch computes its submissions' expected data in: each lent to one
computation at a time, never more of them than the pool allows (each holds torch)."""
import threading
import time
from pathlib import Path

import pytest

from grader import reference


class FakeServer:
    made = []

    def __init__(self):
        self.busy = threading.Lock()
        FakeServer.made.append(self)

    def compute(self):
        assert self.busy.acquire(blocking=False), "one server was lent to two computations at once"
        time.sleep(0.02)
        self.busy.release()


def test_a_pool_lends_each_process_to_one_computation_and_makes_no_more_than_its_size(monkeypatch):
    monkeypatch.setattr(reference, "ReferenceServer", FakeServer)
    FakeServer.made = []
    pool = reference.ReferencePool()
    pool.size = 2
    running, most = [0], [0]
    lock = threading.Lock()

    def one():
        with pool.server() as server:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            server.compute()
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(FakeServer.made) == 2 and most[0] == 2


def test_a_batch_asks_for_one_process_per_two_jobs_at_most_one_per_two_cores(monkeypatch):
    asked = []
    monkeypatch.setattr(reference._POOL, "prestart", lambda solution, size: asked.append(size))
    monkeypatch.setattr(reference.os, "cpu_count", lambda: 8)
    for jobs in (1, 2, 3, 8, 32):
        reference.prestart(None, jobs)
    assert asked == [1, 1, 1, 4, 4]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads the process's environment in /proc")
def test_the_reference_process_runs_one_blas_thread_whatever_the_graders_environment(monkeypatch):
    """As in the worker: the same float rounding, and no idle BLAS thread spinning beside each numpy call
    (it had doubled the process's CPU per submission)."""
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    server = reference.ReferenceServer()
    server.start(reference.PACKAGE_ROOT.parent / "solution")
    try:
        deadline = time.monotonic() + 30
        # Until the child has exec'd its Python, /proc shows the environment it was forked with (ours),
        # and nothing while it execs.
        while True:
            environ = open(f"/proc/{server.proc.pid}/environ", "rb").read().split(b"\0")
            if b"serve" in open(f"/proc/{server.proc.pid}/cmdline", "rb").read() and environ != [b""]:
                break
            assert server.proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        server.close()
    for name in (b"OMP_NUM_THREADS", b"OPENBLAS_NUM_THREADS", b"MKL_NUM_THREADS"):
        assert name + b"=1" in environ
