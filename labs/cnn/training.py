"""The CNN lab's training check, its trusted side: three runs of the student's pipeline (no batch
normalization; batch normalization; batch normalization with augmentation) on 500 CIFAR-10 training
images, and every loss the verdict reads recomputed here, in NumPy, from the weights the worker returns
at each evaluation (the reported curves are only shown).

Each technique is held to what it reliably does in a short run, measured against the run without it:
- batch normalization lets the same plain SGD (lr 0.05) fit the training images faster: the final
  training loss, recomputed with the statistics of the training images themselves, is lower;
- augmentation narrows the gap between the test loss (eval mode) and that training loss: the model
  learns the images' content rather than the images.
Paired by seed, a SmallCNN that ignores ``batch_norm``, or a train_transform that does not augment,
reproduces the run it is compared with exactly: margin 0.000. The threshold, 0.05, sits between 0 and the
smallest real effect. Measured with bench/bench_training.py --lab cnn on the offline copy (20 seeds,
2026-12-04): the reference passes 20/20, batch normalization's margin 0.923–1.317 (median 1.175),
augmentation's 0.706–1.156 (median 0.892); batch_norm ignored fails the first on 20/20 (0.000 every
seed) and keeps the second (0.076–0.252); no augmentation fails the second on 20/20 (0.000 every seed).
The three runs take about 13 s of the 2 cores.

Tuning, on the offline copy (2 cores): at lr 0.2 on 1,000 images over 8 epochs the final test loss was
higher with batch normalization on 5 of the 17 seeds run (the running statistics lag a fast-moving
network), and the gap margin fell to 0.044 on one; at lr 0.2 on 500 images over 16 epochs the training
loss was lower with it on only 19 of 20 seeds (−0.135 on one). At lr 0.05 both margins are near 1.
"""
from __future__ import annotations

import math

import numpy as np

from grader.training import Analysis, Run, Settings, Subset
from grader.training import curves as training_curves

PROBE = "experiment.runs"  # the worker's training probe (labs/cnn/worker/experiment.py)
SETTINGS = Settings(n_train=500, n_test=2000, epochs=16, eval_every=4, batch_size=64, lr=0.05, margin=0.05,
                    runs=(Run.of("baseline", batch_norm=False, augment=False),
                          Run.of("batchnorm", batch_norm=True, augment=False),
                          Run.of("augment", batch_norm=True, augment=True)))
CAPS: dict = {}  # the weights at each evaluation are small (4 × 11,274 floats a run): the usual caps hold them
# Each technique's margin: (its run, the run it is measured against, what is compared).
MARGINS = {"batchnorm": ("batchnorm", "baseline", "train_loss"), "augment": ("augment", "batchnorm", "gap")}

LAYERS = ("conv1", "conv2", "conv3")
STATE_KEYS = tuple(f"{layer}.{p}" for layer in (*LAYERS, "fc") for p in ("weight", "bias"))
NORM_KEYS = tuple(f"bn{k}.{p}" for k in (1, 2, 3) for p in ("weight", "bias", "running_mean", "running_var"))


