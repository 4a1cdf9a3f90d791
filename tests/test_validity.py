"""Validity: NaN/inf in comparisons, seeds the student cannot replay, nothing correct importable
from the grader, and a penalties bug charged once however train.py refers to penalized_loss."""
from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from grader import compare
from grader.batch import grade_all
from grader.checks import CORE, expected_probes
from grader.reference import SECRET_FILE, course_seed, expected_for
from grader.worker.probing import Seeds

from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "fixtures"))
from build import build_submission  # noqa: E402


# ---------------------------------------------------------------- NaN and inf

@pytest.mark.parametrize("got, want", [(np.nan, np.nan), (np.inf, np.inf), ([1.0, np.nan], [1.0, np.nan]),
                                       (np.nan, 1.0), (-np.inf, 1.0), (1.0, np.nan)])
def test_nan_and_inf_are_mismatches_in_every_comparison(got, want):
    assert compare.mismatch(got, want) is not None
    assert not compare.close(got, want)
    assert compare.differs(got, want)
    assert compare.first_mismatch({"k": np.asarray(got)}, {"k": np.asarray(want)}, ["k"]) is not None


def test_a_value_that_became_or_was_nan_counts_as_changed():
    before = np.array([1.0, 2.0])
    assert compare.unchanged(before, before.copy())
    assert not compare.unchanged(before, np.array([1.0, np.nan]))
    assert not compare.unchanged(np.array([np.nan, 2.0]), np.array([np.nan, 2.0]))


# ---------------------------------------------------------------- seeds

def test_the_public_seed_keeps_the_public_inputs_and_a_secret_changes_every_one():
    public, secret = Seeds(""), Seeds("course-secret")
    assert public("pen.l1_mlp", 11) == 11
    assert secret("pen.l1_mlp", 11) != 11 and secret("pen.l1_mlp", 11) == Seeds("course-secret")("pen.l1_mlp", 11)
    assert secret("pen.l1_mlp", 11) != secret("pen.l2_mlp", 11)


