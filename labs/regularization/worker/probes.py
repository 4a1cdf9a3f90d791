"""The regularization lab's probes: each calls the contract's functions on seeded inputs and returns plain
data (see ``grader/worker/probing.py`` for how probes run and where their seeds come from).
"""
from __future__ import annotations

import functools
import random

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from grader.worker import observe
from grader.worker.calls import ContractError, blame, call
from grader.worker.impl import Impl
from grader.worker.plain import BadReturn, array, scalar, type_name
from grader.worker.probing import Seeds, defaults, probe
from grader.worker.sgd import PlainSGD

from . import nets, standins
from .constants import MLP_SHAPES, PENALIZED_CASES, UNKNOWN_KINDS
from .experiment import run_experiment

# What the worker puts in place of a module of the submission that failed to import.
FAILED_IMPORT = standins.FAILED_IMPORT


# ---------------------------------------------------------------- penalties

def fingerprint(grad: np.ndarray) -> np.ndarray:
    """Sum, absolute sum and 6 seeded bilinear forms ``uₖᵀ G vₖ`` of the gradient as a matrix (its
    first axis the rows): equal gradients give equal fingerprints, and any real difference shows, at a
    fraction of the size of the full array. (Vectors of the rows' and the columns' length, not
    projections of the whole array: no table of 6 × 786,432 sines for each fresh worker to compute.)"""
    g = grad.reshape(grad.shape[0] if grad.ndim > 1 else 1, -1)
    # einsum's own loop, not BLAS: the same sums in every process, whatever its BLAS threads (a matmul
    # gave the grader's process and the reference process values 7e-15 apart).
    forms = (np.einsum("ki,ij->kj", _vectors(g.shape[0]), g) * _vectors(g.shape[1])).sum(axis=1)
    return np.concatenate([[g.sum(), np.abs(g).sum()], forms])


@functools.lru_cache(maxsize=32)
def _vectors(n: int) -> np.ndarray:
    return np.sin(np.outer(np.arange(1, 7) * 0.7548776662, np.arange(n)) + np.arange(1, 7)[:, None])


def _penalty(impl: Impl, kind: str, net: nn.Module) -> dict:
    name = f"{kind}_penalty"
    value = call(impl, "penalties", name, net)
    out = {"value": scalar(value, f"{name}'s return value"), "type": type_name(value), "shape": _shape(value),
           "differentiable": bool(isinstance(value, torch.Tensor) and value.requires_grad)}
    if out["differentiable"]:
        net.zero_grad(set_to_none=True)
        with blame(f"penalties.py:{name}"):
            torch.Tensor.backward(torch.Tensor.sum(value))
        touched = []
        for pname, p in net.named_parameters():
            grad = np.zeros(p.shape) if p.grad is None else array(p.grad, "gradient")
            out[f"grad/{pname}"] = fingerprint(grad)
            touched += [f"{pname}={nets.kind_of(net, pname, False)}"] if np.any(grad) else []
        for bname, b in net.named_buffers():
            if b.grad is not None and np.any(array(b.grad, "gradient")):
                touched.append(f"{bname}={nets.kind_of(net, bname, True)}")
        out["touched"] = ";".join(touched)  # what the penalty's gradient reaches: what it summed
    return out


@probe("pen.l1_mlp", "penalties")
def l1_on_mlp(impl, seeds):
    return _penalty(impl, "l1", nets.PenaltyMLP(seed=seeds("pen.l1_mlp", 11)))


@probe("pen.l2_mlp", "penalties")
def l2_on_mlp(impl, seeds):
    return _penalty(impl, "l2", nets.PenaltyMLP(seed=seeds("pen.l2_mlp", 12)))


@probe("pen.l1_other", "penalties")
def l1_on_other(impl, seeds):
    return _penalty(impl, "l1", nets.OtherNet(seed=seeds("pen.l1_other", 13)))


@probe("pen.l2_other", "penalties")
def l2_on_other(impl, seeds):
    return _penalty(impl, "l2", nets.OtherNet(seed=seeds("pen.l2_other", 14)))


