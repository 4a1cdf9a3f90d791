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
    rows: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    for n in range(result.shape[0]):
        seed = torch.zeros_like(cotangent)
        seed[n] = cotangent[n]
        grads = torch.autograd.grad(result, params, grad_outputs=seed, retain_graph=True, allow_unused=True)
        for i, name in enumerate(layers):
            gw, gb = grads[2 * i], grads[2 * i + 1]
            if rows[name] is None:
                continue
            if gw is not None and gb is not None and not gw.any() and not gb.any():
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


def _rank_one_input(gw: torch.Tensor | None, gb: torch.Tensor | None) -> torch.Tensor | None:
    """x from ∂/∂W = g xᵀ and ∂/∂b = g; None when the gradients do not have that form (tested on
    two fixed projections: W r = g (x·r) and gᵀW = |g|² x, cheaper than the whole outer product)."""
    if gw is None or gb is None or gw.dim() != 2 or gb.shape != gw.shape[:1]:
        return None
    gw, gb = gw.detach().double(), gb.detach().double()
    o = int(gb.abs().argmax())
    if not bool(torch.isfinite(gb).all()) or gb[o] == 0:
        return None
    x = gw[o] / gb[o]
    r = torch.cos(torch.arange(gw.shape[1], dtype=torch.float64))
    by_rows, by_cols = gw @ r, gb @ gw
    # Tolerances scaled by the sums of absolute terms: a projection that cancels to near zero must not
    # turn float32 rounding into a verdict.
    if not (torch.allclose(by_rows, gb * (x @ r), rtol=1e-3, atol=1e-4 * float((gw.abs() @ r.abs()).max()))
            and torch.allclose(by_cols, (gb @ gb) * x, rtol=1e-3, atol=1e-4 * float((gb.abs() @ gw.abs()).max()))):
        return None
    return x
