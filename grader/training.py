"""A training check's trusted side, as every lab's is: its settings, the CIFAR-10 subset it hands the
worker (picked from the copy at ``data``, or shipped with the packaged expected data), and its analysis
as data. What the runs are and how their final test loss is recomputed from the weights the worker
returns (so that reported curves cannot be invented) is the lab's: ``labs/<lab>/training.py``.
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .lab import current


@dataclass(frozen=True)
class Run:
    """One training run: its name and what the lab's training probe is told to vary (``lmbd=1.0``)."""
    name: str
    options: tuple[tuple[str, float | bool], ...] = ()

    @classmethod
    def of(cls, name: str, **options: float | bool) -> "Run":
        return cls(name, tuple(options.items()))

    def __getitem__(self, option: str) -> float | bool:
        return dict(self.options)[option]


@dataclass(frozen=True)
class Settings:
    n_train: int = 1000
    n_test: int = 2000
    epochs: int = 40
    eval_every: int = 5        # test-set evaluations (for the curves): every 5th epoch and the last
    batch_size: int = 128
    lr: float = 1.0
    seed: int = 0
    subset_seed: int = 0
    margin: float = 0.05       # a run's final test loss must sit this far below the baseline's
    runs: tuple[Run, ...] = ()  # the lab's; the first is the baseline the others are measured against
    timeout: float = 600.0     # seconds for the whole training probe

    def params(self, data: Path, device: str, threads: int) -> dict:
        return {"data": str(data), "runs": [{"name": r.name, **dict(r.options)} for r in self.runs], "epochs": self.epochs,
                "eval_every": self.eval_every, "batch_size": self.batch_size, "lr": self.lr, "seed": self.seed, "device": device,
                "threads": threads}


def lab_settings() -> Settings:
    """The lab's training settings (the defaults, with no runs, for a lab without a training check)."""
    lab = current()
    return lab.training_check().SETTINGS if lab.training else Settings()


@dataclass(frozen=True)
class Subset:
    train_x: np.ndarray  # uint8 (N, 32, 32, 3)
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    notice: str | None   # e.g. "an unofficial copy (md5 differs)"

    def write(self, folder: Path) -> Path:
        path = folder / "experiment-data.npz"
        np.savez(path, train_x=self.train_x, train_y=self.train_y, test_x=self.test_x, test_y=self.test_y)
        return path


def load_subset(root: Path, settings: Settings) -> Subset:
    """A fixed, class-balanced-by-chance subset of CIFAR-10 (raises cifar.CifarDataError)."""
    from .cifar import load_cifar10

    train, test = load_cifar10(root, train=True), load_cifar10(root, train=False)
    rng = np.random.default_rng(settings.subset_seed)
    n_train, n_test = min(settings.n_train, len(train.targets)), min(settings.n_test, len(test.targets))
    i = np.sort(rng.choice(len(train.targets), n_train, replace=False))
    j = np.sort(rng.choice(len(test.targets), n_test, replace=False))
    return Subset(np.asarray(train.data[i]), np.asarray(train.targets[i]), np.asarray(test.data[j]),
                  np.asarray(test.targets[j]), train.notice)


SUBSET_FILE = "training-subset.npz"  # shipped beside the packaged expected data


def package_subset(subset: Subset, settings: Settings, folder: Path) -> dict:
    """Write the subset compressed into ``folder`` (a release's or the autograder's packaged data, so
    grading needs no download); returns the manifest entry that identifies and checks it."""
    path = folder / SUBSET_FILE
    np.savez_compressed(path, train_x=subset.train_x, train_y=subset.train_y.astype(np.uint8),
                        test_x=subset.test_x, test_y=subset.test_y.astype(np.uint8))
    return {"file": SUBSET_FILE, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "n_train": settings.n_train, "n_test": settings.n_test, "subset_seed": settings.subset_seed}


def _packaged(folder: Path, entry: dict, settings: Settings) -> Subset | None:
    """The shipped subset, when it is the one these settings pick (raises CifarDataError when damaged)."""
    from .cifar import CifarDataError

    if (entry.get("n_train"), entry.get("n_test"), entry.get("subset_seed")) != \
            (settings.n_train, settings.n_test, settings.subset_seed):
        return None
    path = folder / str(entry.get("file", SUBSET_FILE))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CifarDataError(f"the training check's packaged images {path} cannot be read ({exc})") from None
    if hashlib.sha256(raw).hexdigest() != entry.get("sha256"):
        raise CifarDataError(f"the training check's packaged images {path} are damaged (checksum differs)")
    with np.load(path) as z:
        return Subset(z["train_x"], z["train_y"].astype(np.int64), z["test_x"], z["test_y"].astype(np.int64), None)


def subset_for(config, settings: Settings) -> Subset:
    """The training check's images: those shipped with the packaged expected data (a student release,
    the Gradescope autograder), else picked from the CIFAR-10 copy at ``config.paths.data``."""
    from .packaged import read_manifest

    entry = read_manifest(config).get("training_subset")
    packaged = _packaged(config.paths.expected.parent, entry, settings) if isinstance(entry, dict) else None
    return packaged if packaged is not None else load_subset(config.paths.data, settings)


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="reglab-train-", dir=os.environ.get("TMPDIR")))


def curves(values: dict, run: str, settings: Settings) -> dict[str, list]:
    """A run's curves as the training probe reported them (shown, never judged): ``train_loss`` per epoch,
    ``test_loss`` and ``test_acc`` per evaluation, and the epochs evaluated (those in range only)."""
    out = {k: [float(v) for v in np.asarray(values.get(f"{run}/{k}", []), np.float64).reshape(-1)]
           for k in ("train_loss", "test_loss", "test_acc")}
    epochs = np.asarray(values.get(f"{run}/test_epoch", []), np.float64).reshape(-1)
    out["test_epoch"] = [int(e) for e in epochs if math.isfinite(e) and 1 <= e <= settings.epochs]
    return out


@dataclass(frozen=True)
class Analysis:
    """The training probe's results, checked here: curves as reported, final test losses recomputed."""

    runs: dict[str, dict[str, list[float]]]  # run -> train_loss per epoch; test_epoch / test_loss / test_acc
                                             # per evaluation
    recomputed: dict[str, float]             # run -> final test loss from its final weights (NaN: impossible)
    problems: dict[str, str]                 # run -> why it could not be recomputed
    margins: dict[str, float]                # run -> the baseline's recomputed final loss minus the run's
    threshold: float
    device: str
    seconds: float
    # Each margin is the baseline's final test loss minus its run's (the report draws it so); a lab whose
    # margins measure something else (labs/cnn: a training loss, a gap) says False.
    test_loss_margins: bool = True

    def to_extra(self) -> dict:
        """The report's view (plain JSON; NaN as None)."""
        clean = lambda v: v if math.isfinite(v) else None  # noqa: E731
        return {"device": self.device, "threshold": self.threshold, "seconds": round(self.seconds, 2),
                "test_loss_margins": self.test_loss_margins,
                "runs": {name: {"train_loss": [clean(v) for v in run["train_loss"]],
                                "test_epoch": run["test_epoch"],
                                "test_loss": [clean(v) for v in run["test_loss"]],
                                "test_acc": [clean(v) for v in run["test_acc"]],
                                "final_test_loss": clean(self.recomputed.get(name, math.nan))}
                         for name, run in self.runs.items()},
                "margins": {k: clean(v) for k, v in self.margins.items()}}
