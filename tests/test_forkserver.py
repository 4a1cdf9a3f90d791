"""Warm starts (grader/forkserver.py, grader/worker/zygote.py): a forked worker grades exactly like a
fresh interpreter, starts from the server's clean state every time, and the server never holds
anything that is not every worker's anyway."""
import dataclasses
import json
import os
import signal

import pytest

from grader import backends, forkserver, isolation
from grader.limits import Limits
from grader.sandbox import Job, run_probes

pytestmark = pytest.mark.skipif(not isolation.warm(), reason="the fork server needs Linux")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = Limits(probe_timeout=20, import_timeout=20, total_timeout=120)
with open(os.path.join(REPO, "solution", "penalties.py")) as _fh:
    REFERENCE_PENALTIES = _fh.read()


def outcomes(result):
    return [(c.id, c.outcome, c.score, c.message) for c in result.checks]


@pytest.mark.parametrize("example", ["complete", "typical_mistakes", "half_done"])
def test_a_forked_worker_grades_like_a_fresh_interpreter(grade, config, example):
    path = os.path.join(REPO, "examples", example)
    warm = grade(path, config=dataclasses.replace(config, warm_start=True))
    cold = grade(path, config=dataclasses.replace(config, warm_start=False))
    assert outcomes(warm) == outcomes(cold)
    assert warm.output == cold.output


def submission(tmp_path, penalties: str):
    folder = tmp_path / "sub"
    folder.mkdir()
    solution = os.path.join(REPO, "solution")
    for name in ("model.py", "data.py", "train.py"):
        with open(os.path.join(solution, name)) as fh:
            (folder / name).write_text(fh.read())
    (folder / "penalties.py").write_text(penalties)
    return folder


def test_every_worker_starts_from_the_servers_state_not_the_last_workers(tmp_path):
    """What one worker changes in the modules it shares with the server (torch's attributes, its RNG)
    is its own copy: a second worker, here the restart after a crash, sees none of it."""
    sub = submission(tmp_path, REFERENCE_PENALTIES + """
import os, torch
print("SEEN", getattr(torch, "_left_by_a_worker", None), torch.initial_seed(), flush=True)
torch._left_by_a_worker = os.getpid()
torch.manual_seed(1234)

def l1_penalty(model):
    os.kill(os.getpid(), 9)  # the worker dies: a second one runs the probes left
""")
    run = run_probes(sub, ["pen.l1_mlp", "pen.l2_mlp"], FAST)
    assert run.starts == 2
    assert run.outcomes["pen.l1_mlp"].status == "crashed" and run.outcomes["pen.l2_mlp"].ok
    seen = [line.split()[1:] for line in run.output.splitlines() if line.startswith("SEEN")]
    assert len(seen) == 2 and all(s[0] == "None" for s in seen), run.output
    assert seen[0][1] == seen[1][1] != "1234"


def test_the_server_is_sent_no_secret_and_no_request(tmp_path, monkeypatch):
    """The course secret and the channel's nonce go to the worker over its request pipe, never through
    the server, so no worker can find another's in the server's memory."""
    sent = []
    spawn = forkserver.ForkServer.spawn

    def spy(self, spec, fds, timeout):
        sent.append(json.dumps(spec))
        return spawn(self, spec, fds, timeout)
    monkeypatch.setattr(forkserver.ForkServer, "spawn", spy)
    sub = submission(tmp_path, REFERENCE_PENALTIES)
    secret = "course-secret-7f3a9"
    run = run_probes(sub, Job(["pen.l1_mlp"], seeds={"pen.l1_mlp": secret}), FAST)
    assert run.outcomes["pen.l1_mlp"].ok and sent
    assert not any(secret in s or "nonce" in s or "probes" in s for s in sent)


def test_a_dead_server_is_replaced_and_costs_no_grade(tmp_path, grade, config):
    path = os.path.join(REPO, "examples", "complete")
    first = grade(path)
    server = isolation._server()
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    again = grade(path)
    assert isolation._server() is not server
    assert outcomes(again) == outcomes(first) and again.percent == 100


def test_the_server_has_one_thread_when_it_forks():
    """Forking is only safe from a single-threaded process (the server refuses to serve otherwise): a
    torch or numpy upgrade that starts a thread at import shows up here, not as a hung worker."""
    server = isolation._server()
    assert server._ready.wait(120) and server.alive, "the fork server exited at start"
    assert len(os.listdir(f"/proc/{server.proc.pid}/task")) == 1


def test_a_worker_that_cannot_enter_its_sandbox_falls_back_to_fresh_interpreters(grade, monkeypatch, capsys):
    """The fork server's child reports a failed jail.join (here: a 'namespace' that is /dev/null) before
    any worker exists; the grader then starts fresh interpreters for the rest of the run, says so once,
    and the grade is the same."""
    if not backends.current().namespaces:
        pytest.skip("this backend has no namespaces to enter")
    import subprocess

    def broken_hold(command, timeout):
        holder = subprocess.Popen(["sleep", "60"], stdin=subprocess.PIPE, start_new_session=True)
        return holder, [("mnt", os.open(os.devnull, os.O_RDONLY))]
    monkeypatch.setattr(isolation, "_hold", broken_hold)
    monkeypatch.setattr(isolation, "_cold", [])
    result = grade(os.path.join(REPO, "examples", "complete"))
    assert result.percent == 100 and not result.grader_error
    assert "could not enter its sandbox" in isolation._cold[0]
    assert capsys.readouterr().err.count("warm worker starts are off for this run") == 1


def test_the_grader_process_never_forks_itself(grade, monkeypatch):
    """A fork of the threaded grader runs OpenBLAS's fork handler, which waits forever for a BLAS call in
    another thread (a batch with the training check hung so, in kill_uid). Workers come from the fork
    server, what is done as the sandbox user from a small interpreter started with vfork: nothing in
    grading calls os.fork or gives subprocess a preexec function (which makes it fork)."""
    import subprocess

    def no_fork():
        raise AssertionError("the grader forked itself")
    popen = subprocess.Popen.__init__

    def no_preexec(self, *args, **kwargs):
        assert kwargs.get("preexec_fn") is None, "a preexec function makes subprocess fork the grader"
        popen(self, *args, **kwargs)
    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(subprocess.Popen, "__init__", no_preexec)
    result = grade(os.path.join(REPO, "examples", "typical_mistakes"))
    assert result.percent > 0 and not result.grader_error
