"""The CNN lab's probes: each calls the contract's functions on seeded inputs and returns plain data
(``grader/worker/probing.py``: how probes run and where their seeds come from). What they observe is the
mathematics: a normalized tensor and its gradients, the running statistics left behind, the logits of
seeded weights, the pixels an augmented image is made of, the weights an epoch leaves."""
from __future__ import annotations

import random

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader.worker.calls import ContractError, blame, call
from grader.worker.impl import Impl
from grader.worker.plain import BadReturn, array, scalar, type_name
from grader.worker.probing import defaults, probe
from grader.worker.sgd import PlainSGD

from .experiment import run_experiment

FAILED_IMPORT: dict = {}  # the lab's modules import nothing from each other: nothing to stand in


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- batchnorm

def _bn_inputs(seed: int, shape=(6, 4, 5, 3)) -> dict:
    """x with its own scale and offset per channel (so that per-channel statistics matter), gamma,
    beta, positive running statistics, and the weights of the loss whose gradient is read (the plain
    sum of a normalized tensor has no gradient on x)."""
    g, c = _gen(seed), shape[1]
    scale, offset = torch.rand(c, generator=g) * 3 + 0.5, torch.randn(c, generator=g) * 2
    x = torch.randn(shape, generator=g, dtype=torch.float64) * scale.reshape(1, -1, 1, 1) + offset.reshape(1, -1, 1, 1)
    return {"x": x.requires_grad_(), "gamma": (torch.rand(c, generator=g, dtype=torch.float64) + 0.5).requires_grad_(),
            "beta": torch.randn(c, generator=g, dtype=torch.float64).requires_grad_(),
            "running_mean": torch.randn(c, generator=g, dtype=torch.float64),
            "running_var": torch.rand(c, generator=g, dtype=torch.float64) + 0.5,
            "weights": torch.randn(shape, generator=g, dtype=torch.float64)}


def _batch_norm(impl: Impl, seed: int, training: bool, **kwargs) -> dict:
    t = _bn_inputs(seed)
    x_before = t["x"].detach().clone()
    y = call(impl, "batchnorm", "batch_norm", t["x"], t["gamma"], t["beta"], t["running_mean"], t["running_var"],
             training, **kwargs)
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != tuple(t["x"].shape):
        raise BadReturn(f"batch_norm returned {type_name(y)} of shape {tuple(getattr(y, 'shape', ()))}; expected a "
                        f"tensor of shape {tuple(t['x'].shape)}")
    out = {"y": array(y, "batch_norm's result"), "running_mean": array(t["running_mean"], "running_mean"),
           "running_var": array(t["running_var"], "running_var"),
           "x_kept": bool(torch.equal(t["x"].detach(), x_before)),
           "differentiable": bool(y.requires_grad)}
    if y.requires_grad:
        with blame("batchnorm.py:batch_norm (backward through it)"):
            torch.Tensor.backward(torch.Tensor.sum(y * t["weights"]))
        for name in ("x", "gamma", "beta"):
            grad = t[name].grad
            out[f"grad/{name}"] = np.zeros(tuple(t[name].shape)) if grad is None else array(grad, "a gradient")
    return out


@probe("bn.train", "batchnorm")
def bn_train(impl, seeds):
    """training=True with the defaults (momentum 0.1, eps 1e-5)."""
    return {**_batch_norm(impl, seeds("bn.train", 61), True),
            **defaults(impl.get("batchnorm", "batch_norm"), ("momentum", "eps"))}


@probe("bn.train_args", "batchnorm")
def bn_train_args(impl, seeds):
    """training=True with momentum and eps given: they must be the ones used."""
    return _batch_norm(impl, seeds("bn.train_args", 62), True, momentum=0.3, eps=0.5)


@probe("bn.eval", "batchnorm")
def bn_eval(impl, seeds):
    return _batch_norm(impl, seeds("bn.eval", 63), False, eps=0.5)


