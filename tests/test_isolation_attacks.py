"""Attacks on the sandbox, through ``python -m grader grade``, once per backend this machine provides.

Every run grades one batch: a correct ``neighbour`` (the reference), each attack of
tests/fixtures/attacks (added to a copy of the reference), and submissions that link to a classmate
or to the reference. Submissions and ``--out`` live under /var/tmp (not TMPDIR, which the old sandbox
mounted over). Each test then checks the host: files unchanged, nothing received on the listening
sockets, the grader alive, no process left, the neighbour's full marks.

Backends: ``bwrap`` as the machine is; ``unshare`` and ``uid`` on a simulated machine
(tests/simulate_machine.py) whose Python is readable by other users, with this checkout in a private
folder, and for ``uid`` without namespaces (a seccomp filter refusing them, as in Docker).
"""
from __future__ import annotations

import atexit
import csv
import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from grader import backends as sandbox_backends, sandboxuser
from simulate_machine import cannot_simulate

REPO = Path(__file__).resolve().parent.parent
SOLUTION = REPO / "solution"
ATTACKS = REPO / "tests" / "fixtures" / "attacks"
SIMULATE = REPO / "tests" / "simulate_machine.py"
MODULES = ("penalties", "model", "data", "train")
ATTACK_NAMES = sorted(p.name for p in ATTACKS.iterdir() if p.is_dir() and p.name != "gradescope")
LINKED = ("link_top", "link_assignment", "link_files", "link_subfolder", "hardlink")

pytestmark = [pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox backends need Linux"),
              pytest.mark.timeout(1800)]  # one batch of 12 submissions per backend


def simulated(*flags: str) -> list[str]:
    return ["unshare", "--mount", "--propagation", "private", sys.executable, str(SIMULATE), *flags, "--"]


# A private checkout with a readable Python beside it cannot be simulated (a venv inside the checkout's folder).
CANNOT_SIMULATE = cannot_simulate(str(REPO)) if sys.platform.startswith("linux") else "Linux only"


# One course secret and one expected-data cache (0700, outside TMPDIR) for every backend's batch: the
# secret's expected data is computed once per session, not once per backend.
SECRET = uuid.uuid4().hex


