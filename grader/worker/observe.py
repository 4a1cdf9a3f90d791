"""What each Linear layer of a model received, read from autograd rather than from the operations.

A layer that computes ``z = x Wᵀ + b`` for sample n — however it is written: calling the layer,
``F.linear``, ``x @ W.T``, ``einsum``, ``tensordot``, ``bmm``, a copy of the weight — gives, for a
backward pass from that sample's output alone, ``∂/∂W = g xₙᵀ`` and ``∂/∂b = g``: a rank-one
gradient whose rows are ``xₙ`` scaled by ``g``. So ``xₙ = (∂/∂W)[o] / (∂/∂b)[o]`` for any ``o``
where ``g`` is not zero, and the rank-one form itself is the evidence that the weight was used
as a linear map of ``xₙ`` plus the bias. Nothing here depends on which functions were called.
"""
from __future__ import annotations

import torch
from torch import nn


def linear_inputs(result: torch.Tensor, layers: dict[str, nn.Linear], cotangent: torch.Tensor
                  ) -> dict[str, torch.Tensor]:
    """``{layer: (N, in_features) input}`` for each layer that took part as a linear map of each
    sample's own input (a layer missing from the answer did not); a sample whose output does not
    depend on the layer at all gives a row of NaN. ``result`` is the model's (N, …) output with its
    graph; ``cotangent`` weighs each sample's outputs in its backward pass."""
    params = [p for m in layers.values() for p in (m.weight, m.bias)]
    per_sample = _per_sample_grads(result, params, cotangent)
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    for n, grads in enumerate(per_sample):
        for i, name in enumerate(layers):
            gw, gb = grads[2 * i], grads[2 * i + 1]
            if rows[name] is None:
                continue
            if gw is not None and gb is not None and not gb.any() and not gw.any():
                # No path from this layer to the sample's output (every unit after it dropped for this
                # sample): no evidence either way, a row of NaN.
                rows[name].append(torch.full(gw.shape[1:], float("nan"), dtype=torch.float64))
                continue
            x = _rank_one_input(gw, gb)
            if x is None:
                rows[name] = None
            else:
                rows[name].append(x)
    return {name: torch.stack(xs) for name, xs in rows.items()
            if xs and any(bool(torch.isfinite(x).all()) for x in xs)}


def _per_sample_grads(result: torch.Tensor, params: list[torch.Tensor], cotangent: torch.Tensor):
    """For each sample n, the parameters' gradients of a backward pass from sample n's outputs alone
    (weighed by ``cotangent[n]``): one pass per sample, from a scalar, which autograd takes for any
    model. (Its batched form, ``is_grads_batched``, was no faster on the lab's models, and a gradient
    passed as ``grad_outputs`` makes torch import sympy, half a second of a cold self-check.)"""
    n = result.shape[0]
    seeds = torch.zeros((n, *cotangent.shape), dtype=cotangent.dtype)
    seeds[torch.arange(n), torch.arange(n)] = cotangent
    return [torch.autograd.grad(torch.Tensor.sum(torch.Tensor.mul(result, seeds[k])), params, retain_graph=True,
                                allow_unused=True)
            for k in range(n)]


def _rank_one_input(gw: torch.Tensor | None, gb: torch.Tensor | None) -> torch.Tensor | None:
    """x from ∂/∂W = g xᵀ and ∂/∂b = g; None when the gradients do not have that form. Every entry of
    ∂/∂W - g xᵀ is bounded on its own (relative to its row's g and the largest |x|): autograd writes each
    entry as one rounded product, so float32 suffices, and no sum can cancel into a false verdict."""
    if gw is None or gb is None or gw.dim() != 2 or gb.shape != gw.shape[:1]:
        return None
    gw, gb = gw.detach(), gb.detach()
    size = gb.abs()
    o = int(size.argmax())
    if not bool(torch.isfinite(gb).all()) or gb[o] == 0:
        return None
    x = gw[o].double() / float(gb[o])
    off = torch.addr(gw, gb, x.to(gw.dtype), alpha=-1).abs_().amax(dim=1)
    if not bool((off <= (size * 1e-3 + float(size[o]) * 1e-6) * float(x.abs().max())).all()):
        return None  # not rank one (or not finite: a NaN or inf entry fails the bound too)
    return x
