"""Part 1: batch_norm written out (25 points)."""
from __future__ import annotations

from grader.checks.registry import PASS, CheckList, fail
from grader.i18n import N_

checks = CheckList("batchnorm")

TRAIN = ("bn.train", "bn.train_args")
HINT = N_("In train mode the statistics are the batch's, one mean and one variance per channel, over the batch, the "
          "height and the width (dim=(0, 2, 3)); the variance that normalizes is the biased one (divided by N·H·W), "
          "eps goes inside the square root, and gamma and beta scale and shift each channel.")


def _kept(ctx, probes):
    for probe in probes:
        if not ctx.got(probe)["x_kept"]:
            return fail(N_("batch_norm changed its input x"),
                        mistake=N_("x is changed in place (x -= mean, x.sub_(...)): compute a new tensor instead"))
    return None


@checks.add("batchnorm.train_output", points=7, title=N_("batch_norm in train mode normalizes with the batch's "
            "statistics per channel"),
            contract=N_("batch_norm: training=True: the batch's mean and biased variance over N, H and W for each channel; "
                        "`gamma * (x - mean) / sqrt(var + eps) + beta`"),
            probes=TRAIN, location="batchnorm.py:batch_norm", hint=HINT)
def train_output(ctx):
    verdict = _kept(ctx, TRAIN)
    if verdict:
        return verdict
    for probe, what in (("bn.train", N_("batch_norm(x, ..., training=True)")),
                        ("bn.train_args", N_("batch_norm(x, ..., training=True, momentum=0.3, eps=0.5)"))):
        verdict = ctx.compare(probe, ["y"], what=what)
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("batchnorm.gradients", points=5, title=N_("the gradient flows through the batch's statistics"),
            contract=N_("batch_norm: the gradient flows through the batch's statistics to x, gamma and beta"),
            probes=("bn.train",), location="batchnorm.py:batch_norm",
            hint=N_("The mean and the variance are functions of x: backward must differentiate through them (no "
                    ".detach(), .item() or torch.no_grad() around them), and the result must stay a tensor built from "
                    "x, gamma and beta."))
def gradients(ctx):
    got = ctx.got("bn.train")
    if not got["differentiable"]:
        return fail(N_("batch_norm's result in train mode has no gradient"),
                    mistake=N_("the result is computed without autograd (torch.no_grad() or .detach() around it)"))
    return ctx.compare("bn.train", ["grad/x", "grad/gamma", "grad/beta"], what=N_("the gradient of batch_norm"))


@checks.add("batchnorm.running", points=6, title=N_("batch_norm updates the running statistics in place"),
            contract=N_("batch_norm: running statistics updated in place: `(1 - momentum) * running + momentum * "
                        "batch`, the variance unbiased"),
            probes=TRAIN, location="batchnorm.py:batch_norm",
            hint=N_("nn.BatchNorm2d's rule: running ← (1 − momentum)·running + momentum·batch statistic, the variance "
                    "the unbiased one (divided by N·H·W − 1), written into the caller's tensors (mul_, add_, copy_) "
                    "without autograd."))
def running(ctx):
    for probe in TRAIN:
        verdict = ctx.compare(probe, ["running_mean", "running_var"], what=N_("the running statistics after "
                                                                              "batch_norm(..., training=True)"))
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("batchnorm.eval", points=4, title=N_("batch_norm in eval mode uses the running statistics and keeps them"),
            contract=N_("batch_norm: training=False: the running statistics, left unchanged"),
            probes=("bn.eval",), location="batchnorm.py:batch_norm",
            hint=N_("In eval mode nothing is learned from the batch: normalize with running_mean and running_var, and "
                    "leave them as they are."))
def eval_mode(ctx):
    verdict = _kept(ctx, ("bn.eval",))
    if verdict:
        return verdict
    return ctx.compare("bn.eval", ["running_mean", "running_var", "y"],
                       what=N_("batch_norm(x, ..., training=False, eps=0.5)"))


@checks.add("batchnorm.defaults", points=3, title=N_("momentum and eps default to 0.1 and 1e-5"),
            contract=N_("batch_norm: `momentum` 0.1 and `eps` 1e-5 by default"),
            probes=("bn.train",), location="batchnorm.py:batch_norm",
            hint=N_("The defaults are nn.BatchNorm2d's: momentum=0.1, eps=1e-5."))
def default_values(ctx):
    return ctx.defaults("bn.train", "batch_norm") or PASS