def _penalty_of_none(impl: Impl, kind: str, seed: int) -> dict:
    """The penalty of a model without any nn.Linear, or what it raised (as data: the check names the
    mistake, a sum with no starting value, rather than reporting a crash)."""
    try:
        return _penalty(impl, kind, nets.NoLinear(seed=seed))
    except Exception as exc:  # noqa: BLE001 - the student's penalty raised on it
        return {"raised": f"{type(exc).__name__}: {exc}"[:300]}


@probe("pen.l1_none", "penalties")
def l1_on_none(impl, seeds):
    return _penalty_of_none(impl, "l1", seeds("pen.l1_none", 15))


@probe("pen.l2_none", "penalties")
def l2_on_none(impl, seeds):
    return _penalty_of_none(impl, "l2", seeds("pen.l2_none", 16))


def _shape(value) -> str:
    """A tensor's shape as text ("()" for a 0-dim one); "" for anything else."""
    return str(tuple(torch.Tensor.size(value))) if isinstance(value, torch.Tensor) else ""


def criterion_loss(value: float) -> torch.Tensor:
    """A 0-dim loss like the one a criterion returns: not a leaf, so ``loss += ...`` works on it."""
    return torch.tensor(2 * value, requires_grad=True) / 2


@probe("pen.penalized", "penalties", standins=standins.for_penalties)
def penalized(impl, seeds):
    """penalized_loss with the stand-in penalties in place; the student's own penalties on the same
    model are reported too (a penalized_loss that holds its own references to them is right when
    it is consistent with them)."""
    net, out = nets.OtherNet(seed=seeds("pen.penalized", 15)), {}
    for i, (kind, lmbd, batch_size) in enumerate(PENALIZED_CASES):
        loss = criterion_loss(0.8125)
        kwargs = {} if kind is None else {"kind": kind}
        value = call(impl, "penalties", "penalized_loss", loss, net, lmbd, batch_size, **kwargs)
        out[f"case{i}/value"] = scalar(value, "penalized_loss's return value")
        out[f"case{i}/differentiable"] = bool(isinstance(value, torch.Tensor) and value.requires_grad)
        out[f"case{i}/shape"] = _shape(value)
    for kind in ("l1", "l2"):
        out[f"own/{kind}"], out[f"own/{kind}/shape"] = _own(impl, f"{kind}_penalty", net)
    return {**out, **defaults(impl.get("penalties", "penalized_loss"), ("kind",))}


def _own(impl: Impl, name: str, net) -> tuple[float, str]:
    try:
        with torch.no_grad():
            value = impl.original("penalties", name)(net)
            return scalar(value, "the penalty"), _shape(value)
    except Exception:  # noqa: BLE001 - the penalty's own checks report its failure
        return np.nan, ""


@probe("pen.unknown_kind", "penalties", standins=standins.for_penalties)
def unknown_kind(impl, seeds):
    out = {}
    for i, kind in enumerate(UNKNOWN_KINDS):
        try:
            call(impl, "penalties", "penalized_loss", criterion_loss(1.0), nets.OtherNet(seed=seeds("pen.unknown", 16)),
                 0.1, 4, kind=kind)
            out[f"kind{i}/raised"] = ""
        except ContractError as exc:
            cause = exc.__cause__
            out[f"kind{i}/raised"] = ",".join(c.__name__ for c in type(cause).__mro__)
    return out


# ---------------------------------------------------------------- model

LAYERS = tuple(MLP_SHAPES)


def _layers(model: nn.Module) -> dict[str, nn.Linear]:
    """linear1..3, wherever else the model also holds them (an nn.Sequential beside them is fine)."""
    found = {}
    for layer in LAYERS:
        m = getattr(model, layer, None)
        if not isinstance(m, nn.Linear):
            raise ContractError(f"DropoutMLP has no nn.Linear called {layer} (found {type_name(m)})",
                                "model.py:DropoutMLP.__init__")
        found[layer] = m
    return found


def _load(model: nn.Module, state: dict[str, np.ndarray]) -> None:
    for layer, m in _layers(model).items():
        for pname in ("weight", "bias"):
            p, value = getattr(m, pname, None), state[f"{layer}.{pname}"]
            if not isinstance(p, torch.Tensor) or tuple(p.shape) != value.shape:
                raise ContractError(f"{layer}.{pname} has shape {tuple(getattr(p, 'shape', ()))}, not "
                                    f"{value.shape}", "model.py:DropoutMLP.__init__")
            with torch.no_grad():
                p.copy_(torch.from_numpy(value))