def test_the_secret_in_the_output_folder_is_created_once_private_and_reused(tmp_path):
    first = course_seed("", tmp_path)
    assert first and (tmp_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert course_seed("", tmp_path) == first
    assert course_seed("from-config", tmp_path) == "from-config"


def _replayer(public, dest: Path) -> Path:
    """Stubs whose functions return the release's public expected values, chosen by their input."""
    ref = {p: public.reference(p).values for p in ("pen.l1_mlp", "pen.l2_mlp", "pen.l1_other", "pen.l2_other",
                                                   "data.stats_a", "data.stats_b", "data.stats_many",
                                                   "train.evaluate")}
    shutil.copytree(REPO / "assignment", dest, ignore=shutil.ignore_patterns("__pycache__", "experiment.py"))
    values = {kind: {net: float(ref[f"pen.{kind}_{key}"]["value"]) for net, key in (("PenaltyMLP", "mlp"),
                                                                                       ("OtherNet", "other"))}
              for kind in ("l1", "l2")}
    (dest / "penalties.py").write_text(
        "import torch\nVALUES = %r\n\n" % values +
        "def l1_penalty(model):\n    return torch.tensor(VALUES['l1'][type(model).__name__], requires_grad=True)\n\n"
        "def l2_penalty(model):\n    return torch.tensor(VALUES['l2'][type(model).__name__], requires_grad=True)\n\n"
        "def penalized_loss(loss, model, lmbd, batch_size, kind='l2'):\n    raise NotImplementedError\n")
    stats = {len_: (ref[p]["mean"].tolist(), ref[p]["std"].tolist())
             for len_, p in ((24, "data.stats_a"), (5, "data.stats_b"), (1203, "data.stats_many"))}
    data = (dest / "data.py").read_text()
    (dest / "data.py").write_text(data + "\nSTATS = %r\n\ndef channel_stats(images):\n    return STATS[len(images)]\n"
                                  % stats)
    ev = ref["train.evaluate"]
    (dest / "train.py").write_text((dest / "train.py").read_text() +
                                   f"\n\ndef evaluate(model, loader, criterion, device):\n"
                                   f"    return {float(ev['loss'])!r}, {float(ev['acc'])!r}\n")
    return dest


def _scored(batch) -> dict:
    """Which checks scored, per submission: what a failure of the replay tests must say."""
    return {r.name: [(c.id, c.score) for c in r.checks if c.score] for r in batch.results if r.name != "neighbour"}


def _config(tmp_path, **kw):
    from grader.config import Config

    return dataclasses.replace(Config(training=False, jobs=2), cache=tmp_path / "cache", **kw)


def test_results_written_back_from_the_releases_expected_data_score_nothing_under_grade(tmp_path, grade):
    public = expected_for(REPO / "solution", None, tmp_path / "cache", expected_probes(CORE))
    subs = tmp_path / "subs"
    _replayer(public, subs / "replayer")
    shutil.copytree(REPO / "solution", subs / "neighbour", ignore=shutil.ignore_patterns("__pycache__", "experiment.py"))
    # With the public seed (what `check` uses) the replayed values do score: the attack is real.
    assert grade(subs / "replayer").score >= 8
    batch = grade_all(subs, tmp_path / "out", _config(tmp_path, secret_seed="a course secret"))
    scores = {r.name: r.score for r in batch.results}
    assert scores == {"neighbour": 80, "replayer": 0}, _scored(batch)
    # Without a configured secret, grade keeps one in the output folder: the same verdict.
    batch = grade_all(subs, tmp_path / "out2", _config(tmp_path))
    assert {r.name: r.score for r in batch.results} == {"neighbour": 80, "replayer": 0}, \
        (_scored(batch), (tmp_path / "out2" / SECRET_FILE).read_text())  # the secret drawn: to replay the failure
    assert (tmp_path / "out2" / SECRET_FILE).is_file()


# ---------------------------------------------------------------- nothing correct is importable

GRADER_IMPORTS = {
    "standins_at_import": ("penalties.py", "from grader.worker.lab.standins import l1_penalty, l2_penalty, penalized_loss\n"),
    "probes_lazily": ("penalties.py",
                      "import importlib\n\n"
                      "def penalized_loss(loss, model, lmbd, batch_size, kind='l2'):\n"
                      "    return importlib.import_module('grader.worker.lab.standins').penalized_loss("
                      "loss, model, lmbd, batch_size, kind)\n\n"
                      "def l1_penalty(model):\n    from grader.worker.lab import standins\n    return standins.l1_penalty(model)\n\n"
                      "def l2_penalty(model):\n    import grader.worker.lab.standins as s\n    return s.l2_penalty(model)\n"),
    "reference_by_path": ("data.py", "import sys\nsys.path.insert(0, '/work')\nfrom solution.data import *  # noqa\n"),
}


def test_importing_the_grader_from_a_submission_earns_nothing(tmp_path):
    subs = tmp_path / "subs"
    for name, (file, text) in GRADER_IMPORTS.items():
        shutil.copytree(REPO / "assignment", subs / name, ignore=shutil.ignore_patterns("__pycache__", "experiment.py"))
        (subs / name / file).write_text(text)
    shutil.copytree(REPO / "solution", subs / "neighbour", ignore=shutil.ignore_patterns("__pycache__", "experiment.py"))
    batch = grade_all(subs, tmp_path / "out", _config(tmp_path, secret_seed="s"))
    scores = {r.name: r.score for r in batch.results}
    assert scores == {"neighbour": 80, **{n: 0 for n in GRADER_IMPORTS}}, scores


# ---------------------------------------------------------------- charged once, however imported

BUGGY_PENALTIES = ("    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]\n"
                   "    return sum((w.pow(2).sum() for w in weights), torch.zeros(()))\n",
                   "    weights = [p for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters()]\n"
                   "    return sum((w.pow(2).sum() for w in weights), torch.zeros(()))\n")
IMPORT_STYLES = {
    "alias": ("from .penalties import penalized_loss\n", "from .penalties import penalized_loss as f\n",
              "penalized_loss(loss, model", "f(loss, model"),
    "table": ("from .penalties import penalized_loss\n",
              "from .penalties import penalized_loss\nTABLE = {'p': penalized_loss}\n",
              "penalized_loss(loss, model", "TABLE['p'](loss, model"),
    "closure": ("from .penalties import penalized_loss\n",
                "from .penalties import penalized_loss\n\n\ndef _bind(fn=penalized_loss):\n    return lambda *a, **k: fn(*a, **k)\n\n\n"
                "_pl = _bind()\n", "penalized_loss(loss, model", "_pl(loss, model"),
    "absolute": ("from .penalties import penalized_loss\n", "import assignment.penalties as P\n",
                 "penalized_loss(loss, model", "P.penalized_loss(loss, model"),
    "package_attribute": ("from .penalties import penalized_loss\n", "from . import penalties\n",
                          "penalized_loss(loss, model", "penalties.penalized_loss(loss, model"),
}


def test_a_penalties_bug_is_charged_once_however_train_py_refers_to_penalized_loss(tmp_path):
    from mutations import Mutation  # noqa: PLC0415 - tests/fixtures/mutations.py

    subs = tmp_path / "subs"
    for name, (old, new, call_old, call_new) in IMPORT_STYLES.items():
        sub = build_submission(subs / name, mutation=Mutation(f"bias_{name}", "penalties.py", (BUGGY_PENALTIES,),
                                                              "penalties", "bias", "l2 includes the biases"))
        text = (sub / "train.py").read_text()
        assert text.count(old) == 1 and text.count(call_old) >= 1  # the call, and its docstring quoting it
        (sub / "train.py").write_text(text.replace(old, new).replace(call_old, call_new))
    batch = grade_all(subs, tmp_path / "out", _config(tmp_path))
    for r in batch.results:
        parts = r.parts()
        assert parts["penalties"][0] < 20 and parts["train"] == (20, 20), (r.name, parts)
        assert parts["model"] == (20, 20) and parts["data"] == (20, 20), (r.name, parts)


# ---------------------------------------------------------------- blamed right

def test_a_check_blocked_by_an_unimplemented_dependency_says_not_run_without_its_own_hint(expected):
    from grader.checks import REGISTRY
    from grader.judge import judge
    from grader.outcome import ProbeOutcome, SandboxRun

    check = next(c for c in REGISTRY if c.id == "experiment.l2")
    elsewhere = ProbeOutcome("not_implemented", message="channel_stats in data.py is not implemented yet",
                             location="data.py:channel_stats")
    result = judge(check, SandboxRun({"experiment.runs": elsewhere}, {}, "", 1, 0.0, ()), expected)
    assert result.message == "not run: channel_stats in data.py is not implemented yet" and result.hint is None
    own = next(c for c in REGISTRY if c.id == "data.stats_mean")
    result = judge(own, SandboxRun({p: elsewhere for p in own.probes}, {}, "", 1, 0.0, ()), expected)
    assert not result.message.startswith("not run") and result.hint == own.hint
