"""The training probe: the student's SmallCNN, transforms, train_epoch and evaluate on a fixed CIFAR-10
subset, one run per setting (with or without batch normalization, with or without augmentation).

The subset, the channel statistics, the optimizer, the batches' order and every seed are the
grader's. Each run starts from the same seeds, and the batches' order has a generator of its own, so
two runs differ only by what their settings change: a SmallCNN that ignores ``batch_norm``, or a
training transform that does not augment, reproduces the run it should differ from exactly.
"""
from __future__ import annotations

import math
import random
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, TensorDataset

from grader.worker import devices, probing
from grader.worker.calls import blame, call
from grader.worker.impl import Impl
from grader.worker.plain import BadReturn, array, scalar
from grader.worker.sgd import PlainSGD

SAMPLE = 8  # test images whose transformed pixels come back (the recomputation checks them)


def _tensor(transform, image: np.ndarray, which: str) -> torch.Tensor:
    with blame(f"augment.py:{which} (the transform it returns)"):
        x = transform(Image.fromarray(image))
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != (3, 32, 32):
        raise BadReturn(f"the transform of {which} returned {type(x).__name__} of shape "
                        f"{tuple(getattr(x, 'shape', ()))}; expected a tensor of shape (3, 32, 32)")
    return x


class Augmented(Dataset):
    """The training images through the student's training transform, a fresh view at every access."""

    def __init__(self, images: np.ndarray, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return _tensor(self.transform, self.images[i], "train_transform"), self.labels[i]


def run_experiment(impl: Impl, *, data: str, runs: list[dict], epochs: int, eval_every: int, batch_size: int, lr: float,
                   seed: int, device: str, threads: int, gpu_memory_fraction: float | None = None) -> dict:
    started = time.monotonic()
    torch.set_num_threads(threads)
    dev = devices.device(device)
    if dev.type == "cuda" and gpu_memory_fraction:
        torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction)
    with np.load(data, allow_pickle=False) as npz:
        train_x, train_y, test_x, test_y = (npz[k] for k in ("train_x", "train_y", "test_x", "test_y"))
    mean = [float(v) for v in (train_x / 255.0).mean(axis=(0, 1, 2))]
    std = [float(v) for v in (train_x / 255.0).std(axis=(0, 1, 2))]
    plain = call(impl, "augment", "test_transform", mean, std)
    augmenting = call(impl, "augment", "train_transform", mean, std)
    labels = torch.from_numpy(train_y).long()
    plain_train = TensorDataset(torch.stack([_tensor(plain, img, "test_transform") for img in train_x]), labels)
    test_inputs = torch.stack([_tensor(plain, img, "test_transform") for img in test_x])
    test_loader = DataLoader(TensorDataset(test_inputs, torch.from_numpy(test_y).long()), batch_size=500)
    out = {"mean": np.array(mean), "std": np.array(std), "device": str(dev),
           "test_sample": array(test_inputs[:SAMPLE], "the test images"), "prepare_seconds": time.monotonic() - started}
    for index, run in enumerate(runs):
        name = run["name"]
        torch.manual_seed(seed)
        random.seed(seed)
        with blame("model.py:SmallCNN"):
            model = call(impl, "model", "SmallCNN", bool(run["batch_norm"])).to(dev)
        train_set = Augmented(train_x, labels, augmenting) if run["augment"] else plain_train
        train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True,
                                  generator=torch.Generator().manual_seed(seed))
        optimizer = PlainSGD(model.parameters(), lr=lr)
        curves = {"train_loss": [], "test_epoch": [], "test_loss": [], "test_acc": []}
        for epoch in range(1, epochs + 1):
            train_loss = scalar(call(impl, "train", "train_epoch", model, train_loader, optimizer, dev),
                                "train_epoch's return value")
            curves["train_loss"].append(train_loss)
            if epoch % eval_every == 0 or epoch == epochs or not math.isfinite(train_loss):
                result = call(impl, "train", "evaluate", model, test_loader, dev)
                if not isinstance(result, (tuple, list)) or len(result) != 2:
                    raise BadReturn("evaluate did not return (loss, accuracy)")
                curves["test_epoch"].append(epoch)
                curves["test_loss"].append(scalar(result[0], "evaluate's loss"))
                curves["test_acc"].append(scalar(result[1], "evaluate's accuracy"))
                for key, value in model.state_dict().items():  # the weights at each evaluation (the checks
                    if not key.endswith("num_batches_tracked"):  # read those of the first and the last)
                        out[f"{name}/state@{epoch}/{key}"] = array(value, "a weight").astype(np.float32)
            probing.progress({"run": index, "runs": len(runs), "epoch": epoch, "epochs": epochs})
            if not all(math.isfinite(v) for v in (train_loss, *curves["test_loss"][-1:], *curves["test_acc"][-1:])):
                break
        for key, values in curves.items():
            out[f"{name}/{key}"] = np.array(values, dtype=np.float64)
    out["seconds"] = time.monotonic() - started
    return out
