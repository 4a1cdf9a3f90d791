"""The ``uid`` backend's sideways leaks, through ``python -m grader grade`` on the simulated machine
without namespaces (tests/simulate_machine.py: a private checkout, a Python every user can read):

- sockets: two submissions graded at once talking over an abstract Unix socket, and calls to root's
  listeners (an abstract socket, a socket file open to all), get nowhere; ``DataLoader(num_workers=2,
  pin_memory=True)`` still works;
- the expected-data cache under a fresh ``XDG_CACHE_HOME`` below a world-traversable folder is created
  before the exposure check and private: a submission that searches the disk reads none of it;
- with Landlock (``uid+landlock``), a penalties module that walks up from its folder finds no
  world-readable checkout of the reference elsewhere on the host.

Two batches: one where the kernel's Landlock is used, one on a simulated kernel without it (the
permission-based checks alone). Each has a correct neighbour (a copy of examples/complete) that keeps
full marks and untouched files. Fixtures: tests/fixtures/uidleaks.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from simulate_machine import cannot_simulate

REPO = Path(__file__).resolve().parent.parent
SOLUTION = REPO / "solution"
COMPLETE = REPO / "examples" / "complete"
FIXTURES = REPO / "tests" / "fixtures" / "uidleaks"
SIMULATE = REPO / "tests" / "simulate_machine.py"
MODULES = ("penalties", "model", "data", "train")


def _why_skip() -> str:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs Linux and root (the uid backend switches users)"
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    try:
        import pyseccomp  # noqa: F401
    except ImportError:
        return "pyseccomp is not installed"
    return cannot_simulate(str(REPO))


pytestmark = [pytest.mark.skipif(bool(_why_skip()), reason=_why_skip() or "-"), pytest.mark.timeout(1200)]


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def reference(folder: Path, extra: str = "") -> None:
    folder.mkdir(parents=True)
    for m in MODULES:
        text = (SOLUTION / f"{m}.py").read_text(encoding="utf-8")
        (folder / f"{m}.py").write_text(text + (extra if m == "penalties" else ""), encoding="utf-8")


class RootListeners:
    """Root's listeners a student must not reach: an abstract Unix socket and a socket file any user may
    connect to (mode 0666, in a folder every user may enter). Records whatever connects."""

    def __init__(self, token: str, folder: Path):
        self.path = folder / "root.sock"
        self.received: list[bytes] = []
        self.socks = []
        for address in ("\0reglab-root-" + token, str(self.path)):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(address)
            s.listen(8)
            s.settimeout(0.2)
            self.socks.append(s)
        self.path.chmod(0o666)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            for s in self.socks:
                try:
                    conn, _ = s.accept()
                    self.received.append(conn.recv(4096) or b"(connected)")
                    conn.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        for s in self.socks:
            s.close()


class Batch:
    """One ``grade`` under uid on the simulated machine, with Landlock or (``landlock=False``) on a kernel
    without it. Everything lives below a folder every user may enter (as a Docker image's folders are);
    the output folder and the cache (``XDG_CACHE_HOME``) do not exist yet: the grader creates them."""

    def __init__(self, landlock: bool):
        self.landlock, self.token = landlock, uuid.uuid4().hex
        self.base = Path(f"/var/tmp/reglab-uidleaks-{self.token[:12]}")
        self.base.mkdir(mode=0o755)
        self.base.chmod(0o755)
        self.subs, self.out, self.cache = self.base / "subs", self.base / "out", self.base / "cache"
        self.subs.mkdir(mode=0o700)
        (self.base / "public").mkdir()
        (self.base / "public").chmod(0o755)
        # A second checkout of the reference, world-readable (an old clone, a copied image layer).
        self.other = Path(f"/var/tmp/reglab-uidleaks-other-{self.token[:12]}")
        (self.other / "solution").mkdir(parents=True)
        for folder in (self.other, self.other / "solution"):
            folder.chmod(0o755)
        self.canary = uuid.uuid4().hex
        (self.other / "solution" / "penalties.py").write_text(
            f"# other checkout {self.canary}\n" + (SOLUTION / "penalties.py").read_text(encoding="utf-8"))
        (self.other / "solution" / "penalties.py").chmod(0o644)
        self.listeners = RootListeners(self.token, self.base / "public")
        self._submissions()
        self.neighbour_before = digest(self.subs / "neighbour")
        flags = ["--python-readable", "--private", str(REPO), "--fresh-tmp", "--no-namespaces"]
        if not landlock:
            flags.append("--no-landlock")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")},
               "REGLAB_SANDBOX": "uid", "XDG_CACHE_HOME": str(self.cache), "REGLAB_SECRET_SEED": uuid.uuid4().hex,
               "REGLAB_PROBE_TIMEOUT": "20"}
        command = (f"cd {REPO} && exec {sys.executable} -m grader grade {self.subs} --out {self.out} "
                   "--no-training --jobs 2")
        self.proc = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, str(SIMULATE),
                                    *flags, "--", "sh", "-c", command], env=env, capture_output=True, text=True,
                                   timeout=1100)
        self.listeners.close()

    def _submissions(self) -> None:
        shutil.copytree(COMPLETE, self.subs / "neighbour")
        loaders = self.subs / "loaders"
        reference(loaders)
        data = (loaders / "data.py").read_text(encoding="utf-8")
        data = data.replace("shuffle=True)", "shuffle=True, num_workers=2, pin_memory=True)")
        data = data.replace("shuffle=False)", "shuffle=False, num_workers=2, pin_memory=True)")
        assert data.count("num_workers=2") == 2
        (loaders / "data.py").write_text(data, encoding="utf-8")
        fill = {"__TOKEN__": self.token, "__ROOT_FILE__": str(self.listeners.path)}
        for name, role in (("talk_a", "listen"), ("talk_b", "call")):
            self._attack(name, FIXTURES / "sockets" / "attack.py", {**fill, "__ROLE__": role})
        self._attack("read_cache", FIXTURES / "read_cache" / "attack.py", fill)
        walk = self.subs / "walk_up"
        reference(walk)
        (walk / "penalties.py").write_text(self._filled(FIXTURES / "walk_up" / "penalties.py", fill), encoding="utf-8")

    def _attack(self, name: str, source: Path, fill: dict[str, str]) -> None:
        reference(self.subs / name, extra="\nfrom . import attack  # noqa: E402,F401\n")
        (self.subs / name / "attack.py").write_text(self._filled(source, fill), encoding="utf-8")

    @staticmethod
    def _filled(source: Path, fill: dict[str, str]) -> str:
        text = source.read_text(encoding="utf-8")
        for key, value in fill.items():
            text = text.replace(key, value)
        return text

    def result(self, name: str) -> dict:
        return json.loads((self.out / name / "results.json").read_text(encoding="utf-8"))

    def output(self, name: str) -> str:
        return self.result(name)["extra_data"]["reglab"]["output"]

    def lines(self, name: str, verdict: str) -> list[str]:
        return [line for line in self.output(name).splitlines() if line.startswith(f"ATTACK {self.token} {verdict}")]

    def parts(self, name: str) -> dict[str, tuple[float, float]]:
        parts: dict[str, tuple[float, float]] = {}
        for t in self.result(name)["tests"]:
            score, most = parts.get(t["tags"][0], (0, 0))
            parts[t["tags"][0]] = (score + t["score"], most + t["max_score"])
        return parts

    def describe(self) -> str:
        return f"rc={self.proc.returncode}\n{self.proc.stdout[-3000:]}\n{self.proc.stderr[-3000:]}"

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.other, ignore_errors=True)


@pytest.fixture(scope="module", params=["landlock", "permissions"])
def batch(request):
    b = Batch(landlock=request.param == "landlock")
    yield b
    b.cleanup()


def test_graded_under_uid_with_landlock_where_the_kernel_has_it(batch):
    assert batch.proc.returncode == 0, batch.describe()
    label = "uid+landlock" if batch.landlock else "uid"
    assert f"sandbox: {label} as the sandbox user" in batch.proc.stderr, batch.describe()
    for name in ("neighbour", "loaders", "talk_a", "talk_b", "read_cache", "walk_up"):
        assert batch.result(name)["extra_data"]["reglab"]["environment"]["sandbox"] == label, name


def test_the_neighbour_keeps_full_marks_and_untouched_files(batch):
    result = batch.result("neighbour")
    assert result["score"] == sum(t["max_score"] for t in result["tests"]) > 0, batch.describe()
    assert digest(batch.subs / "neighbour") == batch.neighbour_before
    rows = {row["name"]: row for row in csv.DictReader((batch.out / "grades.csv").read_text("utf-8-sig").splitlines())}
    assert float(rows["neighbour"]["total"]) == result["score"]


def test_a_dataloader_with_worker_processes_gets_full_marks(batch):
    score, most = batch.parts("loaders")["data"]
    assert score == most > 0, [t.get("output", "")[-1500:] for t in batch.result("loaders")["tests"]
                               if t["score"] < t["max_score"]]


def test_no_socket_reaches_a_classmate_or_roots_listeners(batch):
    assert not batch.listeners.received, batch.listeners.received
    for name in ("talk_a", "talk_b"):
        assert not batch.lines(name, "ESCAPED"), batch.lines(name, "ESCAPED")
        denied = "\n".join(batch.lines(name, "denied"))
        assert "root's abstract socket" in denied and "root's socket file" in denied, batch.output(name)[-2000:]
        score, most = batch.parts(name)["penalties"]
        assert score == most, name  # the attack is charged nothing: the reference's penalties still run


def test_the_expected_data_cache_is_created_private_before_the_check(batch):
    cache = batch.cache / "reglab"
    assert cache.is_dir(), batch.describe()  # made, private, before the exposure check
    # What grade computes for a submission's own inputs never reaches the disk (grader/derive.py); whatever
    # the cache holds (the public seed's data) is the grader's alone.
    files = list(cache.rglob("*"))
    assert not batch.lines("read_cache", "ESCAPED"), [line[:300] for line in batch.lines("read_cache", "ESCAPED")]
    assert batch.lines("read_cache", "done"), batch.output("read_cache")[-2000:]
    for path in [cache, *files]:
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))


def test_walking_up_finds_no_world_readable_checkout_of_the_reference(batch):
    if not batch.landlock:
        # By permissions alone a world-readable checkout elsewhere is the sandbox user's to read (README, "The
        # sandbox"): what Landlock is for. That the attack finds it here shows that it looks where it should.
        assert batch.lines("walk_up", "ESCAPED"), batch.output("walk_up")[-2000:]
        return
    assert not batch.lines("walk_up", "ESCAPED"), batch.lines("walk_up", "ESCAPED")
    assert batch.lines("walk_up", "denied"), batch.output("walk_up")[-2000:]
    assert batch.canary not in batch.output("walk_up")
    assert batch.parts("walk_up")["penalties"][0] == 0


def test_a_folder_others_may_write_above_the_output_is_refused():
    """An output folder below a world-writable, not sticky folder: the sandbox user could swap it."""
    base = Path(f"/var/tmp/reglab-uidleaks-open-{uuid.uuid4().hex[:12]}")
    base.mkdir()
    base.chmod(0o777)
    try:
        reference(base / "subs" / "one")
        (base / "subs").chmod(0o700)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")}, "REGLAB_SANDBOX": "uid"}
        command = f"cd {REPO} && exec {sys.executable} -m grader grade {base / 'subs'} --out {base / 'out'} --no-training"
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, str(SIMULATE),
                               "--python-readable", "--private", str(REPO), "--fresh-tmp", "--no-namespaces",
                               "--", "sh", "-c", command], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert f"{base} is writable by other users" in proc.stderr, proc.stderr[-3000:]
        assert not (base / "out" / "grades.csv").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)
