"""The probe's own networks and seeded weights (not the reference: the grader's test objects)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .constants import MLP_SHAPES


def mlp_state(seed: int) -> dict[str, np.ndarray]:
    """Seeded float32 weights for DropoutMLP's parameter names (biases non-zero on purpose). Each layer
    gets a seeded scale as well: a sum over half a million iid weights hardly moves from seed to seed
    (a constant l1_penalty would match a secret seed's now and then), a per-layer scale does."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, (out_f, in_f) in MLP_SHAPES.items():
        bound = rng.uniform(1.0, 3.0) / np.sqrt(in_f)
        state[f"{name}.weight"] = rng.uniform(-bound, bound, (out_f, in_f)).astype(np.float32)
        state[f"{name}.bias"] = rng.uniform(-1, 1, out_f).astype(np.float32)
    return state


def torch_state(state: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v.copy()) for k, v in state.items()}


class PenaltyMLP(nn.Module):
    """DropoutMLP's layers (no forward needed): what a penalty sees on the lab's model."""

    def __init__(self, seed: int):
        super().__init__()
        self.linear1, self.linear2, self.linear3 = (nn.Linear(i, o) for o, i in MLP_SHAPES.values())
        self.dropout = nn.Dropout(0.1)
        self.load_state_dict(torch_state(mlp_state(seed)))


class ScaledLinear(nn.Linear):
    """A subclass of nn.Linear: still a Linear layer (``type(m) is nn.Linear`` misses it)."""


class OtherNet(nn.Module):
    """Other layer names, nesting, a bias-free Linear, a Linear subclass, and weights that are not
    Linear weights (a LayerNorm's, a Conv1d's, a 2-D embedding table, a free 2-D parameter)."""

    def __init__(self, seed: int):
        super().__init__()
        self.embed = nn.Linear(6, 5)
        self.norm = nn.LayerNorm(5)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(5, 5), nn.Tanh()), nn.Linear(5, 4, bias=False)])
        self.head = ScaledLinear(4, 3)
        self.conv = nn.Conv1d(1, 2, 3)
        self.table = nn.Embedding(4, 3)
        self.mix = nn.Parameter(torch.ones(3, 2))
        self.scale = nn.Parameter(torch.ones(3))
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.rand(p.shape, generator=g) * 4 - 2)


class ProbeNet(nn.Module):
    """A small CIFAR-shaped classifier with dropout that records how it was called.

    ``train_epoch`` and ``evaluate`` are graded on this network, so a bug in the student's own
    model never costs the training-loop part. Its dropout is off by default: the exact comparisons
    then depend on no random number, and the recorded mode tells whether dropout would be on.
    """

    def __init__(self, seed: int, drop_prob: float = 0.0, hidden: int = 16):
        super().__init__()
        self.fc1 = nn.Linear(3 * 32 * 32, hidden)
        self.fc2 = nn.Linear(hidden, 10)
        self.drop = nn.Dropout(drop_prob)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) / np.sqrt(p.shape[-1]))
        self.calls: list[tuple[bool, bool, int]] = []  # (training, grad enabled, batch size)

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled(), len(x)))
        return self.fc2(self.drop(torch.relu(self.fc1(x.reshape(len(x), -1)))))


def probe_batches(seed: int, n: int, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 3, 32, 32), generator=g), torch.randint(0, classes, (n,), generator=g)
