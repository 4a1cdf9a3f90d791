"""Part 1 — L1 and L2 penalties (handout, section 2: "L1 L2 Regularization").

Only the weights of ``nn.Linear`` layers are penalized: biases and the weights of other
layers (LayerNorm, BatchNorm, ...) are left alone, as in the handout's
``model.linear1.weight.pow(2.0).sum()``.
"""
import torch
from torch import nn


def l1_penalty(model):
    """Return the L1 penalty of ``model``: the sum of |w| over every weight of every ``nn.Linear``.

    - ``model`` is any ``nn.Module`` (DropoutMLP or another network, with any layer names).
    - Include the ``weight`` of every ``nn.Linear`` found anywhere inside the model, subclasses
      of ``nn.Linear`` included (hint: ``model.modules()`` and ``isinstance``); exclude biases,
      non-Linear layers and 2-D parameters that are not a Linear's weight (an ``nn.Embedding``'s
      table, a bare ``nn.Parameter``). The weights of every other kind of layer (``Conv2d``,
      ``BatchNorm``, ``LayerNorm``, ``RNN``/``LSTM``/``GRU``, ``Bilinear``, ...) and buffers are
      excluded too.
    - Return a 0-dim tensor (shape ``()``, like a criterion's loss: start a sum from
      ``torch.zeros(())`` or 0, not ``torch.zeros(1)``) that autograd can differentiate (no
      ``.item()``, no ``float``).

    Handout slide: "L1 loss in LogisticRegression", ``reg = model.linear.weight.abs().sum()``.
    """
    # BEGIN SOLUTION
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    return sum((w.abs().sum() for w in weights), torch.zeros(()))
    # END SOLUTION


def l2_penalty(model):
    """Return the L2 penalty of ``model``: the sum of w² over the same weights as ``l1_penalty``.

    This is the sum of the squared Frobenius norms ``||W||_F^2`` of the Linear weight matrices
    (squared: not the norm itself). Biases and non-Linear layers are excluded.
    Return a differentiable 0-dim tensor (shape ``()``, not ``(1,)``).

    Handout slide: "L2 loss in LogisticRegression", ``reg = model.linear.weight.pow(2.0).sum()``.
    """
    # BEGIN SOLUTION
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    return sum((w.pow(2).sum() for w in weights), torch.zeros(()))
    # END SOLUTION


def penalized_loss(loss, model, lmbd, batch_size, kind="l2"):
    """Return ``loss + lmbd * penalty / batch_size / 2``.

    - ``loss``: the 0-dim data loss of one batch (the output of the criterion, a non-leaf
      tensor). You may add to it in place (the handout's ``loss += ...``) or build a new tensor:
      callers use only the returned value.
    - ``penalty``: ``l1_penalty(model)`` when ``kind == "l1"``, ``l2_penalty(model)`` when
      ``kind == "l2"`` (the default); any other ``kind`` raises ``ValueError`` — ``kind`` is
      case-sensitive, so ``"L2"`` raises too.
    - ``lmbd``: the regularization strength λ; ``batch_size``: the number of samples in the batch.
    - Return a 0-dim tensor (shape ``()``) that autograd can differentiate.

    Handout slide: "Regularization" (J(w, b) = ... + λ/(2m)·||w||²) and the L2 training loop,
    ``loss += lmbd*reg/len(b_x)/2.``
    """
    # BEGIN SOLUTION
    penalties = {"l1": l1_penalty, "l2": l2_penalty}
    if kind not in penalties:
        raise ValueError(f"kind must be 'l1' or 'l2', not {kind!r}")
    return loss + lmbd * penalties[kind](model) / batch_size / 2
    # END SOLUTION
