"""`python -m grader check` says what it is doing as it does it: on a terminal (a pseudo-terminal
here) its first line comes before anything else and the training check shows its epochs; off a
terminal, plain lines. How soon and how often is measured by bench/bench_progress.py, not here."""
import io
import os
import pty
import select
import shutil
import subprocess
import sys

from grader.cifar_fixture import write_fixture
from grader.progress import CheckProgress
from grader.training import lab_settings

from conftest import REPO

# train_epoch that returns at once: the training check's epochs take seconds, and still report.
FAST_TRAIN = '''

def train_epoch(model, loader, optimizer, criterion, device, lmbd=0.0, kind="l2"):
    return 1.0
'''


def _terminal_output(argv, cwd, seconds=600) -> str:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    try:
        while True:
            if not select.select([leader], [], [], seconds)[0]:
                raise AssertionError("no output for %d s" % seconds)
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        proc.kill() if proc.poll() is None else None
        proc.wait()
        os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_check_on_a_terminal_shows_its_first_line_first_and_the_training_epochs(tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(REPO / "solution", sub, ignore=shutil.ignore_patterns("__pycache__", "experiment.py"))
    (sub / "train.py").write_text((sub / "train.py").read_text() + FAST_TRAIN)
    data = write_fixture(tmp_path / "cifar", n_train=128, n_test=64)
    text = _terminal_output([sys.executable, "-m", "grader", "check", str(sub), "--data", str(data),
                             "--out", str(tmp_path / "out")], REPO)
    pieces = [p.replace("\x1b[K", "").strip() for p in text.replace("\r", "\n").split("\n")]
    pieces = [p for p in pieces if p]
    assert pieces[0].startswith("reglab: checking"), pieces[:3]
    summary = next(i for i, p in enumerate(pieces) if p.startswith("reglab — sub:"))
    before = pieces[:summary]
    assert any(p.startswith("sandbox: ") for p in before)
    assert "importing penalties.py" in before and "[5/5] the training check" in before, before
    runs, epochs = len(lab_settings().runs), lab_settings().epochs
    assert [p for p in before if f"training run 1/{runs}: epoch" in p and "· ETA" in p], before
    assert f"training run {runs}/{runs}: {epochs} epochs in" in "\n".join(before)
    assert before.index("judging the results") > before.index("[5/5] the training check")


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


class Check:
    def __init__(self, part, probes):
        self.part, self.probes = part, probes


def test_off_a_terminal_one_plain_line_per_step_and_the_training_now_and_then():
    out, clock = io.StringIO(), Clock()
    show = CheckProgress(out, live=False, clock=clock, plain_every=10)
    show.plan([Check("penalties", ("pen.a", "pen.b")), Check("experiment", ("experiment.runs",))])
    show("import", "penalties", {})
    for probe in ("pen.a", "pen.b", "experiment.runs"):
        show("probe", probe, {})
    for epoch in range(1, 11):
        clock.t = 2.0 * epoch
        show("progress", "experiment.runs", {"run": 0, "runs": 2, "epoch": epoch, "epochs": 10})
    show("judge", "", {})
    show.close()
    assert out.getvalue().splitlines() == [
        "  importing penalties.py",
        "[1/2] checking penalties.py",
        "[2/2] the training check",
        "  training run 1/2: epoch 1/10 · ETA …",
        "  training run 1/2: epoch 6/10 · ETA 0m28s",
        "  training run 1/2: 10 epochs in 20 s",
        "judging the results",
    ]
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


def test_runs_training_side_by_side_are_shown_as_one_sequence_of_epochs():
    from grader.grading import _Progress

    heard = []
    told = _Progress(lambda kind, name, counts: heard.append(counts), 3)
    for epoch in range(1, 4):
        for worker in range(3):
            told.of(worker)("progress", "experiment.runs/x", {"run": 0, "runs": 1, "epoch": epoch, "epochs": 3})
    told.of(0)("probe", "ignored", {})
    done = [c["run"] * c["epochs"] + c["epoch"] for c in heard]
    assert done == list(range(1, 10)) and all(c["runs"] == 3 and c["epochs"] == 3 for c in heard)
    assert [(c["run"], c["epoch"]) for c in heard][2::3] == [(0, 3), (1, 3), (2, 3)]  # each run's end once