def _model(impl: Impl, seeds: Seeds, *args) -> nn.Module:
    """DropoutMLP(*args) (no argument: the default drop_prob) with the probe's seeded weights."""
    cls = impl.get("model", "DropoutMLP")
    torch.manual_seed(seeds("model.init", 20))  # any parameter besides the lab's starts the same way
    with blame("model.py:DropoutMLP.__init__"):
        model = cls(*args)
    _load(model, nets.mlp_state(seeds("model.weights", MODEL_SEED)))
    return model


MODEL_SEED = 21


def _forward(model, x) -> torch.Tensor:
    with blame("model.py:DropoutMLP.forward"), torch.no_grad():
        return model(x)


@probe("model.structure", "model")
def structure(impl, seeds):
    cls = impl.get("model", "DropoutMLP")
    with blame("model.py:DropoutMLP.__init__"):
        model = cls()
    out = {"names": ";".join(n for n, _ in model.named_parameters()), "load_error": ""}
    try:
        layers = _layers(model)
        ours = {id(p) for m in layers.values() for p in m.parameters()}
        out["shapes"] = ";".join(f"{layer}.{n}={'x'.join(map(str, p.shape))}"
                                 for layer, m in layers.items() for n, p in m.named_parameters())
        out["extra"] = ";".join(n for n, p in model.named_parameters() if id(p) not in ours)
        _load(model, nets.mlp_state(seeds("model.weights", MODEL_SEED)))
    except ContractError as exc:
        out.update(shapes=out.get("shapes", ""), extra=out.get("extra", ""), load_error=str(exc)[:2000])
    return out


def _images(seed: int, n: int) -> torch.Tensor:
    return torch.rand((n, 3, 32, 32), generator=torch.Generator().manual_seed(seed)) * 2 - 1


@probe("model.eval", "model")
def eval_outputs(impl, seeds):
    model = _model(impl, seeds, 0.5)
    with blame("model.py:DropoutMLP (eval)"):
        model.eval()
    x = _images(seeds("model.eval", 22), 8)
    # "flat" runs from the same global seed as "out": a dropout wrongly active in eval mode is
    # then the same in both, and is charged to the eval check only, not to flatten too.
    torch.manual_seed(0)
    first = _forward(model, x)
    torch.manual_seed(0)
    flat = _forward(model, x.reshape(8, -1))
    torch.manual_seed(1)
    return {"out": array(first, "forward's output"), "again": array(_forward(model, x), "forward's output"),
            "flat": array(flat, "forward's output")}


# Samples in a train-mode probe: observe.py's per-sample gradients cost O(N²) (N backward passes, each
# over the whole batch), and 16 samples already give linear2's dropout 2,048 masks.
OBSERVED = 16


