"""Part 4 — seeding, the penalized training loop and evaluation (handout, "전체 코드" and L2 slides)."""
import random

import numpy as np
import torch

from .penalties import penalized_loss


def set_seed(seed):
    """Seed every random generator the lab uses, so that two runs give the same numbers.

    Seed Python's ``random``, NumPy's global generator (``np.random``) and torch, on the CPU and
    on every CUDA device (``torch.manual_seed``, ``torch.cuda.manual_seed_all``).

    Handout slide: "Random Seed 고정".
    """
    raise NotImplementedError("set_seed in train.py is not implemented yet")


def train_epoch(model, loader, optimizer, criterion, device, lmbd=0.0, kind="l2"):
    """Train ``model`` for one pass over ``loader`` and return the average penalized loss.

    - Put the model in train mode first (the caller may have left it in eval mode).
    - For each batch ``(x, y)``: move both to ``device``; forward; ``loss = criterion(logits, y)``;
      ``loss = penalized_loss(loss, model, lmbd, batch_size=len(x), kind=kind)``;
      ``optimizer.zero_grad()``; ``loss.backward()``; ``optimizer.step()``. Writing the same formula
      out with the lab's penalties (``loss + lmbd * l2_penalty(model) / len(x) / 2``, the
      handout's style) is the same thing and fine.
    - Return a Python float: the per-sample average of the penalized loss over the epoch, i.e.
      the sum of ``loss * len(x)`` over the batches divided by the number of samples the loader
      yielded (the last batch may be smaller, so the plain mean of the batch losses is not the
      same; and a loader may cover only part of its dataset, so ``len(loader.dataset)`` is not
      the count).
    - ``lmbd`` defaults to 0.0 and ``kind`` to ``"l2"`` (the defaults are part of the contract:
      the handout's ``lmbd = 0.003`` belongs to the experiment, not to this signature).

    Handout slide: "L2 Regularization" training loop (the handout's own indentation there is
    wrong: ``zero_grad``/``backward``/``step`` belong inside the batch loop).
    """
    raise NotImplementedError("train_epoch in train.py is not implemented yet")


def evaluate(model, loader, criterion, device):
    """Return ``(loss, accuracy)`` of ``model`` on ``loader``, as two Python floats.

    - Use eval mode (dropout off) and no autograd (``torch.no_grad()``); do not change the
      parameters. Leave autograd as you found it (a ``with torch.no_grad():`` block does;
      ``torch.set_grad_enabled(False)`` left on does not). The model may stay in eval mode
      afterwards (``train_epoch`` switches it back); restoring its previous mode is fine too.
      Loss and accuracy may come from one pass over ``loader`` or from several.
    - ``loss``: the per-sample average of ``criterion`` over the samples the loader yields
      (weight each batch by its size: the last batch may be smaller).
    - ``accuracy``: the fraction of samples whose largest logit is the true class, in [0, 1]
      (not a percentage).

    Handout slide: the test loop in "전체 코드 2/3" (``model.eval()`` and ``torch.no_grad()``).
    """
    raise NotImplementedError("evaluate in train.py is not implemented yet")
