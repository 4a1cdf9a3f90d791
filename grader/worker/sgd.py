"""The optimizer the grader hands to the student's ``train_epoch``: plain SGD, ``p ← p − lr·grad``.

It is a ``torch.optim.Optimizer`` (``param_groups``, ``state_dict``, hooks: all there for the student's
code), and it updates exactly as ``torch.optim.SGD(params, lr)`` does, parameters without a gradient
untouched. What it leaves out is torch.optim's compiler plumbing: ``SGD``'s constructor, ``zero_grad``
and ``step`` each import ``torch._dynamo`` on first use (about 900 modules, a second of a cold
self-check) to exclude themselves from ``torch.compile``, which the grader never runs.
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer


def _undecorated(method):
    """``method`` without torch's lazy ``_disable_dynamo`` wrapper (``functools.wraps`` keeps the
    original in ``__wrapped__``); a torch without the wrapper has nothing to unwrap."""
    return getattr(method, "__wrapped__", method)


class PlainSGD(Optimizer):
    add_param_group = _undecorated(Optimizer.add_param_group)

    def __init__(self, params, lr: float):
        super().__init__(params, {"lr": lr})

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
                p.grad.zero_()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])
        return loss
