"""The training check on a synthetic CIFAR-format set (memorizable, with a regularization effect):
the reference passes, a λ that does nothing and a faked test loss fail with their own messages."""
import dataclasses
import math
import shutil

import numpy as np
import pytest

from grader import training
from labs.regularization import training as lab_training
from grader.checks import TRAINING
from grader.cifar_fixture import write_fixture
from grader.results import Outcome

from conftest import REPO

# On the synthetic set L2 shows its effect (margin 0.38-0.41 over seeds 0-2, 80 epochs, 256 images)
# but dropout does not (its margin is negative there: the set's overfitting is too mild), so the
# synthetic set-up leaves the dropout runs out; test_real_data_verdict covers them on CIFAR-10.
SYNTHETIC = training.Settings(n_train=256, n_test=200, epochs=80,
                              runs=(training.Run.of("baseline", lmbd=0.0, drop_prob=0.0),
                                    training.Run.of("l2", lmbd=1.0, drop_prob=0.0)))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_fixture(tmp_path_factory.mktemp("cifar"), n_train=256, n_test=200, seed=0)


@pytest.fixture(scope="module")
def grade_training(config, expected, data_root):
    from grader.grading import grade_submission

    cfg = dataclasses.replace(config, training=True, data=data_root)

    def run(path):
        return grade_submission(path, cfg, checks=TRAINING, expected=expected, settings=SYNTHETIC)
    return run


def _by_id(result):
    return {c.id: c for c in result.checks}


def _submission(tmp_path, file, old, new):
    sub = tmp_path / "sub"
    shutil.copytree(REPO / "solution", sub, ignore=shutil.ignore_patterns("__pycache__", "experiment.py"))
    text = (sub / file).read_text()
    assert text.count(old) == 1
    (sub / file).write_text(text.replace(old, new))
    return sub


def test_the_reference_shows_the_phenomenon(grade_training):
    result = grade_training(REPO / "solution")
    checks = _by_id(result)
    ran = [c for c in checks.values() if c.id != "experiment.dropout"]
    assert all(c.outcome is Outcome.PASSED for c in ran), [(c.id, c.message) for c in result.checks]
    assert checks["experiment.dropout"].outcome is Outcome.SKIPPED and checks["experiment.dropout"].max_score == 0
    view = result.extra["training"]
    assert set(view["runs"]) == {"baseline", "l2"}
    evaluated = list(range(SYNTHETIC.eval_every, SYNTHETIC.epochs + 1, SYNTHETIC.eval_every))
    assert all(r["test_epoch"] == evaluated and len(r["test_loss"]) == len(evaluated) for r in view["runs"].values())
    assert all(len(r["train_loss"]) == SYNTHETIC.epochs for r in view["runs"].values())
    assert min(view["margins"].values()) >= view["threshold"]
    assert view["device"] in ("cpu", "cuda")


def test_a_lambda_that_does_nothing_fails_the_l2_check_with_its_hint(grade_training, tmp_path):
    sub = _submission(tmp_path, "train.py", "        loss = penalized_loss(loss, model, lmbd,",
                      "        loss = penalized_loss(loss, model, 0.0,")
    checks = _by_id(grade_training(sub))
    assert checks["experiment.l2"].outcome is Outcome.FAILED
    assert "λ changes nothing" in checks["experiment.l2"].hint
    assert checks["experiment.l2"].mistake == "no effect of regularization"  # paired runs: margin exactly 0
    assert checks["experiment.honest"].outcome is Outcome.PASSED
    assert checks["experiment.learns"].outcome is Outcome.PASSED


def test_a_faked_test_loss_fails_the_recomputation(grade_training, tmp_path):
    sub = _submission(tmp_path, "train.py", "    return total_loss / count, correct / count\n",
                      "    return 0.5, correct / count\n")
    checks = _by_id(grade_training(sub))
    assert checks["experiment.honest"].outcome is Outcome.FAILED
    assert "recomputed" in checks["experiment.honest"].expected
    assert "reported test loss is not the model's" in checks["experiment.honest"].mistake


def test_no_data_keeps_the_maximum_and_says_what_to_do(config, expected, tmp_path):
    from grader.grading import grade_submission

    cfg = dataclasses.replace(config, training=True, data=tmp_path / "nowhere")
    result = grade_submission(REPO / "solution", cfg, expected=expected, settings=SYNTHETIC)
    skipped = [c for c in result.checks if c.part == "experiment"]
    assert skipped and all(c.outcome is Outcome.SKIPPED and c.score == 0 and c.max_score > 0 for c in skipped)
    assert "training check not run (20 points): get the data with `python -m grader data`" in skipped[0].message
    assert result.score == 80 and result.max_score == 100


