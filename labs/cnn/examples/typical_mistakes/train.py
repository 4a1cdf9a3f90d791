"""Part 4 — the training loop and evaluation, and the mode each needs (handout, "train() / eval()")."""
import torch
import torch.nn.functional as F


def train_epoch(model, loader, optimizer, device):
    """Train ``model`` for one pass over ``loader``; return the average cross-entropy loss.

    - Put the model in train mode first (the caller may have left it in eval mode after
      ``evaluate``): batch normalization must use and update the batch's statistics.
    - For each batch ``(x, y)``: move both to ``device``; ``loss = F.cross_entropy(model(x), y)``
      (or ``nn.CrossEntropyLoss()``); ``optimizer.zero_grad()``; ``loss.backward()``; ``optimizer.step()``.
    - Return a Python float: the per-sample average loss over the samples the loader yielded (the
      sum of ``loss * len(x)`` over the batches, divided by their count: the last batch may be
      smaller).
    """
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def evaluate(model, loader, device):
    """Return ``(loss, accuracy)`` of ``model`` on ``loader``, as two Python floats.

    - Use eval mode (batch normalization with its running statistics, which must not change) and no
      autograd (``torch.no_grad()``; leave autograd as you found it); do not change the parameters.
    - ``loss``: the per-sample average cross-entropy over the samples the loader yields.
    - ``accuracy``: the fraction of those samples whose largest logit is the true class, in [0, 1].
    """
    # model.eval() forgotten: batch normalization learns from the test batches
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total += F.cross_entropy(logits, y).item() * len(x)
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(x)
    return total / count, correct / count
