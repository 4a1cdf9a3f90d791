"""Part 5: the training check — the student's whole pipeline must show what batch normalization and
augmentation do on CIFAR-10 (20 points). Settings, measures and measurements: labs/cnn/training.py."""
from __future__ import annotations

import math

from grader.checks.registry import PASS, CheckList, fail, skip
from grader.i18n import N_, _

checks = CheckList("experiment")

PROBE = ("experiment.runs",)


def _analysis(ctx):
    return ctx.extra["analysis"]


@checks.add("experiment.learns", points=4, title=N_("the pipeline learns: every run's test accuracy beats chance, "
            "no NaN"),
            contract=N_("experiment: every run learns (its training loss falls, its test accuracy beats chance, no NaN)"),
            probes=PROBE, location="train.py:train_epoch / model.py:SmallCNN.forward",
            hint=N_("No learning at all usually means the training loop (zero_grad, backward, step inside the loop) or "
                    "the model is broken: see those parts' checks."),
            needs_expected=False)
def learns(ctx):
    a = _analysis(ctx)
    bad = [name for name, run in a.runs.items() if not all(math.isfinite(v) for v in run["test_loss"] + run["train_loss"])]
    if bad:
        return fail(_("the losses of {runs} became NaN or infinite").format(runs=", ".join(bad)), mistake=N_("training diverged"))
    for name, run in a.runs.items():
        if len(run["train_loss"]) < 2 or not run["train_loss"][-1] < run["train_loss"][0]:
            return fail(_("{run}: the training loss did not fall").format(run=name))
        if not run["test_acc"] or max(run["test_acc"]) < 0.15:
            return fail(_("{run}: the test accuracy never rose above 15% (chance is 10%)").format(run=name),
                        got=f"{max(run['test_acc'] or [0.0]):.1%}")
    return PASS


@checks.add("experiment.honest", points=4, title=N_("the reported test loss is the one the final weights give"),
            contract=N_("experiment: `evaluate` reports the test loss the final weights give"),
            probes=PROBE, location="train.py:evaluate",
            hint=N_("evaluate must return the per-sample average cross-entropy over the test loader for the model it "
                    "is given, in eval mode; the grader recomputes it from your final weights with the lab's SmallCNN."),
            needs_expected=False)
def honest(ctx):
    a = _analysis(ctx)
    if "*" in a.problems:  # the student's test images differ from the contract's: the augment part says so
        return skip(N_("test_transform is not the contract's (see the augment part), so the test losses cannot be "
                       "compared"))
    for name, run in a.runs.items():
        if name in a.problems:
            return fail(_("{run}: the test loss cannot be recomputed: {why}").format(run=name, why=a.problems[name]),
                        hint=N_("SmallCNN must keep the lab's layers conv1..conv3, bn1..bn3 and fc (see the model "
                                "part)."))
        if not run["test_loss"]:
            return fail(_("{run}: no test loss was reported").format(run=name))
        reported, recomputed = run["test_loss"][-1], a.recomputed[name]
        if not math.isclose(reported, recomputed, rel_tol=2e-3, abs_tol=2e-3):
            return fail(_("{run}: evaluate reported a final test loss that the final weights do not give").format(
                        run=name), expected=_("{value} (recomputed here)").format(value=f"{recomputed:.4f}"),
                        got=_("{value} (reported)").format(value=f"{reported:.4f}"),
                        mistake=N_("the reported test loss is not the model's: evaluate (or the model's architecture) "
                                   "does not match the lab's"))
    return PASS


TITLES = {"batchnorm": N_("batch normalization fits the training images faster"),
          "augment": N_("augmentation narrows the gap between the test and the training loss")}
CONTRACTS = {"batchnorm": N_("experiment: with batch normalization the final training loss is lower than without"),
             "augment": N_("experiment: with augmentation the final test loss exceeds the training loss by less "
                           "than without")}
MEASURES = {"batchnorm": N_("lowers the final training loss by {margin}"),
            "augment": N_("narrows the gap between the final test and training losses by {margin}")}
NO_EFFECT = {"batchnorm": N_("SmallCNN(batch_norm=True) trains exactly like SmallCNN(batch_norm=False): are bn1..bn3 "
                             "created and used in forward when batch_norm is true?"),
             "augment": N_("training with train_transform gives exactly what test_transform gives: does train_transform "
                           "crop and flip at random?")}
LOCATIONS = {"batchnorm": "model.py:SmallCNN / train.py:train_epoch", "augment": "augment.py:train_transform"}


def _margin_check(technique: str):
    def judge(ctx):
        a = _analysis(ctx)
        if technique not in a.margins:
            return skip(_("this training set-up does not measure {technique}").format(technique=technique))
        margin = a.margins[technique]
        if math.isfinite(margin) and margin >= a.threshold:
            return PASS
        return fail(_("{technique}: the run {measure}; it must be at least {threshold}").format(
                    technique=_(TITLES[technique]), measure=_(MEASURES[technique]).format(margin=f"{margin:+.3f}"),
                    threshold=a.threshold),
                    expected=f"≥ {a.threshold}", got=f"{margin:.3f}",
                    mistake=N_("no effect at all: the two runs are identical") if abs(margin) < 1e-6 else None,
                    hint=NO_EFFECT[technique])
    return judge


for _technique in ("batchnorm", "augment"):
    checks.add(f"experiment.{_technique}", points=6, title=TITLES[_technique], contract=CONTRACTS[_technique],
               probes=PROBE, location=LOCATIONS[_technique], hint=NO_EFFECT[_technique],
               needs_expected=False)(_margin_check(_technique))
