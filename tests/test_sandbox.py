"""The sandbox contains submissions that hang, exit, crash, flood, fork or look for the reference.

Each case is a tiny submission written here; the end-to-end grading of the hostile fixtures is in
test_fixture_submissions.py.
"""
import glob
import os
import textwrap
import time

import pytest

from grader.safecopy import copy_submission
from grader.limits import Limits
from grader.sandbox import run_probes

FAST = Limits(probe_timeout=4, import_timeout=4, total_timeout=120, memory_mb=8192, file_mb=8, output_kb=4)
GOOD_PENALTIES = """
import torch
from torch import nn

def l1_penalty(model):
    return sum(m.weight.abs().sum() for m in model.modules() if isinstance(m, nn.Linear))

def l2_penalty(model):
    return sum(m.weight.pow(2).sum() for m in model.modules() if isinstance(m, nn.Linear))
"""


def submission(tmp_path, **files):
    folder = tmp_path / "sub"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return folder


def test_a_hang_at_import_costs_that_module_only(tmp_path):
    sub = submission(tmp_path, penalties=GOOD_PENALTIES, train="while True:\n    pass\n")
    run = run_probes(sub, ["pen.l1_mlp", "train.seed"], FAST)
    assert run.outcomes["pen.l1_mlp"].ok
    assert run.outcomes["train.seed"].status == "import_error"
    assert "did not finish" in run.module_errors["train"]


@pytest.mark.parametrize("exit_call", ["import sys; sys.exit(0)", "import os; os._exit(0)"])
def test_exiting_at_import_is_an_import_error_not_a_result(tmp_path, exit_call):
    sub = submission(tmp_path, penalties=GOOD_PENALTIES, model=exit_call)
    run = run_probes(sub, ["pen.l1_mlp", "model.structure"], FAST)
    assert run.outcomes["pen.l1_mlp"].ok
    assert run.outcomes["model.structure"].status == "import_error"


def test_a_sigterm_proof_hang_is_killed_and_later_probes_still_run(tmp_path):
    sub = submission(tmp_path, penalties=GOOD_PENALTIES.replace("def l1_penalty(model):", """def l1_penalty(model):
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(0.01)
"""))
    started = time.monotonic()
    run = run_probes(sub, ["pen.l1_mlp", "pen.l2_mlp"], FAST)
    assert run.outcomes["pen.l1_mlp"].status == "timeout"
    assert run.outcomes["pen.l2_mlp"].ok
    assert run.starts == 2 and time.monotonic() - started < 60


