"""The probe's own networks and seeded weights (not the reference: the grader's test objects)."""
from __future__ import annotations

import functools
import inspect
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.modules.lazy import LazyModuleMixin

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


class NoLinear(nn.Module):
    """Layers with weights, none of them an nn.Linear (a Conv1d, a LayerNorm, an embedding table, a free
    2-D parameter): every penalty of it is 0, and a sum with no starting value has nothing to add up."""

    def __init__(self, seed: int):
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3)
        self.norm = nn.LayerNorm(4)
        self.table = nn.Embedding(3, 2)
        self.mix = nn.Parameter(torch.ones(2, 2))
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.rand(param.shape, generator=g) * 4 - 2)


class ScaledLinear(nn.Linear):
    """A subclass of nn.Linear: still a Linear layer (``type(m) is nn.Linear`` misses it)."""


# Constructor arguments tried, in order, on every module class of torch.nn: small sizes first, so
# that a class with defaults (nn.Transformer()) is not built at full size.
ZOO_ARGS = ((4,), (4, 4), (2, 4), (4, 4, 3), (4, 4, 4), (4, 4, 4, 4))
ZOO_MAX = 20_000  # elements: nn.Transformer(4, 4) (223k) is left out; its layers are in the zoo one by one


@functools.lru_cache(maxsize=1)
def zoo_recipes() -> tuple[tuple[str, type, tuple, tuple], ...]:
    """(name, class, args, keyword items) for every module class of torch.nn that can be built from
    small sizes and then holds a parameter or a buffer — enumerated from torch.nn, not listed by
    hand. A class that takes ``affine`` gets ``affine=True`` (InstanceNorm then has a weight), one
    that takes ``weight`` a weight tensor (the losses keep it as a buffer; they are tried with no
    other argument first). Left out: lazy modules
    (no shape yet), containers and classes none of ZOO_ARGS builds (nn.AdaptiveLogSoftmaxWithLoss
    wants a list of cut-offs; it holds only Linear layers), and anything over ZOO_MAX elements."""
    recipes = []
    for name, cls in sorted(vars(nn).items()):
        if not (inspect.isclass(cls) and issubclass(cls, nn.Module)) or issubclass(cls, LazyModuleMixin):
            continue
        try:
            takes = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            continue
        extra = (("affine", True),) if "affine" in takes else ()
        extra += (("weight", (4,)),) if "weight" in takes else ()
        for args in ((),) * bool(extra and extra[-1][0] == "weight") + ZOO_ARGS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = _build(cls, args, extra)
            except Exception:  # noqa: BLE001 - not buildable from these sizes: try the next
                continue
            size = sum(t.numel() for t in (*module.parameters(), *module.buffers()))
            if 0 < size <= ZOO_MAX:
                recipes.append((name, cls, args, extra))
            break
    return tuple(recipes)


def _build(cls: type, args: tuple, extra: tuple) -> nn.Module:
    kwargs = {k: torch.ones(v) if k == "weight" else v for k, v in extra}
    return cls(*args, **kwargs)


class Zoo(nn.Module):
    """One module of every kind torch.nn has that holds a parameter or a buffer (see zoo_recipes),
    plus a free 2-D parameter and a 2-D buffer called ``weight``."""

    def __init__(self):
        super().__init__()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.kinds = nn.ModuleDict({name: _build(cls, args, extra) for name, cls, args, extra in zoo_recipes()})
        self.free = nn.Parameter(torch.ones(4, 3))
        self.held = Held()


class Held(nn.Module):
    """Not a torch.nn layer: a module that keeps a 2-D buffer called ``weight``."""

    def __init__(self):
        super().__init__()
        self.register_buffer("weight", torch.ones(3, 4))


def kind_of(model: nn.Module, name: str, buffer: bool) -> str:
    """What holds the parameter or buffer ``name``: its module's class when torch.nn defines it,
    else "parameter" (a free nn.Parameter) or "buffer"."""
    owner = model.get_submodule(name.rpartition(".")[0])
    if type(owner).__module__.startswith("torch.nn"):
        return type(owner).__name__
    return "buffer" if buffer else "parameter"


class OtherNet(nn.Module):
    """Other layer names, nesting, a bias-free Linear, a Linear subclass, and weights that are not
    Linear weights: a LayerNorm's, a Conv1d's, a 2-D embedding table, a free 2-D parameter, and one
    module of every other kind in torch.nn (Zoo). Its floating-point buffers require gradients, so
    that a penalty that sums them shows in their gradients as well as in its value."""

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
        self.zoo = Zoo()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.rand(p.shape, generator=g) * 4 - 2)
            for b in self.buffers():
                if b.is_floating_point():
                    b.copy_(torch.rand(b.shape, generator=g) * 4 - 2)
                    b.requires_grad_(True)


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