# ---------------------------------------------------------------- model

LAYERS = {"conv1": (8, 3, 3, 3), "conv2": (16, 8, 3, 3), "conv3": (32, 16, 3, 3), "fc": (10, 512)}
NORMS = {"bn1": 8, "bn2": 16, "bn3": 32}


def _state(seed: int, batch_norm: bool) -> dict[str, torch.Tensor]:
    """Seeded weights for the lab's layers, scaled so that every block's activations stay of order 1."""
    g, state = _gen(seed), {}
    for name, shape in LAYERS.items():
        fan_in = int(np.prod(shape[1:]))
        state[f"{name}.weight"] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        state[f"{name}.bias"] = torch.randn(shape[0], generator=g) * 0.1
    for name, c in NORMS.items() if batch_norm else ():
        state[f"{name}.weight"] = torch.rand(c, generator=g) + 0.5
        state[f"{name}.bias"] = torch.randn(c, generator=g) * 0.2
        state[f"{name}.running_mean"] = torch.randn(c, generator=g) * 0.3
        state[f"{name}.running_var"] = torch.rand(c, generator=g) + 0.5
    return state


def _model(impl: Impl, seed: int, batch_norm: bool) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """SmallCNN(batch_norm) holding the probe's seeded weights, by the contract's names: the model
    and its tensors (parameters and buffers) by name."""
    cls = impl.get("model", "SmallCNN")
    with blame("model.py:SmallCNN.__init__"):
        model = cls(batch_norm)
    if not isinstance(model, nn.Module):
        raise BadReturn(f"SmallCNN({batch_norm}) is a {type_name(model)}, not an nn.Module")
    # Every name a tensor has (a Sequential that also holds the layers gives them second names).
    tensors = {**dict(model.named_parameters(remove_duplicate=False)), **dict(model.named_buffers(remove_duplicate=False))}
    for name, value in _state(seed, batch_norm).items():
        mine = tensors.get(name)
        if not isinstance(mine, torch.Tensor) or tuple(mine.shape) != tuple(value.shape):
            found = "none" if mine is None else f"shape {tuple(mine.shape)}"
            raise ContractError(f"SmallCNN(batch_norm={batch_norm}) has no {name} of shape {tuple(value.shape)} "
                                f"({found})", "model.py:SmallCNN.__init__")
        with torch.no_grad():
            mine.copy_(value)
    return model, tensors


def _images(seed: int, n: int) -> torch.Tensor:
    return torch.randn((n, 3, 32, 32), generator=_gen(seed))


@probe("model.structure", "model")
def structure(impl, seeds):
    """With and without batch normalization: the shape of each tensor the contract names ("-" where
    there is none), and the parameters and buffers besides them (a Sequential holding the same layers
    adds none); and the default of ``batch_norm``."""
    cls, out = impl.get("model", "SmallCNN"), {}
    for batch_norm in (True, False):
        torch.manual_seed(seeds("model.structure", 70))
        with blame("model.py:SmallCNN.__init__"):
            model = cls(batch_norm)
        named = {**dict(model.named_parameters(remove_duplicate=False)),
                 **dict(model.named_buffers(remove_duplicate=False))}
        contract = list(_state(0, True))  # every name the contract knows, with or without batch normalization
        ours = {id(named[n]) for n in contract if n in named}
        key = "bn" if batch_norm else "plain"
        out[f"{key}/shapes"] = ";".join(f"{n}={'x'.join(map(str, named[n].shape)) if n in named else '-'}"
                                        for n in contract)
        out[f"{key}/extra"] = ";".join(sorted({n for n, t in named.items() if id(t) not in ours
                                               and not n.endswith("num_batches_tracked")}))
    return {**out, **defaults(cls, ("batch_norm",))}