def _train_mode(impl: Impl, seeds: Seeds, label: str, public: int, *args) -> dict:
    """One train-mode forward and backward: the input each Linear layer received (read from its
    gradients, see observe.py), each layer's output computed here from that input, and the
    gradients."""
    model = _model(impl, seeds, *args)
    layers = _layers(model)
    with blame("model.py:DropoutMLP (train)"):
        model.train()
    torch.manual_seed(seeds(label, public))
    x = _images(seeds(label + "/x", 23), OBSERVED)
    received = _receiving(layers) if impl.trusted else None
    try:
        with blame("model.py:DropoutMLP.forward"):
            result = model(x)
    finally:
        received and received.close()
    out = {"out": array(result, "forward's output").astype(np.float32), "backward_error": ""}
    weights = torch.rand(result.shape, generator=torch.Generator().manual_seed(seeds(label + "/w", 24)))
    seen = {}
    try:
        with blame("model.py:DropoutMLP.forward (backward through it)"):
            # The reference's layers are known to be Linear layers applied once: what they received is
            # read directly (the same values, without one backward pass per sample).
            seen = received.inputs if received else observe.linear_inputs(result, layers, weights)
    except ContractError as exc:
        out["backward_error"] = str(exc)[:2000]
    out["seen"] = len(seen) == len(layers)
    out["unseen"] = ";".join(layer for layer in layers if layer not in seen)
    for layer, inp in seen.items():
        m = layers[layer]
        with torch.no_grad():
            z = F.linear(inp.to(m.weight.dtype), m.weight, m.bias)
        out[f"{layer}/in"] = array(inp, "layer input").astype(np.float32)
        out[f"{layer}/out"] = array(z, "layer output").astype(np.float32)
    model.zero_grad(set_to_none=True)
    if not out["backward_error"]:
        try:
            with blame("model.py:DropoutMLP.forward (backward through it)"):
                torch.Tensor.backward(torch.Tensor.sum(result * weights))
        except ContractError as exc:
            out["backward_error"] = str(exc)[:2000]
    for layer, m in layers.items():
        for pname in ("weight", "bias"):
            g = getattr(m, pname).grad
            out[f"grad/{layer}.{pname}"] = fingerprint(np.zeros(1) if g is None else array(g, "a gradient"))
            out[f"gradok/{layer}.{pname}"] = bool(g is not None and np.isfinite(out[f"grad/{layer}.{pname}"]).all()
                                                  and np.abs(out[f"grad/{layer}.{pname}"]).sum() > 0)
    return out


class _receiving:
    """What each layer receives in one forward pass (forward hooks; for the trusted reference only)."""

    def __init__(self, layers: dict[str, nn.Module]):
        self.inputs: dict[str, torch.Tensor] = {}
        self.hooks = [m.register_forward_hook(functools.partial(self._record, name)) for name, m in layers.items()]

    def _record(self, name, module, args, result) -> None:
        self.inputs[name] = args[0].detach().double()

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()


@probe("model.train_p0", "model")
def train_p0(impl, seeds):
    out = _train_mode(impl, seeds, "model.train_p0", 3)  # DropoutMLP(): the default drop_prob must be 0
    return {**out, **defaults(impl.get("model", "DropoutMLP"), ("drop_prob",), by_position=True)}


@probe("model.train_p03", "model")
def train_p03(impl, seeds):
    return _train_mode(impl, seeds, "model.train_p03", 4, 0.3)


@probe("model.train_p06", "model")
def train_p06(impl, seeds):
    return _train_mode(impl, seeds, "model.train_p06", 5, 0.6)


# ---------------------------------------------------------------- data

def stats_images(seed: int, n: int) -> np.ndarray:
    """uint8 (n, 32, 32, 3) whose channels differ, and whose images differ in brightness and
    contrast — sorted by brightness, so that statistics averaged over chunks of them are off."""
    rng = np.random.default_rng(seed)
    base = np.stack([rng.uniform(0, 255, (n, 32, 32)),
                     rng.normal(150, 20, (n, 32, 32)),
                     rng.beta(2, 5, (n, 32, 32)) * 255], axis=-1)
    scale = np.sort(rng.uniform(0.3, 1.0, n)).reshape(n, 1, 1, 1)
    shift = np.sort(rng.uniform(0, 60, n)).reshape(n, 1, 1, 1)
    return np.clip(base * scale + shift, 0, 255).astype(np.uint8)


def _stats(impl: Impl, images: np.ndarray) -> dict:
    result = call(impl, "data", "channel_stats", images.copy())
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadReturn(f"channel_stats returned {type_name(result)}; expected a pair (mean, std)")
    return {"mean": array(result[0], "the mean"), "std": array(result[1], "the std")}


@probe("data.stats_a", "data")
def stats_a(impl, seeds):
    return _stats(impl, stats_images(seeds("data.stats_a", 31), 24))


@probe("data.stats_b", "data")
def stats_b(impl, seeds):
    return _stats(impl, stats_images(seeds("data.stats_b", 32), 5))


def many_images(seed: int, n: int) -> np.ndarray:
    """``n`` uint8 images, cheaply: 16 seeded base images, each copy given its own brightness and
    contrast, rising with the index (so that chunks of them differ)."""
    rng = np.random.default_rng(seed)
    base = stats_images(int(rng.integers(2 ** 31)), 16).astype(np.float32)
    scale = np.linspace(0.4, 1.0, n, dtype=np.float32).reshape(n, 1, 1, 1)
    shift = np.linspace(0, 50, n, dtype=np.float32).reshape(n, 1, 1, 1)
    return np.clip(base[np.arange(n) % 16] * scale + shift, 0, 255).astype(np.uint8)


