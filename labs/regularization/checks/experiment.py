"""Part 5: the training check — the student's whole pipeline must show that regularization
lowers the test loss on CIFAR-10 (20 points). Thresholds and measurements: labs/regularization/training.py."""
from __future__ import annotations

import math

from grader.checks.registry import PASS, CheckList, fail, skip
from grader.i18n import N_, _

checks = CheckList("experiment")

PROBE = ("experiment.runs",)
REGULARIZED = {"l2": "L2 (λ = 1)", "dropout": "dropout (p = 0.3)"}
TITLE = {"l2": N_("L2 (λ = 1) lowers the final test loss"), "dropout": N_("dropout (p = 0.3) lowers the final test loss")}
NO_EFFECT_HINT = {
    "l2": N_("λ changes nothing: check l2_penalty and penalized_loss, and that train_epoch passes lmbd and kind on."),
    "dropout": N_("drop_prob changes nothing: check that DropoutMLP applies dropout in train mode "
                  "(and that train_epoch calls model.train())."),
}


def _analysis(ctx):
    return ctx.extra["analysis"]


@checks.add("experiment.learns", points=4, title=N_("the pipeline learns: the baseline's training loss falls, "
            "its test accuracy beats chance, no NaN"), contract=N_('experiment: the baseline learns (its training loss falls, its test accuracy beats chance, no NaN)'),
            probes=PROBE,
            location="train.py:train_epoch / data.py:make_loaders / model.py:DropoutMLP.forward",
            hint=N_("No learning at all usually means the data (normalization, loaders) or the training loop "
                 "(zero_grad, backward, step inside the loop) is broken: see those parts' checks."),
            needs_expected=False)
def learns(ctx):
    a = _analysis(ctx)
    bad = [name for name, run in a.runs.items() if not all(math.isfinite(v) for v in run["test_loss"] + run["train_loss"])]
    if bad:
        return fail(_("the losses of {runs} became NaN or infinite").format(runs=", ".join(bad)), mistake=N_("training diverged"))
    base = a.runs["baseline"]
    if len(base["train_loss"]) < 2 or not base["train_loss"][-1] < 0.5 * base["train_loss"][0]:
        return fail(N_("the baseline's training loss did not fall to half its first-epoch value"),
                    expected=_("below {value}").format(value=f"{0.5 * base['train_loss'][0]:.3f}"), got=f"{base['train_loss'][-1]:.3f}")
    if max(base["test_acc"]) < 0.2:
        return fail(N_("the baseline's test accuracy never rose above 20% (chance is 10%)"),
                    got=f"{max(base['test_acc']):.1%}")
    return PASS


@checks.add("experiment.honest", points=4, title=N_("the reported test loss is the one the final weights give"),
            contract=N_('experiment: `evaluate` reports the test loss the final weights give'),
            probes=PROBE, location="train.py:evaluate",
            hint=N_("evaluate must return the per-sample average criterion over the test loader for the model it is "
                 "given; the grader recomputes it from your final weights with the lab's architecture."),
            needs_expected=False)
def honest(ctx):
    a = _analysis(ctx)
    for name, run in a.runs.items():
        if name in a.problems:
            return fail(_("{run}: the test loss cannot be recomputed: {why}").format(run=name, why=a.problems[name]),
                        hint=N_("DropoutMLP must keep the lab's layers linear1, linear2, linear3 (see the model part)."))
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


def _margin_check(run: str):
    def judge(ctx):
        a = _analysis(ctx)
        if run not in a.margins:
            return skip(_("this training set-up has no {run} run").format(run=run))
        margin = a.margins[run]
        if margin >= a.threshold:
            return PASS
        return fail(_("{run} ends {margin} below the baseline's final test loss (recomputed from the weights); it "
                      "must be at least {threshold}").format(run=_(REGULARIZED[run]), margin=f"{margin:+.3f}",
                                                            threshold=a.threshold),
                    expected=f"≥ {a.threshold}", got=f"{margin:.3f}",
                    mistake=N_("no effect of regularization") if abs(margin) < 1e-6 else None,
                    hint=NO_EFFECT_HINT[run])
    return judge


REGULARIZED_CONTRACT = N_("experiment: L2 (λ = 1) and dropout (p = 0.3) each end with a lower test loss than the "
                         "baseline")

# Where each run's effect comes from: the annotations point at those functions, in that order.
for _run, _location in (("l2", "penalties.py:penalized_loss / train.py:train_epoch"),
                        ("dropout", "model.py:DropoutMLP.forward / train.py:train_epoch")):
    checks.add(f"experiment.{_run}", points=6, title=TITLE[_run], contract=REGULARIZED_CONTRACT,
               probes=PROBE, location=_location, hint=NO_EFFECT_HINT[_run], needs_expected=False)(_margin_check(_run))
