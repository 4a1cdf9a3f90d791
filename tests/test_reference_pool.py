"""The reference processes a batch computes its submissions' expected data in: each lent to one
computation at a time, never more of them than the pool allows (each holds torch)."""
import threading
import time

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