def normalize(images: np.ndarray, mean, std) -> np.ndarray:
    """uint8 (N, 32, 32, 3) → float32, as ToTensor and Normalize compute it, kept channels-last."""
    return (images.astype(np.float32) / 255 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def _conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3×3 convolution with padding 1 on channels-last images, (N, H, W, C) → (N, H, W, K): one matrix
    product per offset of the kernel (each shifted copy is rows of whole pixels: fast to gather)."""
    n, h, w, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.broadcast_to(bias, (n * h * w, len(bias))).copy()
    for i in range(3):
        for j in range(3):
            out += padded[:, i:i + h, j:j + w].reshape(-1, c) @ weight[:, :, i, j].T
    return out.reshape(n, h, w, -1)


def forward(state: dict[str, np.ndarray], x: np.ndarray, batch_stats: bool = False) -> np.ndarray:
    """SmallCNN's logits for channels-last images: in eval mode (the running statistics), or with
    ``batch_stats`` normalizing with the statistics of ``x`` itself (train mode's, with the whole set as
    its batch)."""
    state = {k: np.asarray(v, np.float32) for k, v in state.items()}
    for k, layer in enumerate(LAYERS, 1):
        x = _conv(x, state[f"{layer}.weight"], state[f"{layer}.bias"])
        if f"bn{k}.weight" in state:
            mean, var = (x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))) if batch_stats else \
                (state[f"bn{k}.running_mean"], state[f"bn{k}.running_var"])
            x = (x - mean) / np.sqrt(var + 1e-5) * state[f"bn{k}.weight"] + state[f"bn{k}.bias"]
        x = np.maximum(x, 0)
        x = np.maximum(np.maximum(x[:, ::2, ::2], x[:, 1::2, ::2]), np.maximum(x[:, ::2, 1::2], x[:, 1::2, 1::2]))
    return x.transpose(0, 3, 1, 2).reshape(len(x), -1) @ state["fc.weight"].T + state["fc.bias"]  # flattened C, H, W


def loss(state: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, batch_stats: bool = False) -> float:
    """The mean cross-entropy of SmallCNN on normalized images ``x`` (see ``forward``); in eval mode a
    chunk at a time, which gives the same numbers."""
    chunks = [slice(0, len(x))] if batch_stats else [slice(i, i + 500) for i in range(0, len(x), 500)]
    total = 0.0
    for part in chunks:
        z = forward(state, x[part], batch_stats).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        total -= log_p[np.arange(len(z)), y[part]].sum()
    return float(total / len(x))


def analyse(values: dict, subset: Subset, settings: Settings) -> Analysis:
    mean, std = values.get("mean"), values.get("std")
    runs, recomputed, problems, fitted = {}, {}, {}, {}
    test_x = train_x = None
    if mean is not None and std is not None:
        test_x, train_x = normalize(subset.test_x, mean, std), normalize(subset.train_x, mean, std)
        sample = np.asarray(values.get("test_sample", np.zeros(0)), np.float32)
        mine = test_x[:len(sample)].transpose(0, 3, 1, 2)
        if sample.shape != mine.shape or not np.allclose(sample, mine, atol=1e-4):
            # The student's test_transform is not the contract's (the augment part's checks say so): the
            # losses their own evaluate reports cannot be compared with these.
            problems["*"] = "test_transform"
    for run in settings.runs:
        runs[run.name] = curves = training_curves(values, run.name, settings)
        recomputed[run.name] = fitted[run.name] = math.nan
        if test_x is None or not curves["test_epoch"]:
            problems[run.name] = "no statistics or no evaluation came back"
            continue
        try:
            final = _state(values, run.name, curves["test_epoch"][-1])
            recomputed[run.name] = loss(final, test_x, subset.test_y)
            fitted[run.name] = loss(final, train_x, subset.train_y, batch_stats=any(k.startswith("bn") for k in final))
        except (ValueError, KeyError) as exc:  # missing weights, or shapes that do not fit the lab's architecture
            problems[run.name] = f"the weights do not fit the lab's SmallCNN ({exc})"
    measured = {"train_loss": fitted, "gap": {n: recomputed[n] - fitted[n] for n in recomputed}}
    margins = {name: measured[what].get(against, math.nan) - measured[what].get(run, math.nan)
               for name, (run, against, what) in MARGINS.items()}
    return Analysis(runs, recomputed, problems, margins, settings.margin, str(values.get("device", "?")),
                    float(values.get("seconds", 0.0)), test_loss_margins=False)


def _state(values: dict, run: str, epoch: int) -> dict[str, np.ndarray]:
    """The run's weights after ``epoch`` (the lab's names); a SmallCNN without batch normalization where
    the run asked for it is taken as it is (the margin check says what that changed). Raises KeyError."""
    prefix = f"{run}/state@{epoch}/"
    normalized = any(f"{prefix}{k}" in values for k in NORM_KEYS)
    missing = [k for k in STATE_KEYS + (NORM_KEYS if normalized else ()) if f"{prefix}{k}" not in values]
    if missing:
        raise KeyError(f"after epoch {epoch} the weights lack {', '.join(missing)}")
    return {k: values[f"{prefix}{k}"] for k in STATE_KEYS + (NORM_KEYS if normalized else ())}