def test_recompute_matches_torch_on_the_lab_architecture():
    import torch

    from solution.model import DropoutMLP

    torch.manual_seed(0)
    net = DropoutMLP(0.5).eval()
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 20)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.3, 0.25)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) \
        / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(net(x), torch.from_numpy(labels)).item()
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    assert math.isclose(lab_training.recompute_test_loss(state, mean, std, images, labels), want, rel_tol=1e-5)


@pytest.mark.realdata
def test_real_data_verdict(config, expected):
    """The check's own set-up on the real CIFAR-10 copy: the reference passes every training check."""
    from grader.cifar import CifarDataError, resolve_data_root
    from grader.grading import grade_submission

    root, _ = resolve_data_root(None)
    try:
        training.load_subset(root, training.Settings())
    except CifarDataError:
        pytest.skip(f"no CIFAR-10 copy at {root} (set REGLAB_DATA or build data/)")
    cfg = dataclasses.replace(config, training=True, data=root)
    result = grade_submission(REPO / "solution", cfg, checks=TRAINING, expected=expected)
    assert all(c.outcome is Outcome.PASSED for c in result.checks), [(c.id, c.message) for c in result.checks]


def test_runs_in_workers_of_their_own_give_the_numbers_of_one_worker(config, expected, data_root, monkeypatch):
    """With cores to spare each run trains in a worker of its own (stages.TrainingStage): the same
    numbers as all runs in one worker, since every run starts from set_seed (one thread each here)."""
    from grader import stages
    from grader.grading import grade_submission

    cfg = dataclasses.replace(config, training=True, data=data_root)
    views = {}
    for threads, workers in ((1, 1), (2, len(SYNTHETIC.runs))):
        monkeypatch.setattr(stages, "training_threads", lambda config, t=threads: t)
        result = grade_submission(REPO / "solution", cfg, checks=TRAINING, expected=expected, settings=SYNTHETIC)
        assert result.environment["workers"] == str(workers)
        views[threads] = result.extra["training"]
    assert views[1]["runs"] == views[2]["runs"] and views[1]["margins"] == views[2]["margins"]


def test_a_failed_run_is_the_training_checks_outcome():
    from grader.outcome import ProbeOutcome
    from grader.stages import joined

    ok = [ProbeOutcome("ok", {"baseline/train_loss": [1.0], "seconds": 3.0}), ProbeOutcome("ok", {"l2/x": 1, "seconds": 5.0})]
    both = joined(ok)
    assert both.ok and both.values["baseline/train_loss"] == [1.0] and both.values["l2/x"] == 1
    assert both.values["seconds"] == 5.0
    crashed = ProbeOutcome("crashed", message="killed")
    assert joined([ok[0], crashed, ok[1]]) is crashed
    assert joined([ok[0], None]).status == "grader"


def test_probes_apart_run_beside_the_first_worker_and_hidden_ones_after(monkeypatch, tmp_path):
    """grading.run_apart: each probe of Job.apart in a worker of its own beside the first; an instance
    ("probe/label") of a hidden probe is hidden too, and runs in the last worker with the others."""
    from grader import grading
    from grader.limits import Limits
    from grader.outcome import ProbeOutcome, SandboxRun
    from grader.sandbox import Job

    calls = []

    def fake(folder, job, limits, hide=(), listener=None):
        calls.append(list(job.probes))
        return SandboxRun({p: ProbeOutcome("ok", {"p": p}) for p in job.probes}, {}, f"printed by {job.probes}", 1, 1.0, ())

    monkeypatch.setattr(grading, "run_probes", fake)
    job = Job(["a", "b", "run/x", "run/y"], apart=("run/x", "run/y"))
    run = grading.run_apart(tmp_path, job, Limits(), (), set())
    assert sorted(calls) == [["a", "b"], ["run/x"], ["run/y"]] and run.starts == 3
    assert set(run.outcomes) == {"a", "b", "run/x", "run/y"} and "printed by ['run/y']" in run.output
    calls.clear()
    run = grading.run_apart(tmp_path, job, Limits(), (), {"run"})
    assert calls == [["a", "b"], ["run/x", "run/y"]] and set(run.outcomes) == {"a", "b", "run/x", "run/y"}
