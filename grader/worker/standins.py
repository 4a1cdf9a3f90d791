"""Stand-ins the probes put in place of the student's penalties while grading other functions.

They are deliberately *not* the lab's penalties (they include biases and average instead of
summing), so they reveal nothing, while ``penalized_loss`` and ``train_epoch`` can be graded
even when the student's penalties are wrong or missing: a bug is charged once.
"""
import torch


def l1_penalty(model):
    return sum((p.abs().mean() for p in model.parameters()), torch.zeros(()))


def l2_penalty(model):
    return sum((p.pow(2).mean() * 3 for p in model.parameters()), torch.zeros(()))


def penalized_loss(loss, model, lmbd, batch_size, kind="l2"):
    if kind not in ("l1", "l2"):
        raise ValueError(f"unknown kind {kind!r}")
    penalty = l1_penalty(model) if kind == "l1" else l2_penalty(model)
    return loss + lmbd * penalty / batch_size / 2


PENALTIES = {"l1_penalty": l1_penalty, "l2_penalty": l2_penalty}
ALL = {**PENALTIES, "penalized_loss": penalized_loss}
