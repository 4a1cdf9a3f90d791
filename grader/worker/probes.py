"""The probes: each calls the contract's functions on fixed, seeded inputs and returns plain data.

A probe runs the same way on the student's code (in the worker) and on the reference and its
mutants (in the grader), so the two can be compared value by value. A probe returns a flat dict
of NumPy arrays, numbers and strings; it never judges.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from . import nets, standins
from .constants import PENALIZED_CASES
from .experiment import run_experiment
from .impl import Impl
from .calls import ContractError, blame, call
from .plain import BadReturn, array, scalar, type_name


@dataclass(frozen=True)
class Probe:
    name: str
    part: str
    fn: Callable[..., dict]      # fn(impl, **params)
    uses_standins: bool = False  # run with the stand-in penalties in place


PROBES: dict[str, Probe] = {}


def probe(name: str, part: str, uses_standins: bool = False):
    def register(fn):
        PROBES[name] = Probe(name, part, fn, uses_standins)
        return fn
    return register


def run(impl: Impl, name: str, standins_on: bool = True, params: dict | None = None) -> dict:
    spec = PROBES[name]
    if spec.uses_standins and standins_on:
        with impl.patched(standins.PENALTIES if spec.part == "penalties" else standins.ALL):
            return spec.fn(impl, **(params or {}))
    return spec.fn(impl, **(params or {}))


# ---------------------------------------------------------------- penalties

def fingerprint(grad: np.ndarray) -> np.ndarray:
    """Sum, absolute sum and 6 seeded random projections: equal gradients give equal fingerprints,
    and any real difference shows, at a fraction of the size of the full array."""
    flat = grad.reshape(-1)
    return np.concatenate([[flat.sum(), np.abs(flat).sum()], _projections(flat.size) @ flat])


@functools.lru_cache(maxsize=16)
def _projections(n: int) -> np.ndarray:
    return np.sin(np.outer(np.arange(1, 7) * 0.7548776662, np.arange(n)) + np.arange(1, 7)[:, None])


def _penalty(impl: Impl, kind: str, net: nn.Module) -> dict:
    name = f"{kind}_penalty"
    value = call(impl, "penalties", name, net)
    out = {"value": scalar(value, f"{name}'s return value"), "type": type_name(value),
           "differentiable": bool(isinstance(value, torch.Tensor) and value.requires_grad)}
    if out["differentiable"]:
        net.zero_grad(set_to_none=True)
        with blame(f"penalties.py:{name}"):
            torch.Tensor.backward(torch.Tensor.sum(value))
        for pname, p in net.named_parameters():
            grad = np.zeros(p.shape) if p.grad is None else array(p.grad, "gradient")
            out[f"grad/{pname}"] = fingerprint(grad)
    return out


@probe("pen.l1_mlp", "penalties")
def l1_on_mlp(impl):
    return _penalty(impl, "l1", nets.PenaltyMLP(seed=11))


@probe("pen.l2_mlp", "penalties")
def l2_on_mlp(impl):
    return _penalty(impl, "l2", nets.PenaltyMLP(seed=12))


@probe("pen.l1_other", "penalties")
def l1_on_other(impl):
    return _penalty(impl, "l1", nets.OtherNet(seed=13))


@probe("pen.l2_other", "penalties")
def l2_on_other(impl):
    return _penalty(impl, "l2", nets.OtherNet(seed=14))


@probe("pen.penalized", "penalties", uses_standins=True)
def penalized(impl):
    net, out = nets.OtherNet(seed=15), {}
    for i, (kind, lmbd, batch_size) in enumerate(PENALIZED_CASES):
        loss = torch.tensor(0.8125, requires_grad=True)
        value = call(impl, "penalties", "penalized_loss", loss, net, lmbd, batch_size, kind=kind)
        out[f"case{i}/value"] = scalar(value, "penalized_loss's return value")
        out[f"case{i}/differentiable"] = bool(isinstance(value, torch.Tensor) and value.requires_grad)
    return out


@probe("pen.unknown_kind", "penalties", uses_standins=True)
def unknown_kind(impl):
    out = {}
    for i, kind in enumerate(("l3", "elastic")):
        try:
            call(impl, "penalties", "penalized_loss", torch.tensor(1.0), nets.OtherNet(seed=16), 0.1, 4, kind=kind)
            out[f"kind{i}/raised"] = ""
        except ContractError as exc:
            cause = exc.__cause__
            out[f"kind{i}/raised"] = ",".join(c.__name__ for c in type(cause).__mro__)
    return out


# ---------------------------------------------------------------- model

MODEL_SEED = 21


def _model(impl: Impl, drop_prob: float) -> nn.Module:
    cls = impl.get("model", "DropoutMLP")
    with blame("model.py:DropoutMLP.__init__"):
        model = cls(drop_prob)
    with blame("model.py:DropoutMLP (layer names and shapes)"):
        model.load_state_dict(nets.torch_state(nets.mlp_state(MODEL_SEED)), strict=True)
    return model


def _forward(model, x) -> torch.Tensor:
    with blame("model.py:DropoutMLP.forward"), torch.no_grad():
        return model(x)


@probe("model.structure", "model")
def structure(impl):
    cls = impl.get("model", "DropoutMLP")
    with blame("model.py:DropoutMLP.__init__"):
        model = cls()
    params = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    out = {"names": ";".join(n for n, _ in params),
           "shapes": ";".join(f"{n}={'x'.join(map(str, s))}" for n, s in params)}
    try:
        model.load_state_dict(nets.torch_state(nets.mlp_state(MODEL_SEED)), strict=True)
        out["load_error"] = ""
    except Exception as exc:  # noqa: BLE001 - reported as data, judged by the grader
        out["load_error"] = str(exc)[:2000]
    return out


def _images(seed: int, n: int) -> torch.Tensor:
    return torch.rand((n, 3, 32, 32), generator=torch.Generator().manual_seed(seed)) * 2 - 1


@probe("model.eval", "model")
def eval_outputs(impl):
    model = _model(impl, 0.5)
    with blame("model.py:DropoutMLP (eval)"):
        model.eval()
    x = _images(22, 8)
    torch.manual_seed(0)
    first = _forward(model, x)
    torch.manual_seed(1)
    return {"out": array(first, "forward's output"),
            "again": array(_forward(model, x), "forward's output"),
            "flat": array(_forward(model, x.reshape(8, -1)), "forward's output")}


def _train_mode(impl: Impl, drop_prob: float, seed: int) -> dict:
    """Train-mode forward with hooks on the Linear layers: what goes in and out of each."""
    model = _model(impl, drop_prob)
    seen = {}

    def hook(layer):
        def record(module, args, result):  # returns None: the output is left as it is
            seen.setdefault(layer, (args[0].detach().clone(), result.detach().clone()))
        return record

    with blame("model.py:DropoutMLP (linear1, linear2, linear3 must be nn.Linear submodules)"):
        hooks = [getattr(model, layer).register_forward_hook(hook(layer)) for layer in ("linear1", "linear2", "linear3")]
    with blame("model.py:DropoutMLP (train)"):
        model.train()
    torch.manual_seed(seed)
    out = {"out": array(_forward(model, _images(23, 32)), "forward's output")}
    for h in hooks:
        h.remove()
    out["hooked"] = len(seen) == 3
    for layer, (inp, res) in seen.items():
        out[f"{layer}/in"] = array(inp, "layer input").astype(np.float32)
        out[f"{layer}/out"] = array(res, "layer output").astype(np.float32)
    return out


@probe("model.train_p0", "model")
def train_p0(impl):
    return _train_mode(impl, 0.0, seed=3)


@probe("model.train_p03", "model")
def train_p03(impl):
    return _train_mode(impl, 0.3, seed=4)


@probe("model.train_p06", "model")
def train_p06(impl):
    return _train_mode(impl, 0.6, seed=5)


# ---------------------------------------------------------------- data

def stats_images(seed: int, n: int) -> np.ndarray:
    """uint8 (n, 32, 32, 3) whose channels differ, and whose images differ in brightness and contrast."""
    rng = np.random.default_rng(seed)
    base = np.stack([rng.uniform(0, 255, (n, 32, 32)),
                     rng.normal(150, 20, (n, 32, 32)),
                     rng.beta(2, 5, (n, 32, 32)) * 255], axis=-1)
    scale = rng.uniform(0.3, 1.0, (n, 1, 1, 1))
    shift = rng.uniform(0, 60, (n, 1, 1, 1))
    return np.clip(base * scale + shift, 0, 255).astype(np.uint8)


def _stats(impl: Impl, seed: int, n: int) -> dict:
    images = stats_images(seed, n)
    result = call(impl, "data", "channel_stats", images.copy())
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadReturn(f"channel_stats returned {type_name(result)}; expected a pair (mean, std)")
    return {"mean": array(result[0], "the mean"), "std": array(result[1], "the std")}


@probe("data.stats_a", "data")
def stats_a(impl):
    return _stats(impl, 31, 24)


@probe("data.stats_b", "data")
def stats_b(impl):
    return _stats(impl, 32, 5)


NORMALIZE_MEAN, NORMALIZE_STD = (0.2, 0.5, 0.7), (0.3, 0.25, 0.2)


@probe("data.normalize", "data")
def normalize(impl):
    transform = call(impl, "data", "normalize_transform", NORMALIZE_MEAN, NORMALIZE_STD)
    rng = np.random.default_rng(33)
    outs = []
    for i in range(4):
        img = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        with blame("data.py:normalize_transform (the transform it returns)"):
            value = transform(img)
        outs.append(array(value, "the transform's output"))
    shapes = {o.shape for o in outs}
    if len(shapes) != 1:
        raise BadReturn(f"the transform returned tensors of different shapes {sorted(shapes)}")
    return {"out": np.stack(outs), "type": type_name(value),
            "dtype": str(getattr(value, "dtype", ""))}


def _order(loader, location: str) -> tuple[np.ndarray, np.ndarray]:
    ids, sizes = [], []
    with blame(location):
        for batch in loader:
            y = batch[1]
            ids.extend(int(v) for v in array(y, "a batch's labels").reshape(-1))
            sizes.append(len(y))
    return np.array(ids, dtype=np.int64), np.array(sizes, dtype=np.int64)


def _ids_dataset(n: int) -> TensorDataset:
    return TensorDataset(torch.arange(n, dtype=torch.float32).reshape(n, 1), torch.arange(n))


@probe("data.loaders", "data")
def loaders(impl):
    torch.manual_seed(34)
    result = call(impl, "data", "make_loaders", _ids_dataset(50), _ids_dataset(23), batch_size=16)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadReturn(f"make_loaders returned {type_name(result)}; expected (train_loader, test_loader)")
    train, test = result
    out = {}
    for split, loader in (("train", train), ("test", test)):
        for epoch in (1, 2):
            out[f"{split}{epoch}/ids"], out[f"{split}{epoch}/sizes"] = _order(loader, f"data.py:make_loaders ({split} loader)")
    return out


@probe("data.loaders_default", "data")
def loaders_default(impl):
    torch.manual_seed(35)
    result = call(impl, "data", "make_loaders", _ids_dataset(300), _ids_dataset(130))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadReturn(f"make_loaders returned {type_name(result)}; expected (train_loader, test_loader)")
    out = {}
    for split, loader in zip(("train", "test"), result):
        out[f"{split}/ids"], out[f"{split}/sizes"] = _order(loader, f"data.py:make_loaders ({split} loader)")
    return out


# ---------------------------------------------------------------- train

@probe("train.seed", "train")
def seed(impl):
    out = {}
    for i, s in enumerate((1234, 1234, 99)):
        call(impl, "train", "set_seed", s)
        out[f"draw{i}/random"] = np.array([random.random() for _ in range(3)])
        out[f"draw{i}/numpy"] = np.random.rand(3)
        out[f"draw{i}/torch"] = torch.rand(3, dtype=torch.float64).numpy()
    return out


def _epoch(impl: Impl, *, lmbd: float, kind: str, start_eval: bool, seed: int) -> dict:
    model = nets.ProbeNet(seed=seed, drop_prob=0.25)
    x, y = nets.probe_batches(seed, 45)
    loader = torch.utils.data.DataLoader(TensorDataset(x, y), batch_size=16, shuffle=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train(not start_eval)
    torch.manual_seed(seed)
    avg = call(impl, "train", "train_epoch", model, loader, optimizer, nn.CrossEntropyLoss(),
               torch.device("cpu"), lmbd=lmbd, kind=kind)
    out = {"avg": scalar(avg, "train_epoch's return value"), "avg_type": type_name(avg),
           "calls": np.array(model.calls, dtype=np.int64).reshape(-1, 3)}
    for name, p in model.named_parameters():
        out[f"param/{name}"] = array(p, "a parameter").astype(np.float32)
    return out


@probe("train.epoch", "train", uses_standins=True)
def epoch(impl):
    return _epoch(impl, lmbd=0.0, kind="l2", start_eval=False, seed=41)


@probe("train.epoch_after_eval", "train", uses_standins=True)
def epoch_after_eval(impl):
    return _epoch(impl, lmbd=0.0, kind="l2", start_eval=True, seed=42)


@probe("train.epoch_l2", "train", uses_standins=True)
def epoch_l2(impl):
    return _epoch(impl, lmbd=0.5, kind="l2", start_eval=False, seed=43)


@probe("train.epoch_l1", "train", uses_standins=True)
def epoch_l1(impl):
    return _epoch(impl, lmbd=0.5, kind="l1", start_eval=False, seed=44)


@probe("train.evaluate", "train")
def evaluate(impl):
    model = nets.ProbeNet(seed=45, drop_prob=0.5)
    x, y = nets.probe_batches(45, 45)
    # Labels from the network itself, partly shuffled: an accuracy well inside (0, 1).
    with torch.no_grad():
        model.eval()
        y = model(x).argmax(dim=1)
        y[::3] = (y[::3] + 1) % 10
        model.calls.clear()
    loader = torch.utils.data.DataLoader(TensorDataset(x, y), batch_size=16, shuffle=False)
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.manual_seed(46)
    result = call(impl, "train", "evaluate", model, loader, nn.CrossEntropyLoss(), torch.device("cpu"))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadReturn(f"evaluate returned {type_name(result)}; expected (loss, accuracy)")
    loss, acc = result
    return {"loss": scalar(loss, "the loss evaluate returned"), "acc": scalar(acc, "the accuracy evaluate returned"),
            "loss_type": type_name(loss), "acc_type": type_name(acc),
            "calls": np.array(model.calls, dtype=np.int64).reshape(-1, 3),
            "changed": float(max((p.detach() - before[n]).abs().max().item() for n, p in model.named_parameters())),
            "grads_left": any(p.grad is not None for p in model.parameters())}


# ---------------------------------------------------------------- experiment

@probe("experiment.runs", "experiment")
def experiment_runs(impl, **params):
    return run_experiment(impl, **params)
