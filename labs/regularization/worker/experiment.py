"""The training probe: the student's whole pipeline on a fixed CIFAR-10 subset, one run per setting.

Normalization (their channel_stats and normalize_transform, applied once per image), loaders
(make_loaders over tensors held in memory), DropoutMLP, set_seed, train_epoch and evaluate are
all theirs; the subset, the settings and the optimizer are the grader's. Every run starts from
set_seed(seed), so the runs are paired: the same initial weights and the same batch order.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from grader.worker import devices, probing
from grader.worker.calls import blame, call
from grader.worker.impl import Impl
from grader.worker.plain import BadReturn, array, scalar
from grader.worker.sgd import PlainSGD


def _transformed(transform, images: np.ndarray) -> torch.Tensor:
    out = torch.empty((len(images), 3, 32, 32), dtype=torch.float32)
    for i, img in enumerate(images):
        with blame("data.py:normalize_transform (the transform it returns)"):
            x = transform(Image.fromarray(img))
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != (3, 32, 32):
            raise BadReturn(f"the transform returned {type(x).__name__} of shape {tuple(getattr(x, 'shape', ()))}; "
                            "expected a tensor of shape (3, 32, 32)")
        out[i] = x
    return out


def run_experiment(impl: Impl, *, data: str, runs: list[dict], epochs: int, eval_every: int, batch_size: int, lr: float,
                   seed: int, device: str, threads: int, gpu_memory_fraction: float | None = None) -> dict:
    started = time.monotonic()
    torch.set_num_threads(threads)
    dev = devices.device(device)
    if dev.type == "cuda" and gpu_memory_fraction:  # several workers share one GPU: each gets its slice
        torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction)
    with np.load(data, allow_pickle=False) as npz:
        train_x, train_y, test_x, test_y = (npz[k] for k in ("train_x", "train_y", "test_x", "test_y"))
    mean, std = call(impl, "data", "channel_stats", train_x.copy())
    transform = call(impl, "data", "normalize_transform", mean, std)
    train_set = TensorDataset(_transformed(transform, train_x), torch.from_numpy(train_y).long())
    test_set = TensorDataset(_transformed(transform, test_x), torch.from_numpy(test_y).long())
    loaders = call(impl, "data", "make_loaders", train_set, test_set, batch_size=batch_size)
    if not isinstance(loaders, (tuple, list)) or len(loaders) != 2:
        raise BadReturn("make_loaders did not return (train_loader, test_loader)")
    train_loader, test_loader = loaders
    out = {"mean": array(mean, "channel_stats' mean"), "std": array(std, "channel_stats' std"),
           "device": str(dev), "prepare_seconds": time.monotonic() - started}
    criterion = nn.CrossEntropyLoss()
    for index, run in enumerate(runs):
        name = run["name"]
        call(impl, "train", "set_seed", seed)
        model = call(impl, "model", "DropoutMLP", run["drop_prob"])
        with blame("model.py:DropoutMLP (moving it to the device)"):
            model = model.to(dev)
        optimizer = PlainSGD(model.parameters(), lr=lr)
        curves = {"train_loss": [], "test_epoch": [], "test_loss": [], "test_acc": []}
        for epoch in range(1, epochs + 1):
            train_loss = scalar(call(impl, "train", "train_epoch", model, train_loader, optimizer, criterion, dev,
                                     lmbd=run["lmbd"], kind="l2"), "train_epoch's return value")
            curves["train_loss"].append(train_loss)
            # The verdict reads only the final weights: the test set is evaluated every eval_every
            # epochs (for the curves), at the last epoch, and when the training loss stops being finite.
            if epoch % eval_every == 0 or epoch == epochs or not math.isfinite(train_loss):
                result = call(impl, "train", "evaluate", model, test_loader, criterion, dev)
                if not isinstance(result, (tuple, list)) or len(result) != 2:
                    raise BadReturn("evaluate did not return (loss, accuracy)")
                curves["test_epoch"].append(epoch)
                curves["test_loss"].append(scalar(result[0], "evaluate's loss"))
                curves["test_acc"].append(scalar(result[1], "evaluate's accuracy"))
            probing.progress({"run": index, "runs": len(runs), "epoch": epoch, "epochs": epochs})
            if not all(math.isfinite(v) for v in (train_loss, *curves["test_loss"][-1:], *curves["test_acc"][-1:])):
                break  # diverged: the curves so far tell the story
        for key, values in curves.items():
            out[f"{name}/{key}"] = np.array(values, dtype=np.float64)
        for key, value in model.state_dict().items():
            out[f"{name}/state/{key}"] = array(value, "a weight").astype(np.float32)
    out["seconds"] = time.monotonic() - started
    return out
