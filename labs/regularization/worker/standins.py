"""Stand-ins the probes put in place of the student's penalties while grading other functions.

Their penalties are deliberately *not* the lab's contract — they include biases and average
instead of summing — so that ``penalized_loss`` and ``train_epoch`` can be graded even when the
student's penalties are wrong or missing: a bug is charged once.

Two sets, with different values. ``PENALTIES`` stand in while ``penalized_loss`` is graded.
``ALL`` stands in while ``train_epoch`` is graded: its ``penalized_loss`` is the contract's formula
over *its* penalties, so a loop that writes the formula out with the lab's penalties
(``loss + lmbd * l2_penalty(model) / len(x) / 2``, the handout's own style) is graded exactly like
one that calls ``penalized_loss``. Because the two sets differ, that ``penalized_loss`` is wrong
where ``penalized_loss`` itself is graded: importing it from a submission earns nothing.
``module`` is what a re-imported ``train.py`` sees as ``assignment.penalties``; ``for_penalties`` and
``for_training`` put each set in place around a probe (``grader.worker.probing.Probe.standins``).
"""
import types
from contextlib import contextmanager

import torch

from grader.worker.calls import blame


def l1_penalty(model):
    return sum((p.abs().mean() for p in model.parameters()), torch.zeros(()))


def l2_penalty(model):
    return sum((p.pow(2).mean() * 3 for p in model.parameters()), torch.zeros(()))


PENALTIES = {"l1_penalty": l1_penalty, "l2_penalty": l2_penalty}


def train_l1_penalty(model):
    return sum((p.abs().mean() * 0.7 for p in model.parameters()), torch.zeros(()))


def train_l2_penalty(model):
    return sum((p.pow(2).mean() * 1.9 for p in model.parameters()), torch.zeros(()))


def penalized_loss(loss, model, lmbd, batch_size, kind="l2"):
    if kind not in ("l1", "l2"):
        raise ValueError(f"unknown kind {kind!r}")
    penalty = train_l1_penalty(model) if kind == "l1" else train_l2_penalty(model)
    return loss + lmbd * penalty / batch_size / 2


ALL = {"l1_penalty": train_l1_penalty, "l2_penalty": train_l2_penalty, "penalized_loss": penalized_loss}


def module(package: str) -> types.ModuleType:
    """A fresh ``<package>.penalties`` holding the training stand-ins."""
    mod = types.ModuleType(f"{package}.penalties", "the grader's stand-in penalties")
    vars(mod).update(ALL)
    return mod


# What the worker puts in place of a module of the submission that failed to import (the other modules
# import from it): module -> its names.
FAILED_IMPORT = {"penalties": ALL}


@contextmanager
def for_penalties(impl):
    with impl.patched(PENALTIES):
        yield impl


@contextmanager
def for_training(impl):
    """``train.py`` imported afresh with these penalties as its sibling module, and the stand-ins patched
    in as well (for code that looks penalized_loss up at call time, and the mutants)."""
    package = impl.modules["train"].__name__.rpartition(".")[0] if "train" in impl.modules else "assignment"
    with impl.patched(ALL):
        with blame("train.py (imported again with the grader's stand-in penalties)"):
            fresh = impl.reimported("train", {"penalties": module(package)})
        yield fresh
