"""Part 1: l1_penalty, l2_penalty, penalized_loss (20 points)."""
from __future__ import annotations

from ..worker.constants import PENALIZED_CASES
from .registry import PASS, CheckList, Context, fail

checks = CheckList("penalties")

LINEAR_ONLY = ("Sum over the weight of every nn.Linear found by model.modules() (isinstance(m, nn.Linear)); "
               "leave out biases and other layers, and do not rely on the names linear1/linear2/linear3.")


def _differentiable(ctx: Context, probe: str, fn: str):
    if not ctx.got(probe)["differentiable"]:
        return fail(f"{fn} returned a {ctx.got(probe)['type']} that autograd cannot differentiate",
                    mistake="the penalty has no gradient: return the tensor itself, not .item() or float(...)")
    return None


@checks.add("penalties.l1_value", points=3, title="l1_penalty on the lab's DropoutMLP", probes=("pen.l1_mlp",),
            location="penalties.py:l1_penalty", hint=LINEAR_ONLY)
def l1_value(ctx):
    return ctx.compare("pen.l1_mlp", ["value"], what="l1_penalty(DropoutMLP)")


@checks.add("penalties.l2_value", points=3, title="l2_penalty on the lab's DropoutMLP", probes=("pen.l2_mlp",),
            location="penalties.py:l2_penalty", hint=LINEAR_ONLY + " L2 is the sum of w², not the norm.")
def l2_value(ctx):
    return ctx.compare("pen.l2_mlp", ["value"], what="l2_penalty(DropoutMLP)")


@checks.add("penalties.other_model", points=4, title="both penalties on another model (other names, nesting, "
            "a LayerNorm, a Conv1d, a bias-free Linear)", probes=("pen.l1_other", "pen.l2_other"),
            location="penalties.py:l1_penalty / l2_penalty", hint=LINEAR_ONLY)
def other_model(ctx):
    for probe, fn in (("pen.l1_other", "l1_penalty"), ("pen.l2_other", "l2_penalty")):
        verdict = ctx.compare(probe, ["value"], what=f"{fn} on a model that is not DropoutMLP")
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("penalties.gradients", points=3, title="the penalties are differentiable, with the right gradients "
            "on the Linear weights", probes=("pen.l1_mlp", "pen.l2_mlp"),
            location="penalties.py:l1_penalty / l2_penalty",
            hint="Return a 0-dim tensor built from the weights with torch operations (no .item(), no "
                 "torch.tensor(...) around the result): the gradients must reach the weights.")
def gradients(ctx):
    for probe, fn in (("pen.l1_mlp", "l1_penalty"), ("pen.l2_mlp", "l2_penalty")):
        verdict = _differentiable(ctx, probe, fn)
        if verdict:
            return verdict
        weights = [k for k in ctx.keys(probe, "grad/") if k.endswith(".weight")]  # biases: the value checks' job
        verdict = ctx.compare(probe, weights, what=f"the gradient of {fn}")
        if not verdict.passed:
            return verdict
    return PASS


def _case(i: int) -> str:
    kind, lmbd, batch = PENALIZED_CASES[i]
    return f"penalized_loss(loss=0.8125, model, lmbd={lmbd}, batch_size={batch}, kind={kind!r})"


@checks.add("penalties.penalized_loss", points=4, title="penalized_loss = loss + λ·penalty/batch_size/2 for "
            "both kinds", probes=("pen.penalized",), location="penalties.py:penalized_loss",
            hint="Return loss + lmbd * penalty / batch_size / 2, with the penalty chosen by kind "
                 "('l1' → l1_penalty, 'l2' → l2_penalty). Your own l1/l2_penalty are replaced by the grader's "
                 "here, so a bug in them is not charged twice.")
def penalized_loss(ctx):
    got = ctx.got("pen.penalized")
    for i in range(len(PENALIZED_CASES)):
        if not got.get(f"case{i}/differentiable", False):
            return fail(f"{_case(i)} is not a tensor autograd can differentiate",
                        mistake="the loss has no gradient: keep it a tensor (no .item())")
    for i in range(len(PENALIZED_CASES)):
        verdict = ctx.compare("pen.penalized", [f"case{i}/value"], what=_case(i))
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("penalties.unknown_kind", points=3, title="penalized_loss raises ValueError for an unknown kind",
            probes=("pen.unknown_kind",), location="penalties.py:penalized_loss",
            hint="Check kind first: raise ValueError(...) unless it is 'l1' or 'l2'.")
def unknown_kind(ctx):
    got = ctx.got("pen.unknown_kind")
    for i, kind in enumerate(("l3", "elastic")):
        raised = got[f"kind{i}/raised"]
        if "ValueError" not in raised.split(","):
            what = f"raised {raised.split(',')[0]}" if raised else "returned a value"
            return fail(f"penalized_loss(..., kind={kind!r}) {what}", expected="ValueError",
                        got=raised.split(",")[0] or "no exception",
                        mistake="no ValueError for an unknown kind: a typo such as 'L3' would silently train "
                                "with the wrong penalty")
    return PASS