def test_a_daemon_that_leaves_the_process_group_is_killed(tmp_path):
    marker = f"{time.time() % 1000:.6f}"  # a unique sleep length to look for afterwards
    sub = submission(tmp_path, penalties=GOOD_PENALTIES + f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve("/bin/sleep", ["sleep", "300{marker}"], {{}})  # no environment: no token either
    os._exit(0)
time.sleep(0.5)
""")
    run = run_probes(sub, ["pen.l1_mlp"], FAST)
    assert run.outcomes["pen.l1_mlp"].ok
    time.sleep(0.5)
    left = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).endswith(f"300{marker}")]
    assert not left


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_an_output_flood_is_capped_and_costs_only_its_module(tmp_path):
    sub = submission(tmp_path, penalties=GOOD_PENALTIES, data="import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")
    run = run_probes(sub, ["pen.l1_mlp", "data.stats_a"], FAST)
    assert run.outcomes["pen.l1_mlp"].ok
    assert run.outcomes["data.stats_a"].status == "import_error"
    assert len(run.output) < 5000 and "more bytes not shown" in run.output


def test_a_memory_bomb_fails_its_probe_only(tmp_path):
    sub = submission(tmp_path, penalties=GOOD_PENALTIES.replace(
        "def l2_penalty(model):", "def l2_penalty(model):\n    hog = bytearray(64 << 30)"))
    run = run_probes(sub, ["pen.l2_mlp", "pen.l1_mlp"], FAST)
    assert run.outcomes["pen.l2_mlp"].status == "raised" and "MemoryError" in run.outcomes["pen.l2_mlp"].message
    assert run.outcomes["pen.l1_mlp"].ok


def test_a_growing_memory_bomb_stops_at_the_address_space_limit_or_the_clock(tmp_path):
    sub = submission(tmp_path, penalties=GOOD_PENALTIES.replace(
        "def l2_penalty(model):", "def l2_penalty(model):\n    hog = [bytearray(1 << 30) for _ in range(64)]"))
    run = run_probes(sub, ["pen.l2_mlp", "pen.l1_mlp"], FAST)
    assert run.outcomes["pen.l2_mlp"].status in ("raised", "timeout", "crashed")
    assert run.outcomes["pen.l1_mlp"].ok


@pytest.mark.parametrize("venv_inside", [False, True], ids=["installed-elsewhere", "venv-inside-the-project"])
def test_the_reference_is_not_importable_and_hidden_files_are_unreadable(tmp_path, config, venv_inside, monkeypatch):
    """Hidden from student code: the reference, every lab's answers and known mistakes — also where Python
    is installed inside the project, and only the folders that hold answers can be hidden."""
    import sys

    from grader import backends
    from grader.config import PROJECT_ROOT
    from grader.grading import secrets

    if not backends.current().isolated:
        pytest.skip("no sandbox backend on this machine: nothing can be hidden")
    from grader.lab import LABS

    solution, labs = str(config.solution), str(LABS)
    assert glob.glob(labs + "/*/solution/*.py") and glob.glob(labs + "/*/mutants.py")  # there, for the grader
    sub = submission(tmp_path, penalties=GOOD_PENALTIES.replace("def l1_penalty(model):", f"""def l1_penalty(model):
    import glob, importlib, os, socket
    for name in ("solution", "reglab_reference"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        raise AssertionError(name + " is importable")
    try:
        import labs.regularization.mutants
        assert not hasattr(labs.regularization.mutants, "MUTANTS"), "the known mistakes are readable"
    except ImportError:
        pass
    assert glob.glob({solution!r} + "/*.py") == [], "the reference is readable"
    for pattern in ("/*/mutants.py", "/*/solution/*.py", "/*/examples/*/*.py"):  # every lab's, this one's or not
        assert glob.glob({labs!r} + pattern) == [], "a lab's answers are readable: " + pattern
    assert open("/proc/self/status").read().split("CapEff:")[1].split()[0].strip("0") == "", "capabilities left"
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1)
        raise AssertionError("the network is reachable")
    except OSError:
        pass
    return sum(m.weight.abs().sum() for m in model.modules() if isinstance(m, torch.nn.Linear))
"""))
    with monkeypatch.context() as inside:
        if venv_inside:
            inside.setattr(sys, "prefix", str(PROJECT_ROOT / ".venv"))
        hidden = secrets(config)
    assert (PROJECT_ROOT in hidden) is not venv_inside
    assert any(LABS.resolve().is_relative_to(h) for h in hidden), "every lab's package is hidden"
    run = run_probes(sub, ["pen.l1_mlp"], FAST, hide=hidden)
    assert run.outcomes["pen.l1_mlp"].ok, run.outcomes["pen.l1_mlp"].message
    assert (config.solution / "penalties.py").stat().st_size > 0  # hidden from the worker only


def test_a_cpu_bound_probe_is_stopped_by_its_cpu_time_and_a_sleeping_one_by_the_wall_backstop(tmp_path):
    from grader import isolation

    sub = submission(tmp_path, penalties=GOOD_PENALTIES.replace("def l1_penalty(model):", """def l1_penalty(model):
    while True:
        pass
""").replace("def l2_penalty(model):", """def l2_penalty(model):
    import time
    time.sleep(3600)
"""))
    run = run_probes(sub, ["pen.l1_mlp", "pen.l2_mlp"], FAST)
    assert run.outcomes["pen.l1_mlp"].status == "timeout"
    assert "s of CPU time" in run.outcomes["pen.l1_mlp"].message
    assert run.outcomes["pen.l2_mlp"].status == "timeout"
    assert f"{FAST.probe_timeout * isolation.WALL_FACTOR:.0f} s of wall time" in run.outcomes["pen.l2_mlp"].message


def test_the_copy_takes_python_files_only_and_no_links(tmp_path):
    sub = submission(tmp_path, penalties=GOOD_PENALTIES)
    (sub / "__init__.py").write_text("raise SystemExit('the package init is ours')")
    (sub / "notes.txt").write_text("not code")
    (sub / "link.py").symlink_to(sub / "penalties.py")
    copied, problems = copy_submission(sub, tmp_path / "copy" / "assignment")
    assert copied == ("penalties.py",)
    assert any("link.py" in p for p in problems)
