"""Part 4: set_seed, train_epoch, evaluate (20 points).

``train_epoch`` and ``evaluate`` are graded on the grader's own small network, with the
grader's stand-in penalties, so that a bug in the student's model or penalties is not charged here.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .registry import PASS, CheckList, fail

checks = CheckList("train")

EPOCH_HINT = ("Per batch: move x, y to device; loss = criterion(model(x), y); loss = penalized_loss(loss, model, "
              "lmbd, len(x), kind); optimizer.zero_grad(); loss.backward(); optimizer.step() — all inside the loop.")


@checks.add("train.set_seed", points=3, title="set_seed seeds Python's random, NumPy and torch",
            probes=("train.seed",), location="train.py:set_seed",
            hint="random.seed(seed); np.random.seed(seed); torch.manual_seed(seed); torch.cuda.manual_seed_all(seed).")
def set_seed(ctx):
    got = ctx.got("train.seed")
    for gen, name in (("random", "Python's random"), ("numpy", "NumPy (np.random)"), ("torch", "torch")):
        if not np.array_equal(got[f"draw0/{gen}"], got[f"draw1/{gen}"]):
            return fail(f"after set_seed(1234) twice, {name} gives different numbers",
                        mistake=f"set_seed does not seed {name}")
        if np.array_equal(got[f"draw0/{gen}"], got[f"draw2/{gen}"]):
            return fail(f"set_seed(1234) and set_seed(99) give the same {name} numbers",
                        mistake="set_seed ignores its argument")
    return PASS


def _modes(ctx, probe: str):
    calls = ctx.got(probe)["calls"]
    if calls.size and not calls[:, 0].all():
        return fail("the model was in eval mode during train_epoch",
                    mistake="model.train() is missing at the start of train_epoch (the caller may have left the "
                            "model in eval mode, which turns dropout off)")
    if calls.size and not calls[:, 1].all():
        return fail("the forward pass ran without autograd (torch.no_grad) in train_epoch")
    return None


def _params(ctx, probe: str, what: str):
    return ctx.compare(probe, ctx.keys(probe, "param/"), what=what, rtol=1e-4, atol=1e-5)


@checks.add("train.epoch_average", points=4, title="train_epoch returns the per-sample average penalized loss",
            probes=("train.epoch", "train.epoch_l2"), location="train.py:train_epoch",
            hint="Accumulate the penalized loss's loss.item() * len(x) and divide by the number of samples: the "
                 "last batch is smaller.")
def epoch_average(ctx):
    verdict = ctx.compare("train.epoch", ["avg"], what="the returned average loss (45 samples, batches of 16)")
    if not verdict.passed:
        return verdict
    verdict = ctx.compare("train.epoch_l2", ["avg"], what="the returned average loss with lmbd=0.5")
    if not verdict.passed and verdict.mistake is None:
        return dataclasses.replace(verdict, mistake="the returned average leaves the penalty out: return the "
                                                    "average of the penalized loss")
    return verdict


@checks.add("train.epoch_updates", points=4, title="train_epoch updates the parameters like the reference",
            probes=("train.epoch",), location="train.py:train_epoch", hint=EPOCH_HINT)
def epoch_updates(ctx):
    return _modes(ctx, "train.epoch") or _params(ctx, "train.epoch", "the parameters after one epoch")


@checks.add("train.switches_to_train", points=3, title="train_epoch puts the model in train mode itself",
            probes=("train.epoch_after_eval",), location="train.py:train_epoch",
            hint="Call model.train() at the start of train_epoch: dropout must be active while training.")
def switches_to_train(ctx):
    return _modes(ctx, "train.epoch_after_eval") or _params(ctx, "train.epoch_after_eval",
                                                           "the parameters after an epoch started in eval mode")


@checks.add("train.penalty_used", points=3, title="train_epoch applies the penalty with λ > 0, for 'l2' and 'l1'",
            probes=("train.epoch_l2", "train.epoch_l1"), location="train.py:train_epoch",
            hint="Pass lmbd, the batch's own size len(x) and kind on to penalized_loss.")
def penalty_used(ctx):
    for probe, kind in (("train.epoch_l2", "l2"), ("train.epoch_l1", "l1")):
        verdict = _params(ctx, probe, f"the parameters after an epoch with lmbd=0.5, kind={kind!r}")
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("train.evaluate_values", points=2, title="evaluate returns the per-sample average loss and the "
            "accuracy as a fraction", probes=("train.evaluate",), location="train.py:evaluate",
            hint="loss: sum of criterion(logits, y).item() * len(x) over batches / number of samples; accuracy: "
                 "correct / number of samples, in [0, 1].")
def evaluate_values(ctx):
    for key, what in (("acc", "the accuracy"), ("loss", "the loss")):
        verdict = ctx.compare("train.evaluate", [key], what=f"{what} (45 samples, batches of 16)",
                              rtol=1e-5, atol=1e-7)
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("train.evaluate_mode", points=1, title="evaluate uses eval mode and no autograd, changes nothing, "
            "returns Python floats", probes=("train.evaluate",), location="train.py:evaluate",
            hint="model.eval() and `with torch.no_grad():`; no optimizer or backward; return float(...) / .item().")
def evaluate_mode(ctx):
    got = ctx.got("train.evaluate")
    calls = got["calls"]
    if calls.size and calls[:, 0].any():
        return fail("the model was in train mode during evaluate (dropout on)",
                    mistake="model.eval() is missing in evaluate")
    if calls.size and calls[:, 1].any():
        return fail("the forward passes in evaluate ran with autograd on",
                    mistake="torch.no_grad() is missing in evaluate: it wastes memory and time")
    if got["changed"] > 0 or got["grads_left"]:
        return fail("evaluate changed the parameters or left gradients on them")
    for key in ("loss_type", "acc_type"):
        if got[key] not in ("builtins.float", "builtins.int"):
            return fail(f"evaluate returns its {key[:-5]} as {got[key]}", expected="a Python float",
                        hint="Convert with .item() or float(...).")
    return PASS