@probe("data.stats_many", "data")
def stats_many(impl, seeds):
    """Many batches' worth of images (1,203: uneven chunks for any batch size that is a round number)."""
    return _stats(impl, many_images(seeds("data.stats_many", 36), 1203))


NORMALIZE_MEAN, NORMALIZE_STD = (0.2, 0.5, 0.7), (0.3, 0.25, 0.2)


@probe("data.normalize", "data")
def normalize(impl, seeds):
    transform = call(impl, "data", "normalize_transform", NORMALIZE_MEAN, NORMALIZE_STD)
    rng = np.random.default_rng(seeds("data.normalize", 33))
    outs, tensor, floating = [], True, True
    for i in range(4):
        img = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        with blame("data.py:normalize_transform (the transform it returns)"):
            value = transform(img)
        # What the contract asks for, by behaviour: a torch tensor that holds fractions.
        tensor = tensor and isinstance(value, torch.Tensor)
        floating = floating and tensor and bool(torch.is_floating_point(value))
        outs.append(array(value, "the transform's output"))
    shapes = {o.shape for o in outs}
    if len(shapes) != 1:
        raise BadReturn(f"the transform returned tensors of different shapes {sorted(shapes)}")
    return {"out": np.stack(outs), "type": type_name(value), "tensor": tensor, "floating": floating}


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


def _pair(result, fn: str):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadReturn(f"{fn} returned {type_name(result)}; expected (train_loader, test_loader)")
    return result


class _CudaAs:
    """``torch.cuda.is_available()`` answers ``answer`` inside: the loaders must not depend on it."""

    def __init__(self, answer: bool):
        self.answer = answer

    def __enter__(self):
        self.saved = torch.cuda.is_available
        torch.cuda.is_available = lambda: self.answer
        return self

    def __exit__(self, *exc):
        torch.cuda.is_available = self.saved


@probe("data.loaders", "data")
def loaders(impl, seeds):
    out = {}
    for tag, answer in (("", False), ("cuda/", True)):
        torch.manual_seed(seeds("data.loaders" + tag, 34))
        with _CudaAs(answer):
            train, test = _pair(call(impl, "data", "make_loaders", _ids_dataset(50), _ids_dataset(23), batch_size=16),
                                "make_loaders")
        for split, loader in (("train", train), ("test", test)):
            for epoch in (1, 2):
                out[f"{tag}{split}{epoch}/ids"], out[f"{tag}{split}{epoch}/sizes"] = _order(
                    loader, f"data.py:make_loaders ({split} loader)")
    return out


@probe("data.loaders_default", "data")
def loaders_default(impl, seeds):
    torch.manual_seed(seeds("data.loaders_default", 35))
    result = _pair(call(impl, "data", "make_loaders", _ids_dataset(300), _ids_dataset(130)), "make_loaders")
    out = {}
    for split, loader in zip(("train", "test"), result):
        out[f"{split}/ids"], out[f"{split}/sizes"] = _order(loader, f"data.py:make_loaders ({split} loader)")
    return {**out, **defaults(impl.get("data", "make_loaders"), ("batch_size",))}


# ---------------------------------------------------------------- train

@probe("train.seed", "train")
def seed(impl, seeds):
    out = {}
    first, other = seeds("train.seed", 1234), seeds("train.seed/other", 99)
    for i, s in enumerate((first, first, other if other != first else first + 1)):
        call(impl, "train", "set_seed", s)
        out[f"draw{i}/random"] = np.array([random.random() for _ in range(3)])
        out[f"draw{i}/numpy"] = np.random.rand(3)
        out[f"draw{i}/torch"] = torch.rand(3, dtype=torch.float64).numpy()
    return out


def _loader(seed: int, n: int, used: int) -> DataLoader:
    """Batches of 16 over ``used`` of the ``n`` samples of a dataset (the sampler's choice): the
    number of samples is what the loader yields, not ``len(loader.dataset)``. Nothing random."""
    x, y = nets.probe_batches(seed, n)
    return DataLoader(TensorDataset(x, y), batch_size=16, sampler=range(used))


