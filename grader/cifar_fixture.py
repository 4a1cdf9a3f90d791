"""A small, seeded stand-in for CIFAR-10, in the same on-disk format, for tests and benchmarks.

Each class has a fixed random prototype image; each sample blends its class's prototype with
strong per-sample noise. An MLP picks up the classes a little from a few hundred samples but,
trained long enough, memorizes the noise: the test loss falls, then rises — the overfitting the
lab is about. With the defaults and the lab's settings (SGD lr 1, batch 128) on normalized
inputs, the test loss bottoms out near epoch 19 (about 43% accuracy) and rises from there; on
raw [0, 1] inputs the MLP stays near chance for 70 epochs of 4 steps, as it does on a
500-image subset of the real data. The channels have different means and stds, so that
normalization matters and a channel mix-up shows.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
MEAN = np.array([0.60, 0.45, 0.30], dtype=np.float32)  # R, G, B
STD = np.array([0.15, 0.22, 0.28], dtype=np.float32)
# A sample is PROTO * class prototype + SMOOTH * its own smooth pattern + WHITE * pixel noise
# (unit-variance parts, squared weights summing to 1). Prototypes and smooth patterns are
# blocky (GRID x GRID cells), like the low-frequency content that separates real classes;
# the smooth per-sample part makes the classes overlap, the white part is what gets memorized.
GRID = 4
PROTO, SMOOTH = 0.2, 0.8
WHITE = (1 - PROTO ** 2 - SMOOTH ** 2) ** 0.5


def write_fixture(root: Path, n_train: int = 500, n_test: int = 200, seed: int = 0) -> Path:
    """Write ``root/cifar-10-batches-py/`` (5 train batches, test_batch, batches.meta).

    Returns ``root``, ready for ``load_cifar10(root, ...)``. Same arguments, same files.
    """
    root = Path(root)
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    prototypes = _blocky(rng, len(CLASSES))
    sizes = [len(part) for part in np.array_split(np.arange(n_train), 5)]
    for i, size in enumerate(sizes, start=1):
        _dump(batches / f"data_batch_{i}", _batch(rng, prototypes, size,
                                                  f"training batch {i} of 5"))
    _dump(batches / "test_batch", _batch(rng, prototypes, n_test, "testing batch 1 of 1"))
    _dump(batches / "batches.meta", {"num_cases_per_batch": max(sizes),
                                     "label_names": list(CLASSES), "num_vis": 3072})
    return root


def _batch(rng, prototypes, n, label):
    labels = rng.permutation(np.arange(n) % len(CLASSES))  # balanced classes, shuffled
    z = PROTO * prototypes[labels] + SMOOTH * _blocky(rng, n) \
        + WHITE * rng.standard_normal((n, 32, 32, 3), dtype=np.float32)
    pixels = np.clip(np.rint((MEAN + STD * z) * 255), 0, 255).astype(np.uint8)
    return {"batch_label": label,
            "labels": labels.tolist(),
            "data": pixels.transpose(0, 3, 1, 2).reshape(n, -1),  # stored CHW, as CIFAR-10 is
            "filenames": [f"fixture_{label.split()[0]}_{i:05d}.png" for i in range(n)]}


def _blocky(rng, n):
    cells = rng.standard_normal((n, GRID, GRID, 3), dtype=np.float32)
    return cells.repeat(32 // GRID, axis=1).repeat(32 // GRID, axis=2)


def _dump(path, obj):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)  # the official release's protocol