@functools.lru_cache(maxsize=1)
def shared_cache() -> Path:
    path = Path(tempfile.mkdtemp(prefix="reglab-isolation-cache-", dir="/var/tmp"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def backends() -> list[tuple[str, list[str], str]]:
    """(backend, command prefix, REGLAB_SANDBOX) for each backend this machine can run."""
    found = []
    if sandbox_backends.choose("auto").name == "bwrap":
        found.append(("bwrap", [], "bwrap"))
    if os.geteuid() == 0 and shutil.which("unshare"):
        found.append(("unshare", simulated("--python-readable", "--private", str(REPO), "--fresh-tmp"), "unshare"))
        try:
            import pyseccomp  # noqa: F401
            found.append(("uid", simulated("--python-readable", "--private", str(REPO), "--fresh-tmp",
                                                "--no-namespaces"), "auto"))
        except ImportError:
            pass
    return found


BACKENDS = backends()


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_reference(folder: Path, extra: str = "") -> None:
    folder.mkdir(parents=True)
    for m in MODULES:
        text = (SOLUTION / f"{m}.py").read_text(encoding="utf-8")
        (folder / f"{m}.py").write_text(text + (extra if m == "penalties" else ""), encoding="utf-8")


class Listener:
    """A TCP and a UDP socket on 127.0.0.1 that record whatever reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.received: list[bytes] = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            for sock in (self.tcp, self.udp):
                try:
                    if sock is self.tcp:
                        conn, _ = sock.accept()
                        self.received.append(conn.recv(4096) or b"(connected)")
                        conn.close()
                    else:
                        self.received.append(sock.recv(4096))
                except OSError:
                    pass

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        self.tcp.close()
        self.udp.close()


def daemons(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state not in ("Z", "X"):
                        found.append(int(entry))
            except OSError:
                pass
    return found


class Run:
    """One ``grade`` of the attack batch under one backend, and what the host looked like before and after."""

    def __init__(self, backend: str, prefix: list[str], setting: str):
        self.backend, self.token = backend, uuid.uuid4().hex
        self.base = Path(f"/var/tmp/reglab-attacks-{self.token[:12]}")
        self.base.mkdir(mode=0o700)
        self.subs, self.out = self.base / "subs", self.base / "out"
        # A second checkout of the reference elsewhere on the disk (a TA's, an old clone), private as
        # home folders are (0700): the uid backend can only rely on permissions.
        self.other = Path(f"/var/tmp/reglab-other-checkout-{self.token[:12]}")
        (self.other / "solution").mkdir(parents=True)
        # bwrap's whitelist hides it whatever its mode; unshare and uid see the host by permissions only.
        self.other.chmod(0o755 if backend == "bwrap" else 0o700)
        self.canary = uuid.uuid4().hex
        (self.other / "solution" / "penalties.py").write_text(
            f"# other checkout {self.canary}\n" + (SOLUTION / "penalties.py").read_text(encoding="utf-8"))
        write_reference(self.subs / "neighbour", extra=f"\n# neighbour canary {self.canary}\n")
        self.listener = Listener()
        fill = {"__TOKEN__": self.token, "__SUBS__": str(self.subs), "__OUT__": str(self.out), "__REPO__": str(REPO),
                "__OTHER__": str(self.other), "__TCP__": str(self.listener.tcp.getsockname()[1]),
                "__UDP__": str(self.listener.udp.getsockname()[1])}
        for name in ATTACK_NAMES:
            write_reference(self.subs / name, extra="\nfrom . import attack  # noqa: E402,F401\n")
            text = (ATTACKS / name / "attack.py").read_text(encoding="utf-8")
            for key, value in fill.items():
                text = text.replace(key, value)
            (self.subs / name / "attack.py").write_text(text, encoding="utf-8")
        self._links()
        self.neighbour_before = digest(self.subs / "neighbour")
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")},
                    "REGLAB_SANDBOX": setting, "REGLAB_GRADER_CANARY": self.canary,
                    "XDG_CACHE_HOME": str(shared_cache()), "REGLAB_SECRET_SEED": SECRET,
                    "REGLAB_PROBE_TIMEOUT": "10"}
        started = time.monotonic()
        self.proc = subprocess.run([*prefix, sys.executable, "-m", "grader", "grade", str(self.subs), "--out",
                                    str(self.out), "--no-training", "--jobs", "2"], cwd=REPO, env=self.env,
                                   capture_output=True, text=True, timeout=1500)
        self.elapsed = time.monotonic() - started
        self.results_at_exit = {n: (self.out / n / "results.json").read_bytes()
                                for n in ("neighbour", "daemon_rewrite") if (self.out / n / "results.json").exists()}
        self.grades_at_exit = (self.out / "grades.csv").read_bytes() if (self.out / "grades.csv").exists() else b""
        time.sleep(3)  # a daemon that survived would rewrite the results by now (it writes every 0.5 s)
        self.left = daemons(self.token)
        self.listener.close()

    def _links(self) -> None:
        neighbour = self.subs / "neighbour"
        (self.subs / "link_top").symlink_to(neighbour)                      # the whole submission
        (self.subs / "link_assignment").mkdir()
        (self.subs / "link_assignment" / "assignment").symlink_to(neighbour)  # a repository's assignment/
        (self.subs / "link_files").mkdir()
        for m in MODULES:
            (self.subs / "link_files" / f"{m}.py").symlink_to(SOLUTION / f"{m}.py")
        sub = self.subs / "link_subfolder"
        write_reference(sub)
        (sub / "penalties.py").write_text("from .lib.penalties import *  # noqa\n", encoding="utf-8")
        (sub / "lib").symlink_to(SOLUTION)                                  # a sub-folder linked to solution/
        hard = self.subs / "hardlink"
        write_reference(hard)
        (hard / "model.py").unlink()
        shutil.copyfile(SOLUTION / "model.py", self.other / "solution" / "model.py")
        os.link(self.other / "solution" / "model.py", hard / "model.py")    # the reference's file, hard-linked

    def result(self, name: str) -> dict:
        return json.loads((self.out / name / "results.json").read_text(encoding="utf-8"))

    def output(self, name: str) -> str:
        return self.result(name)["extra_data"]["reglab"]["output"]

    def escaped(self, name: str) -> list[str]:
        return [line for line in self.output(name).splitlines() if line.startswith(f"ATTACK {self.token} ESCAPED")]

    def describe(self) -> str:
        return f"[{self.backend}] rc={self.proc.returncode}\n{self.proc.stdout[-3000:]}\n{self.proc.stderr[-3000:]}"

    def cleanup(self) -> None:
        for pid in daemons(self.token):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.other, ignore_errors=True)
        for folder in planted_folders():
            for p in folder.glob(f"reglab_attack_{self.token}*"):
                p.unlink()


def planted_folders() -> list[Path]:
    import site
    import sysconfig

    folders = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")} | set(site.getsitepackages())
    folders |= {sys.prefix, sys.base_prefix, "/etc", os.path.expanduser("~"), "/root"}
    return [Path(f) for f in sorted(folders) if os.path.isdir(f)]


def _params() -> list:
    """One per backend; the simulated ones skipped, with the reason, where this layout cannot be simulated."""
    return [pytest.param(b[0], marks=pytest.mark.skip(reason=CANNOT_SIMULATE))
            if CANNOT_SIMULATE and b[0] in ("unshare", "uid") else b[0] for b in BACKENDS] or [pytest.param("none", marks=pytest.mark.skip(
                reason="no sandbox backend on this machine"))]


@pytest.fixture(scope="module", params=_params())
def run(request):
    backend = next(b for b in BACKENDS if b[0] == request.param)
    r = Run(*backend)
    yield r
    r.cleanup()


def test_the_batch_is_graded_in_the_backend_asked_for(run):
    assert run.proc.returncode == 0, run.describe()
    assert f"sandbox: {run.backend}" in run.proc.stderr, run.describe()
    # uid restricts itself with Landlock where this kernel has it (the simulated machine shares the kernel).
    label = run.backend + ("+landlock" if run.backend == "uid" and not sandbox_backends._try_landlock() else "")
    for name in ("neighbour", *ATTACK_NAMES, *LINKED):
        env = run.result(name)["extra_data"]["reglab"]["environment"]
        assert env["sandbox"] == label, (name, env)

    print(f"[{run.backend}] the batch took {run.elapsed:.1f} s")


def test_the_neighbour_keeps_full_marks_and_untouched_files(run):
    result = run.result("neighbour")
    assert result["score"] == sum(t["max_score"] for t in result["tests"]) > 0, run.describe()
    assert digest(run.subs / "neighbour") == run.neighbour_before
    rows = {row["name"]: row for row in csv.DictReader(run.grades_at_exit.decode("utf-8-sig").splitlines())}
    assert float(rows["neighbour"]["total"]) == result["score"]


def test_writing_into_the_python_installation_etc_and_home_is_denied(run):
    assert not run.escaped("write_system"), run.escaped("write_system")
    planted = [p for f in planted_folders() for p in f.glob(f"reglab_attack_{run.token}*")]
    assert not planted, planted
    assert f"ATTACK {run.token} denied" in run.output("write_system")  # the attack did run


def test_other_submissions_their_results_and_the_output_folder_are_invisible(run):
    out = run.output("read_neighbours")
    assert not run.escaped("read_neighbours"), run.escaped("read_neighbours")
    assert run.canary not in out and f"ATTACK {run.token} denied" in out
    for name in ("neighbour", "read_neighbours"):
        result = run.result(name)
        assert result["tests"] and f"forged {run.token}" not in json.dumps(result)
    assert run.token not in run.grades_at_exit.decode()
    assert digest(run.subs / "neighbour") == run.neighbour_before


def test_no_reference_checkout_is_found_anywhere(run):
    out = run.output("find_reference")
    assert f"ATTACK {run.token} done" in out, out[-2000:]
    assert not run.escaped("find_reference"), run.escaped("find_reference")
    assert run.canary not in out
    assert '"""' + (SOLUTION / "penalties.py").read_text().split('"""')[1][:60] not in out


def test_the_grader_cannot_be_signalled_traced_or_read(run):
    out = run.output("signal_grader")
    assert run.proc.returncode == 0 and (run.out / "grades.csv").exists(), run.describe()
    assert not run.escaped("signal_grader"), run.escaped("signal_grader")
    assert run.canary not in out  # the grader's environment holds it
    assert f"ATTACK {run.token} " in out


def test_no_socket_reaches_127_0_0_1(run):
    assert not run.listener.received, run.listener.received
    out = run.output("network")
    assert f"ATTACK {run.token} denied TCP to 127.0.0.1" in out and not run.escaped("network"), out[-2000:]
    # A UDP datagram may leave without an error (a network namespace has its own loopback): what
    # counts is that nothing reached the host's 127.0.0.1 (the listener above).


def test_a_detached_daemon_is_dead_before_the_results_are_written(run):
    assert not run.left, f"still running: {run.left}"
    assert f"ATTACK {run.token} info daemon started" in run.output("daemon_rewrite")
    for name, before in run.results_at_exit.items():
        assert (run.out / name / "results.json").read_bytes() == before, name
        assert f"rewritten {run.token}" not in before.decode()
    assert (run.out / "grades.csv").read_bytes() == run.grades_at_exit


def test_student_code_runs_as_the_sandbox_user_without_privileges(run):
    import pwd

    line = next(l for l in run.output("whoami").splitlines() if l.startswith(f"ATTACK {run.token} whoami"))
    seen = dict(w.split("=", 1) for w in line.split()[3:])
    if os.geteuid() == 0:
        users = {e.pw_uid for e in pwd.getpwall() if e.pw_name.startswith(sandboxuser.SANDBOX_USER)}
        assert int(seen["uid"]) in users and seen["uid"] == seen["euid"] and seen["groups"] == "-", line
        assert seen["gid"] == str(pwd.getpwuid(int(seen["uid"])).pw_gid), line
    assert int(seen["capeff"], 16) == 0 and int(seen["capprm"], 16) == 0 and seen["nnp"] == "1", line
    assert seen["seccomp"] == ("2" if run.backend == "uid" else seen["seccomp"]), line


@pytest.mark.parametrize("name", LINKED)
def test_links_to_a_classmate_or_the_reference_are_refused(run, name):
    result = run.result(name)
    problems = "\n".join(result["extra_data"]["reglab"]["problems"])
    assert "link" in problems, (name, problems)
    parts = {}
    for t in result["tests"]:
        part = t["tags"][0]
        score, most = parts.get(part, (0, 0))
        parts[part] = (score + t["score"], most + t["max_score"])
    if name == "link_subfolder":
        assert parts["penalties"][0] == 0 and parts["model"][0] == parts["model"][1]
    elif name == "hardlink":
        assert parts["model"][0] == 0 and parts["penalties"][0] == parts["penalties"][1]
    else:
        assert result["score"] == 0, (name, result["score"])