def _epoch(impl: Impl, seeds: Seeds, label: str, public: int, *, start_eval: bool = False, **kwargs) -> dict:
    """One epoch on the probe's own network, dropout off: the result depends on no random number
    (a train_epoch that iterates the loader once more, or draws one, is still exact)."""
    s = seeds(label, public)
    model = nets.ProbeNet(seed=s)
    loader = _loader(s, 60, 45)
    optimizer = PlainSGD(model.parameters(), lr=0.5)
    model.train(not start_eval)
    avg = call(impl, "train", "train_epoch", model, loader, optimizer, nn.CrossEntropyLoss(),
               torch.device("cpu"), **kwargs)
    out = {"avg": scalar(avg, "train_epoch's return value"), "avg_type": type_name(avg),
           "calls": np.array(model.calls, dtype=np.int64).reshape(-1, 3)}
    for name, p in model.named_parameters():
        out[f"param/{name}"] = array(p, "a parameter").astype(np.float32)
    return out


@probe("train.epoch", "train", standins=standins.for_training)
def epoch(impl, seeds):
    out = _epoch(impl, seeds, "train.epoch", 41)  # lmbd and kind left to their defaults (0.0, "l2")
    return {**out, **defaults(impl.get("train", "train_epoch"), ("lmbd", "kind"))}


@probe("train.epoch_after_eval", "train", standins=standins.for_training)
def epoch_after_eval(impl, seeds):
    return _epoch(impl, seeds, "train.epoch_after_eval", 42, start_eval=True, lmbd=0.0, kind="l2")


@probe("train.epoch_l2", "train", standins=standins.for_training)
def epoch_l2(impl, seeds):
    return _epoch(impl, seeds, "train.epoch_l2", 43, lmbd=0.5)  # kind left to its default, "l2"


@probe("train.epoch_l1", "train", standins=standins.for_training)
def epoch_l1(impl, seeds):
    return _epoch(impl, seeds, "train.epoch_l1", 44, lmbd=0.5, kind="l1")


@probe("train.evaluate", "train")
def evaluate(impl, seeds):
    s = seeds("train.evaluate", 45)
    model = nets.ProbeNet(seed=s, drop_prob=0.5)
    loader = _loader(s, 60, 45)
    x, _ = loader.dataset.tensors
    # Labels from the network itself, partly shuffled: an accuracy well inside (0, 1).
    with torch.no_grad():
        model.eval()
        y = model(x).argmax(dim=1)
        y[::3] = (y[::3] + 1) % 10
        model.calls.clear()
    loader.dataset.tensors = (x, y)
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.manual_seed(seeds("train.evaluate/rng", 46))
    grad_before = torch.is_grad_enabled()
    try:
        result = call(impl, "train", "evaluate", model, loader, nn.CrossEntropyLoss(), torch.device("cpu"))
        grad_after = torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(grad_before)  # for the probes that follow, whatever evaluate left
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise BadReturn(f"evaluate returned {type_name(result)}; expected (loss, accuracy)")
    loss, acc = result
    out = {"loss": scalar(loss, "the loss evaluate returned"), "acc": scalar(acc, "the accuracy evaluate returned"),
           "loss_type": type_name(loss), "acc_type": type_name(acc),
           # a Python float: float itself or a subclass of it (numpy.float64 is one), or an int
           "loss_float": _python_number(loss), "acc_float": _python_number(acc),
           "calls": np.array(model.calls, dtype=np.int64).reshape(-1, 3),
           "grads_left": any(p.grad is not None for p in model.parameters()),
           "grad_mode_kept": bool(grad_after) == bool(grad_before)}
    for n, p in model.named_parameters():
        out[f"before/{n}"] = array(before[n], "a parameter").astype(np.float32)
        out[f"after/{n}"] = array(p, "a parameter").astype(np.float32)
    return out


def _python_number(value) -> bool:
    return isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool))


# ---------------------------------------------------------------- experiment

@probe("experiment.runs", "experiment")
def experiment_runs(impl, seeds, **params):
    return run_experiment(impl, **params)
