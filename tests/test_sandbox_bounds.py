"""The sandbox bounded as a whole, and ordinary code running in it: through ``python -m grader grade``,
once per backend this machine provides (as tests/test_isolation_attacks.py runs them).

Each run grades one batch, one submission at a time: a correct ``neighbour`` (examples/complete) and
each submission of tests/fixtures/bounds. The numbers are scaled down from the issue's (four children
of 2.1 GB against a sandbox of 4 GB) so that a broken bound cannot threaten this shared machine: the
sandbox gets 1 GB (``sandbox_memory_mb``), each child fills 600 MB (2.4 GB together, the same ratio
as 4 × 2.1 GB to 8 GB), and the scratch cap is 256 MB against 2 GB written.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from test_isolation_attacks import BACKENDS, CANNOT_SIMULATE, SECRET, daemons, digest, shared_cache

REPO = Path(__file__).resolve().parent.parent
COMPLETE = REPO / "examples" / "complete"
FIXTURES = REPO / "tests" / "fixtures" / "bounds"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
SANDBOX_MB, CHILD_MB, SCRATCH_MB = 1024, 600, 256

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox backends need Linux"),
              pytest.mark.timeout(1800)]


class Batch:
    """One ``grade`` of the neighbour and the fixtures under one backend."""

    def __init__(self, backend: str, prefix: list[str], setting: str, cgroup: bool = True):
        self.backend, self.cgroup, self.token = backend, cgroup, uuid.uuid4().hex
        self.nonce = str(random.randrange(10**8, 10**9))
        self.base = Path(f"/var/tmp/reglab-bounds-{self.token[:12]}")
        self.base.mkdir(mode=0o700)
        self.subs, self.out = self.base / "subs", self.base / "out"
        shutil.copytree(COMPLETE, self.subs / "neighbour")
        fill = {"__TOKEN__": self.token, "__CHILD_MB__": str(CHILD_MB), "__NONCE__": self.nonce}
        for name in NAMES:
            folder = self.subs / name
            shutil.copytree(COMPLETE, folder)
            for src in (FIXTURES / name).glob("*.py"):
                text = src.read_text(encoding="utf-8")
                for key, value in fill.items():
                    text = text.replace(key, value)
                (folder / src.name).write_text(text, encoding="utf-8")
            if (folder / "bound.py").exists():
                with open(folder / "penalties.py", "a", encoding="utf-8") as fh:
                    fh.write("\nfrom . import bound  # noqa: E402,F401\n")
        self.neighbour_before = digest(self.subs / "neighbour")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")},
               "REGLAB_SANDBOX": setting, "XDG_CACHE_HOME": str(shared_cache()), "REGLAB_SECRET_SEED": SECRET,
               "REGLAB_PROBE_TIMEOUT": "10", "REGLAB_SANDBOX_MEMORY_MB": str(SANDBOX_MB),
               "REGLAB_SCRATCH_MB": str(SCRATCH_MB), "REGLAB_CGROUP": "1" if cgroup else "0"}
        started = time.monotonic()
        self.proc = subprocess.run([*prefix, sys.executable, "-m", "grader", "grade", str(self.subs), "--out",
                                    str(self.out), "--no-training", "--jobs", "1"], cwd=REPO, env=env,
                                   capture_output=True, text=True, timeout=1500)
        self.elapsed = time.monotonic() - started
        self.left = daemons(f"3600.{self.nonce}")

    def result(self, name: str) -> dict:
        return json.loads((self.out / name / "results.json").read_text(encoding="utf-8"))

    def reglab(self, name: str) -> dict:
        return self.result(name)["extra_data"]["reglab"]

    def parts(self, name: str) -> dict[str, tuple[float, float]]:
        parts: dict[str, tuple[float, float]] = {}
        for t in self.result(name)["tests"]:
            score, most = parts.get(t["tags"][0], (0, 0))
            parts[t["tags"][0]] = (score + t["score"], most + t["max_score"])
        return parts

    def describe(self) -> str:
        return f"[{self.backend}] rc={self.proc.returncode}\n{self.proc.stdout[-3000:]}\n{self.proc.stderr[-3000:]}"

    def cleanup(self) -> None:
        for folder in ("/tmp", "/var/tmp", "/dev/shm"):
            Path(folder, f"reglab-bound-{self.token}").unlink(missing_ok=True)
        for pid in daemons(f"3600.{self.nonce}"):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)


# Each backend as the machine is (with a cgroup per worker where it can make one), and uid as in a
# container that cannot make one (the watchdog): the usual Docker or Gradescope case.
RUNS = [*((b[0], True) for b in BACKENDS), *(("uid", False) for b in BACKENDS if b[0] == "uid")]


def _params() -> list:
    return [pytest.param(run, id=run[0] + ("" if run[1] else "-watchdog"),
                         marks=[pytest.mark.skip(reason=CANNOT_SIMULATE)] if CANNOT_SIMULATE and run[0] != "bwrap" else [])
            for run in RUNS] or [pytest.param(("none", True), marks=pytest.mark.skip(reason="no sandbox backend here"))]


@pytest.fixture(scope="module", params=_params())
def batch(request):
    name, cgroup = request.param
    b = Batch(*next(b for b in BACKENDS if b[0] == name), cgroup=cgroup)
    yield b
    b.cleanup()


def full_marks(result: dict) -> bool:
    return result["score"] == sum(t["max_score"] for t in result["tests"]) > 0


def test_the_batch_is_graded_and_the_neighbour_keeps_full_marks(batch):
    assert batch.proc.returncode == 0, batch.describe()
    assert full_marks(batch.result("neighbour")), batch.describe()
    assert digest(batch.subs / "neighbour") == batch.neighbour_before
    for name in ("neighbour", *NAMES):
        env = batch.reglab(name)["environment"]
        assert env["sandbox"].split("+")[0] == batch.backend and env["bounds"].startswith("cgroup" if batch.cgroup else "no cgroup"), env
        assert not batch.reglab(name)["grader_error"], (name, batch.reglab(name)["grader_error"])
    print(f"[{batch.backend}] {batch.reglab('neighbour')['environment']['bounds']}; batch {batch.elapsed:.1f} s")


def test_four_children_end_the_worker_at_the_sandbox_limit(batch):
    name = "memory_children"
    text = json.dumps(batch.result(name), ensure_ascii=False)
    assert f"BOUND {batch.token} ESCAPED" not in batch.reglab(name)["output"]
    assert f"more than {SANDBOX_MB} MB of memory (the sandbox's limit)" in text, batch.reglab(name)["output"][-2000:]
    parts = batch.parts(name)
    # Charged to the import it happened in (penalties.py); every other part is the student's own and correct.
    assert parts["penalties"][0] < parts["penalties"][1]
    assert all(score == most for part, (score, most) in parts.items() if part not in ("penalties", "training")), parts


def test_two_gigabytes_written_to_scratch_stop_at_the_cap(batch):
    name = "scratch_fill"
    output, text = batch.reglab(name)["output"], json.dumps(batch.result(name), ensure_ascii=False)
    assert f"BOUND {batch.token} ESCAPED" not in output, output[-2000:]
    stopped = [line for line in output.splitlines() if line.startswith(f"BOUND {batch.token} stopped after")]
    if batch.backend == "uid":  # no tmpfs without a mount namespace: the grader measures the scratch folder
        assert stopped or f"more than {SCRATCH_MB} MB to its scratch folder" in text, output[-2000:]
    else:
        assert stopped and stopped[0].endswith("ENOSPC"), output[-2000:]
        assert int(stopped[0].split()[4]) <= SCRATCH_MB, stopped
    assert batch.parts(name)["model"][0] == batch.parts(name)["model"][1]


def test_five_hundred_sleepers_end_with_the_worker(batch):
    name = "sleepers"
    output = batch.reglab(name)["output"]
    assert f"BOUND {batch.token} started" in output, output[-2000:]
    assert not batch.left, f"still running: {batch.left}"
    written = next(line for line in output.splitlines() if line.startswith(f"BOUND {batch.token} left files in"))
    assert {"/tmp", "/dev/shm"} <= set(written.split()[5:]), written  # writable in every backend (bwrap: no /var/tmp)
    # The host's shared folders (the simulated machine's /tmp is its own, gone with it).
    left = [p for folder in ("/tmp", "/var/tmp", "/dev/shm") for p in Path(folder).glob(f"reglab-bound-{batch.token}")]
    assert not left, left
    assert full_marks(batch.result(name)), batch.parts(name)
    took, normal = batch.reglab(name)["duration"], batch.reglab("neighbour")["duration"]
    print(f"[{batch.backend}] {output.splitlines()[-1] if output else ''}: {took:.1f} s, a normal one {normal:.1f} s")


def test_loaders_with_two_workers_and_pinned_memory_get_full_marks(batch):
    assert full_marks(batch.result("loaders")), (batch.parts("loaders"), batch.reglab("loaders")["output"][-2000:])