def _forward(model: nn.Module, x: torch.Tensor, mode: str) -> np.ndarray:
    with blame(f"model.py:SmallCNN.forward ({mode} mode)"):
        model.train(mode == "train")
        with torch.no_grad():
            logits = model(x)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(x), 10):
        raise BadReturn(f"SmallCNN.forward returned {type_name(logits)} of shape "
                        f"{tuple(getattr(logits, 'shape', ()))}; expected logits of shape ({len(x)}, 10)")
    return array(logits, "the logits")


def _running(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {f"after/{n}": array(t, n) for n, t in tensors.items() if n.endswith(("running_mean", "running_var"))}


@probe("model.bn", "model")
def with_batch_norm(impl, seeds):
    """SmallCNN(True): eval-mode logits (the running statistics), then train-mode logits (the batch's)
    and the running statistics that forward leaves."""
    model, tensors = _model(impl, seeds("model.bn", 71), True)
    x = _images(seeds("model.bn/x", 72), 6)
    out = {"eval": _forward(model, x, "eval")}
    out["train"] = _forward(model, x, "train")
    return {**out, **_running(tensors)}


@probe("model.plain", "model")
def without_batch_norm(impl, seeds):
    model, _tensors = _model(impl, seeds("model.plain", 73), False)
    x = _images(seeds("model.plain/x", 74), 6)
    return {"eval": _forward(model, x, "eval"), "train": _forward(model, x, "train")}


# ---------------------------------------------------------------- augment

def _image(seed: int) -> np.ndarray:
    """A seeded 32×32 RGB image, far from symmetric (so every crop and flip of it differs)."""
    return np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def _stats(seed: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in rng.uniform(0.3, 0.6, 3)], [float(v) for v in rng.uniform(0.15, 0.3, 3)]


def _apply(transform, image: np.ndarray, which: str) -> torch.Tensor:
    with blame(f"augment.py:{which} (the transform it returns)"):
        x = transform(Image.fromarray(image))
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != (3, 32, 32):
        raise BadReturn(f"the transform of {which} returned {type_name(x)} of shape "
                        f"{tuple(getattr(x, 'shape', ()))}; expected a tensor of shape (3, 32, 32)")
    return x.detach().to(torch.float32)


@probe("aug.test", "augment")
def test_images(impl, seeds):
    mean, std = _stats(seeds("aug.test/stats", 80))
    transform = call(impl, "augment", "test_transform", mean, std)
    return {f"image{i}": array(_apply(transform, _image(seeds(f"aug.test/{i}", 81 + i)), "test_transform"), "a tensor")
            for i in range(3)}


DRAWS = 200
SHIFTS = range(-4, 5)


def _views(image: np.ndarray, mean, std) -> np.ndarray:
    """Every view the contract allows, normalized: (shift y, shift x, flipped) -> (3, 32, 32), from the
    image padded with 4 black pixels."""
    padded = np.zeros((40, 40, 3), np.float32)
    padded[4:36, 4:36] = image.astype(np.float32) / 255
    padded = (padded - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    views = np.empty((len(SHIFTS), len(SHIFTS), 2, 3, 32, 32), np.float32)
    for i, dy in enumerate(SHIFTS):
        for j, dx in enumerate(SHIFTS):
            crop = padded[4 + dy:36 + dy, 4 + dx:36 + dx].transpose(2, 0, 1)
            views[i, j, 0], views[i, j, 1] = crop, crop[:, :, ::-1]
    return views.reshape(-1, 3 * 32 * 32)


@probe("aug.train", "augment")
def train_views(impl, seeds):
    """DRAWS calls of the training transform on one image, each matched with the views the contract
    allows: how many match one, and the shifts and flips of those that do."""
    mean, std = _stats(seeds("aug.train/stats", 90))
    image = _image(seeds("aug.train/image", 91))
    transform = call(impl, "augment", "train_transform", mean, std)
    torch.manual_seed(seeds("aug.train/torch", 92))
    random.seed(seeds("aug.train/random", 93))
    views = _views(image, mean, std)
    shifts, flips, unmatched = [], 0, 0
    for _ in range(DRAWS):
        x = _apply(transform, image, "train_transform").numpy().reshape(1, -1)
        distance = np.abs(views - x).max(axis=1)
        best = int(distance.argmin())
        if distance[best] > 1e-4:
            unmatched += 1
            continue
        cell, flipped = divmod(best, 2)
        dy, dx = divmod(cell, len(SHIFTS))
        shifts.append((SHIFTS[dy], SHIFTS[dx]))
        flips += flipped
    found = np.array(shifts, np.int64).reshape(-1, 2)
    return {"draws": DRAWS, "unmatched": unmatched, "flipped": flips,
            "shift_y": np.unique(found[:, 0]), "shift_x": np.unique(found[:, 1]),
            "unshifted": int(((found[:, 0] == 0) & (found[:, 1] == 0)).sum())}


# ---------------------------------------------------------------- train

class ProbeNet(nn.Module):
    """A convolution, batch normalization, ReLU, average pooling and a linear layer: small, with a
    mode that matters (the normalization's statistics) and nothing random."""

    def __init__(self, seed: int):
        super().__init__()
        g = _gen(seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 10)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)

    def forward(self, x):
        return self.fc(torch.relu(self.norm(self.conv(x))).mean(dim=(2, 3)))


def _data(seed: int, n: int = 22, batch_size: int = 8) -> DataLoader:
    """n samples in batches of 8 (the last one smaller), in order: nothing random."""
    g = _gen(seed)
    x = torch.randn((n, 3, 6, 6), generator=g) * 2 + 0.5
    y = torch.randint(0, 10, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def _tensors(model: nn.Module, prefix: str) -> dict[str, np.ndarray]:
    named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    return {f"{prefix}/{n}": array(t, n) for n, t in named.items() if not n.endswith("num_batches_tracked")}


@probe("train.epoch", "train")
def epoch(impl, seeds):
    """One epoch from eval mode (where evaluate leaves a model): the weights and the running statistics
    it leaves, and the loss it reports."""
    s = seeds("train.epoch", 100)
    model = ProbeNet(s)
    model.eval()
    optimizer = PlainSGD(model.parameters(), lr=0.2)
    avg = call(impl, "train", "train_epoch", model, _data(s), optimizer, torch.device("cpu"))
    return {"loss": scalar(avg, "train_epoch's return value"), **_tensors(model, "after")}


@probe("train.evaluate", "train")
def evaluate(impl, seeds):
    """evaluate from train mode (where train_epoch leaves a model): the loss and accuracy it reports, and
    the weights and running statistics after it (which it must not change)."""
    s = seeds("train.evaluate", 101)
    model = ProbeNet(s)
    loader = _data(s)
    with torch.no_grad():  # running statistics that differ from any batch's, and labels the model half gets
        model.norm.running_mean.copy_(torch.randn(4, generator=_gen(s)) * 0.3)
        model.norm.running_var.copy_(torch.rand(4, generator=_gen(s + 1)) + 0.5)
        model.eval()
        x, y = loader.dataset.tensors
        y = model(x).argmax(dim=1)
        y[::3] = (y[::3] + 3) % 10  # 8 of the 22 wrong: an accuracy that is not its own complement
        loader.dataset.tensors = (x, y)
    model.train()
    grad_before = torch.is_grad_enabled()
    try:
        result = call(impl, "train", "evaluate", model, loader, torch.device("cpu"))
        grad_after = torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(grad_before)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadReturn(f"evaluate returned {type_name(result)}; expected (loss, accuracy)")
    return {"loss": scalar(result[0], "the loss evaluate returned"),
            "acc": scalar(result[1], "the accuracy evaluate returned"),
            "grad_mode_kept": bool(grad_after) == bool(grad_before), **_tensors(model, "after")}


# ---------------------------------------------------------------- experiment

@probe("experiment.runs", "experiment")
def experiment_runs(impl, seeds, **params):
    return run_experiment(impl, **params)
