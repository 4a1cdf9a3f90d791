"""Stand-ins the probes put in place of the student's penalties while grading other functions.

They are deliberately *not* the lab's contract — the penalties include biases and average
instead of summing, and ``penalized_loss`` scales the penalty by 0.3 / batch_size instead of
1 / (2 · batch_size) — so importing them from a submission earns nothing, while
``penalized_loss`` and ``train_epoch`` can be graded even when the student's penalties are wrong
or missing: a bug is charged once. ``MODULE`` is what a re-imported ``train.py`` sees as
``assignment.penalties``.
"""
import types

import torch


def l1_penalty(model):
    return sum((p.abs().mean() for p in model.parameters()), torch.zeros(()))


def l2_penalty(model):
    return sum((p.pow(2).mean() * 3 for p in model.parameters()), torch.zeros(()))


def penalized_loss(loss, model, lmbd, batch_size, kind="l2"):
    if kind not in ("l1", "l2"):
        raise ValueError(f"unknown kind {kind!r}")
    penalty = l1_penalty(model) if kind == "l1" else l2_penalty(model)
    return loss + lmbd * penalty * 0.3 / batch_size


PENALTIES = {"l1_penalty": l1_penalty, "l2_penalty": l2_penalty}
ALL = {**PENALTIES, "penalized_loss": penalized_loss}


def module(package: str) -> types.ModuleType:
    """A fresh ``<package>.penalties`` holding the stand-ins."""
    mod = types.ModuleType(f"{package}.penalties", "the grader's stand-in penalties")
    vars(mod).update(ALL)
    return mod
