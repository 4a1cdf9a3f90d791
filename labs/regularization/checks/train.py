"""Part 4: set_seed, train_epoch, evaluate (20 points).

``train_epoch`` and ``evaluate`` are graded on the grader's own small network, with the
grader's stand-in penalties, so that a bug in the student's model or penalties is not charged here.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from grader.checks.registry import PASS, CheckList, fail
from grader.compare import unchanged
from grader.i18n import N_, _

checks = CheckList("train")

EPOCH_HINT = (N_("Every batch is one full step of gradient descent on the penalized loss (handout slide \"L2 "
              "Regularization\": data to the device, forward, loss plus penalty, clear the old gradients, backward, "
              "step), inside the batch loop — the handout's own indentation there is wrong."))


@checks.add("train.set_seed", points=3, title=N_("set_seed seeds Python's random, NumPy and torch"),
            contract=N_('set_seed: seeds `random`, NumPy and torch (CPU and CUDA) with `seed`'),
            probes=("train.seed",), location="train.py:set_seed",
            hint=N_("Three libraries draw random numbers in this lab, each from its own generator (and torch has one "
                 "per CUDA device too): each must be seeded with the number given (handout slide \"Random Seed "
                 "고정\")."))
def set_seed(ctx):
    got = ctx.got("train.seed")
    for gen, name in (("random", N_("Python's random")), ("numpy", "NumPy (np.random)"), ("torch", "torch")):
        name = _(name)
        if not np.array_equal(got[f"draw0/{gen}"], got[f"draw1/{gen}"]):
            return fail(_("after set_seed(1234) twice, {generator} gives different numbers").format(generator=name),
                        mistake=_("set_seed does not seed {generator}").format(generator=name))
        if np.array_equal(got[f"draw0/{gen}"], got[f"draw2/{gen}"]):
            return fail(_("set_seed(1234) and set_seed(99) give the same {generator} numbers").format(generator=name),
                        mistake=N_("set_seed ignores its argument"))
    return PASS


def _modes(ctx, probe: str):
    calls = ctx.got(probe)["calls"]
    if calls.size and not calls[:, 0].all():
        return fail(N_("the model was in eval mode during train_epoch"),
                    mistake=N_("model.train() is missing at the start of train_epoch (the caller may have left the "
                            "model in eval mode, which turns dropout off)"))
    if calls.size and not calls[:, 1].all():
        return fail(N_("the forward pass ran without autograd (torch.no_grad) in train_epoch"))
    return None


def _params(ctx, probe: str, what: str):
    return ctx.compare(probe, ctx.keys(probe, "param/"), what=what, rtol=1e-4, atol=1e-5)


@checks.add("train.epoch_average", points=4, title=N_("train_epoch returns the per-sample average penalized loss"),
            contract=N_('train_epoch: returns the per-sample average penalized loss over the samples the loader yields'),
            probes=("train.epoch", "train.epoch_l2"), location="train.py:train_epoch",
            hint=N_("A per-sample average: weight each batch's penalized loss by the number of samples in it and "
                 "divide by the samples the loader actually yielded (the last batch is smaller, and a loader may "
                 "cover only part of its dataset)."))
def epoch_average(ctx):
    verdict = ctx.compare("train.epoch", ["avg"], what=N_("the returned average loss (45 samples, batches of 16)"))
    if not verdict.passed:
        return verdict
    verdict = ctx.compare("train.epoch_l2", ["avg"], what=N_("the returned average loss with lmbd=0.5"))
    if not verdict.passed and verdict.mistake is None:
        return dataclasses.replace(verdict, mistake=_("the returned average leaves the penalty out: return the "
                                                      "average of the penalized loss"))
    return verdict


@checks.add("train.epoch_updates", points=4, title=N_("train_epoch updates the parameters like the reference"),
            contract=N_("train_epoch: per batch: to device, forward, criterion, the penalized loss (`penalized_loss`, or its formula written out with the lab's `l1_penalty`/`l2_penalty`), zero_grad, backward, step"),
            probes=("train.epoch",), location="train.py:train_epoch", hint=EPOCH_HINT)
def epoch_updates(ctx):
    return _modes(ctx, "train.epoch") or ctx.defaults("train.epoch", "train_epoch") or \
        _params(ctx, "train.epoch", N_("the parameters after one epoch"))


@checks.add("train.switches_to_train", points=3, title=N_("train_epoch puts the model in train mode itself"),
            contract=N_('train_epoch: train mode'),
            probes=("train.epoch_after_eval",), location="train.py:train_epoch",
            hint=N_("The caller may hand over a model left in eval mode: train_epoch switches it to train mode "
                 "itself, so that dropout is active while training."))
def switches_to_train(ctx):
    return _modes(ctx, "train.epoch_after_eval") or _params(ctx, "train.epoch_after_eval",
                                                           N_("the parameters after an epoch started in eval mode"))


@checks.add("train.penalty_used", points=3, title=N_("train_epoch applies the penalty with λ > 0, for 'l2' and 'l1'"),
            contract=N_("train_epoch: the penalized loss (`penalized_loss`, or its formula written out with the lab's `l1_penalty`/`l2_penalty`)"),
            probes=("train.epoch_l2", "train.epoch_l1"), location="train.py:train_epoch",
            hint=N_("The penalty's strength, the size of the current batch and the kind of penalty all reach "
                 "penalized_loss (kind defaults to 'l2')."))
def penalty_used(ctx):
    for probe, kind in (("train.epoch_l2", "l2"), ("train.epoch_l1", "l1")):
        verdict = _params(ctx, probe, _("the parameters after an epoch with lmbd=0.5, kind={kind}").format(
            kind=repr(kind)))
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("train.evaluate_values", points=2, title=N_("evaluate returns the per-sample average loss and the "
            "accuracy as a fraction"), contract=N_('evaluate: per-sample average loss and accuracy in [0, 1]'),
            probes=("train.evaluate",), location="train.py:evaluate",
            hint=N_("Both are per-sample averages over the samples the loader yields (weight each batch by its "
                 "size); the accuracy is a fraction in [0, 1], not a percentage (handout slide \"전체 코드 2/3\")."))
def evaluate_values(ctx):
    for key, what in (("acc", N_("the accuracy (45 samples, batches of 16)")),
                      ("loss", N_("the loss (45 samples, batches of 16)"))):
        verdict = ctx.compare("train.evaluate", [key], what=what,
                              rtol=1e-5, atol=1e-7)
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("train.evaluate_mode", points=1, title=N_("evaluate uses eval mode and no autograd, changes nothing, "
            "leaves autograd as it found it, returns Python floats"), contract=N_('evaluate: eval mode, no autograd, parameters untouched (no gradient left on them)'),
            probes=("train.evaluate",),
            location="train.py:evaluate",
            hint=N_("Testing switches dropout off and needs no gradients — only for as long as evaluate runs: "
                 "autograd must be on again afterwards (a context manager does that). Nothing is trained, and the "
                 "numbers returned are plain Python floats (handout slide \"전체 코드 2/3\")."))
def evaluate_mode(ctx):
    got = ctx.got("train.evaluate")
    calls = got["calls"]
    # The model must have seen the loader's samples (else the mode checks below see nothing); how
    # many passes it takes is evaluate's own business (loss and accuracy in two passes is fine).
    if calls.size == 0 or int(calls[:, 2].sum()) < 45:
        return fail(N_("evaluate did not run the model over the loader's 45 samples"),
                    expected=_("45 samples through the model"), got=f"{int(calls[:, 2].sum()) if calls.size else 0}")
    if calls[:, 0].any():
        return fail(N_("the model was in train mode during evaluate (dropout on)"),
                    mistake=N_("model.eval() is missing in evaluate"))
    if calls[:, 1].any():
        return fail(N_("the forward passes in evaluate ran with autograd on"),
                    mistake=N_("torch.no_grad() is missing in evaluate: it wastes memory and time"))
    if not got["grad_mode_kept"]:
        return fail(N_("autograd was left switched off after evaluate returned"),
                    mistake=N_("evaluate turns autograd off for good (torch.set_grad_enabled(False)): the training "
                            "that follows silently stops learning; use a with-block"))
    names = [k[len("before/"):] for k in got if k.startswith("before/")]
    if got["grads_left"] or not all(unchanged(got[f"before/{n}"], got[f"after/{n}"]) for n in names):
        return fail(N_("evaluate changed the parameters or left gradients on them"))
    for key in ("loss", "acc"):
        if not got[f"{key}_float"]:
            message = _("evaluate returns its loss as {type}") if key == "loss" else \
                _("evaluate returns its accuracy as {type}")
            return fail(message.format(type=got[f"{key}_type"]), expected=_("a Python float"),
                        hint=N_("A 0-dim tensor is not a Python number: convert it."))
    return PASS
