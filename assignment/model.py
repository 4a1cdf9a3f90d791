"""Part 2 — the CIFAR-10 MLP with dropout (handout, section 3: "Dropout")."""
from torch import nn


class DropoutMLP(nn.Module):
    """The handout's three-layer MLP for CIFAR-10, with dropout after each hidden activation.

    ``DropoutMLP(drop_prob=0.0)`` must create exactly these submodules (the grader loads
    weights by these names):

    - ``linear1 = nn.Linear(32*32*3, 256)``, ``linear2 = nn.Linear(256, 128)``,
      ``linear3 = nn.Linear(128, 10)``.

    Other submodules are allowed beside them (an activation, a dropout, an ``nn.Sequential``
    holding these same three layers); other parameters are not. ``forward`` may compute the
    layers any way it likes (``self.linear1(x)``, ``self.linear1.forward(x)``,
    ``F.linear(x, self.linear1.weight, self.linear1.bias)``, ``x @ W.T + b``, ``einsum``, through
    a Sequential), with each layer's own weight and bias.

    ``forward(x)`` takes images of shape (N, 3, 32, 32) or already flat (N, 3072), flattens them
    to (N, 3072), then computes

        linear1 → sigmoid → dropout(drop_prob) → linear2 → sigmoid → dropout(drop_prob) → linear3

    and returns the logits, shape (N, 10) (no softmax: ``nn.CrossEntropyLoss`` applies it).
    linear1 receives the flattened images themselves, in train mode too (no dropout or noise on
    the input).
    Dropout zeroes each activation with probability ``drop_prob`` and scales the rest by
    1/(1 - drop_prob) in train mode only; after ``model.eval()`` it does nothing
    (``nn.Dropout`` does both for you). The model must be trainable with dropout on: backward
    through a train-mode forward must work (no in-place change of a tensor autograd still needs).

    Handout slide: "Dropout" (``class Model(nn.Module)`` with ``self.dropout = nn.Dropout(drop_prob)``).
    """

    def __init__(self, drop_prob=0.0):
        super().__init__()
        raise NotImplementedError("DropoutMLP.__init__ in model.py is not implemented yet")

    def forward(self, x):
        raise NotImplementedError("DropoutMLP.forward in model.py is not implemented yet")
