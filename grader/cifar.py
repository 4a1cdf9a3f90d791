"""The CIFAR-10 data layer shared by the grader and the student's experiment.

Reads torchvision's on-disk format (``ROOT/cifar-10-batches-py/``) but, unlike torchvision,
accepts copies whose md5 sums differ from the official release (such as the offline JPEG
mirror built by ``shared/data/build_cifar10.py``) and reports them as unverified.

The pickles are decoded once into ``data.npy``/``targets.npy`` in a cache directory keyed by
the batch files' sizes and mtimes; later loads memory-map the cache and take milliseconds.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .i18n import _, ngettext

BATCHES_DIR = "cifar-10-batches-py"
DEFAULT_DATA_ROOT = Path("data")
ENV_VAR = "REGLAB_DATA"
# The official release, as torchvision.datasets.CIFAR10 names it (tests/test_cifar.py compares them):
# written out because importing torchvision costs the judging process seconds it otherwise never pays.
_META = "batches.meta"
# Official md5 sums, per file: the split's batches plus the meta file.
_OFFICIAL_MD5 = {
    True: {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
           "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
           "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb"},
    False: {"test_batch": "40351d587109b95175f43aff81a1287e"},
}
_META_MD5 = "5ff9c542aee3614f3951f8cda6e48888"
_CACHE_VERSION = 2  # bump when the cache layout changes: old caches are then ignored
_BUILD_SCRIPT = Path("shared", "data", "build_cifar10.py")


class CifarDataError(Exception):
    """A problem with the CIFAR-10 files; the message says which file and what to do."""


@dataclass(frozen=True)
class CifarSplit:
    """One split of a CIFAR-10 copy, as arrays laid out like torchvision's CIFAR10."""

    data: np.ndarray  # uint8 (N, 32, 32, 3), HWC; memory-mapped from the cache (in memory
    #                   only when no cache directory is writable)
    targets: np.ndarray  # int64 (N,)
    classes: tuple[str, ...]
    verified: bool  # every file's md5 matches the official release
    notice: str | None  # one line for the user when not verified
    source: Path  # the cifar-10-batches-py directory


def resolve_data_root(cli_value: str | None, environ=os.environ) -> tuple[Path, str]:
    """Return ``(root, origin)``: ``--data`` beats ``$REGLAB_DATA`` beats ``./data``."""
    if cli_value:
        return Path(cli_value).expanduser(), "--data"
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR]).expanduser(), ENV_VAR
    return DEFAULT_DATA_ROOT, "default"


def load_cifar10(root: Path, train: bool, download: bool = False) -> CifarSplit:
    """Load the training (``train=True``) or test split of the CIFAR-10 copy under ``root``.

    With ``download=True`` a missing or incomplete copy is first downloaded by torchvision
    (needs internet); a complete copy is never replaced, whatever its md5 sums.
    """
    root = Path(root)
    batches = root / BATCHES_DIR
    names = [*_OFFICIAL_MD5[train], _META]
    if download and not all((batches / n).is_file() for n in names):
        _download(root, train)
    if not batches.is_dir():
        raise CifarDataError(_not_found_message(root))
    for name in names:
        if not (batches / name).is_file():
            raise CifarDataError(_("the CIFAR-10 copy in {folder} is incomplete: {file} is missing.").format(
                folder=batches, file=name) + "\n" + _what_to_do(download=True))

    key = _cache_key(batches, names)
    split = "train" if train else "test"
    for cache in _cache_dirs(batches, f"{split}-{key}"):
        cached = _read_cache(cache, batches)
        if cached is not None:
            return cached
    data, targets, info = _decode(batches, train)
    for cache in _cache_dirs(batches, f"{split}-{key}"):
        if _write_cache(cache, data, targets, info):
            cached = _read_cache(cache, batches)
            if cached is not None:
                return cached
    # No usable cache anywhere: still correct, just decoded again next time.
    return _split(data, targets, info, batches)


class CifarDataset:
    """A CifarSplit (or the subset ``indices`` of it) as a map-style dataset of ``(image, label)``
    pairs, which a DataLoader takes as it is (no torch import here: the judging process reads CIFAR-10
    without it).

    Like torchvision's CIFAR10: ``image`` is ``transform(PIL image)`` (the PIL image itself
    when ``transform`` is None) and ``label`` a Python int.
    """

    def __init__(self, split: CifarSplit, transform=None, indices=None):
        self.split = split
        self.transform = transform
        self.indices = None if indices is None else np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.split.targets) if self.indices is None else len(self.indices)

    def __getitem__(self, i):
        j = i if self.indices is None else self.indices[i]
        img = Image.fromarray(np.asarray(self.split.data[j]))
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.split.targets[j])


def transform_all(source: CifarSplit | CifarDataset, transform,
                  indices=None) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Apply the per-image ``transform`` once to every image (or to ``indices``).

    Returns ``(images, labels)``: a float tensor (N, 3, 32, 32) and an int64 tensor (N,), to be
    held in memory in a TensorDataset: much faster than a PIL pipeline run at every epoch.
    ``indices`` count positions in ``source`` (inside a dataset's own subset, if it has one);
    a dataset's own transform is ignored in favour of ``transform``.
    """
    import torch

    if isinstance(source, CifarDataset):
        split, chosen = source.split, source.indices
    else:
        split, chosen = source, None
    if chosen is None:
        chosen = np.arange(len(split.targets))
    if indices is not None:
        chosen = chosen[np.asarray(indices, dtype=np.int64)]
    dataset = CifarDataset(split, transform, chosen)
    labels = torch.empty(len(dataset), dtype=torch.int64)
    images = None
    for i in range(len(dataset)):
        x, labels[i] = dataset[i]
        if not isinstance(x, torch.Tensor):
            raise TypeError(_("the transform must return a torch.Tensor, not {type} (did it forget "
                              "ToTensor()?)").format(type=type(x).__name__))
        if images is None:  # allocated once: no list of 50k tensors to stack
            images = torch.empty((len(dataset), *x.shape), dtype=torch.float32)
        images[i] = x
    if images is None:
        images = torch.empty((0, 3, 32, 32))
    return images, labels


# --- reading the pickles ------------------------------------------------------------------

class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR batch holds (numpy arrays, lists, strings).

    A pickle can run arbitrary code when loaded and copies come from mirrors, so any other
    object is refused.
    """

    _ALLOWED = {"_reconstruct", "_frombuffer", "ndarray", "dtype", "scalar"}

    def find_class(self, module, name):
        if (module.split(".")[0] == "numpy" and name in self._ALLOWED) or \
                (module, name) == ("_codecs", "encode"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def _read_batch(path: Path) -> tuple[dict, str]:
    """Return the unpickled dict of one batch file (keys as str) and the file's md5."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CifarDataError(_("cannot read {path}: {error}.").format(path=path, error=exc.strerror)) from None
    try:
        # latin1 decodes the official release's Python 2 pickles (as torchvision does).
        obj = _BatchUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as exc:  # truncated or foreign files fail in many ways
        raise CifarDataError(_(
            "{path} is not a readable CIFAR-10 batch file ({error}); it is probably truncated or corrupt. "
            "Rebuild or re-download the copy.").format(path=path, error=f"{type(exc).__name__}: {exc}")) from None
    if not isinstance(obj, dict):
        raise CifarDataError(_("{path} holds a {type}, not a CIFAR-10 batch (a dict). Rebuild or re-download "
                               "the copy.").format(path=path, type=type(obj).__name__))
    obj = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    return obj, hashlib.md5(raw).hexdigest()


def _batch_arrays(path: Path, batch: dict, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    data, labels = batch.get("data"), batch.get("labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CifarDataError(_("{path}: 'data' should be a uint8 array of shape (N, 3072), not {got}. "
                               "Rebuild or re-download the copy.").format(path=path, got=got))
    try:
        targets = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        targets = None
    if targets is None or targets.shape != (len(data),) or \
            (len(targets) and not 0 <= targets.min() <= targets.max() < n_classes):
        raise CifarDataError(_("{path}: 'labels' should be {n} class numbers in 0..{last}. Rebuild or "
                               "re-download the copy.").format(path=path, n=len(data), last=n_classes - 1))
    # Stored as CHW rows; torchvision's CIFAR10.data is HWC.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), targets


def _decode(batches: Path, train: bool) -> tuple[np.ndarray, np.ndarray, dict]:
    meta, meta_md5 = _read_batch(batches / _META)
    classes = meta.get("label_names")
    if not (isinstance(classes, list) and classes
            and all(isinstance(c, (str, bytes)) for c in classes)):
        raise CifarDataError(_("{path}: 'label_names' should be a list of class names. Rebuild or "
                               "re-download the copy.").format(path=batches / _META))
    classes = [c.decode() if isinstance(c, bytes) else c for c in classes]
    datas, targets, differ = [], [], []
    for name, official_md5 in _OFFICIAL_MD5[train].items():
        batch, md5 = _read_batch(batches / name)
        data, labels = _batch_arrays(batches / name, batch, len(classes))
        datas.append(data)
        targets.append(labels)
        if md5 != official_md5:
            differ.append(name)
    if meta_md5 != _META_MD5:
        differ.append(_META)
    # The cache keeps the file names, not the sentence: the notice is worded in the reader's language.
    info = {"version": _CACHE_VERSION, "classes": classes, "verified": not differ, "differ": differ}
    return np.concatenate(datas), np.concatenate(targets), info


# --- the cache ----------------------------------------------------------------------------

def _cache_key(batches: Path, names: list[str]) -> str:
    """A key that changes whenever a file is replaced or rewritten, without reading it."""
    stats = [(n, (batches / n).stat()) for n in names]
    text = f"v{_CACHE_VERSION};" + ";".join(f"{n}:{s.st_size}:{s.st_mtime_ns}" for n, s in stats)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _cache_dirs(batches: Path, name: str) -> list[Path]:
    """Where the cache may live: next to the data, else (read-only data) in ~/.cache/reglab."""
    per_copy = hashlib.sha1(str(batches.resolve()).encode()).hexdigest()[:16]
    return [batches / ".reglab-cache" / name,
            Path.home() / ".cache" / "reglab" / per_copy / name]


def _read_cache(cache: Path, batches: Path) -> CifarSplit | None:
    try:
        info = json.loads((cache / "info.json").read_text())
        data = np.load(cache / "data.npy", mmap_mode="r")
        targets = np.load(cache / "targets.npy")
    except (OSError, ValueError):  # absent, or damaged: decode again
        return None
    if info.get("version") != _CACHE_VERSION or data.shape[1:] != (32, 32, 3) or \
            data.dtype != np.uint8 or targets.shape != (len(data),):
        return None
    return _split(data, targets, info, batches)


def _write_cache(cache: Path, data: np.ndarray, targets: np.ndarray, info: dict) -> bool:
    """Write the cache into a temporary directory renamed into place: readers never see half
    a cache, and of two processes writing at once one wins. Returns False if not writable."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{cache.name}-", dir=cache.parent))
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide a shared copy's cache from other users
    except OSError:
        return False
    try:
        np.save(tmp / "data.npy", data)
        np.save(tmp / "targets.npy", targets)
        (tmp / "info.json").write_text(json.dumps(info))
        for name in ("data.npy", "targets.npy", "info.json"):  # public data, whatever umask the grader set
            (tmp / name).chmod(0o644)
        shutil.rmtree(cache, ignore_errors=True)  # a damaged cache that _read_cache refused

        os.rename(tmp, cache)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return cache.is_dir()  # another process renamed its copy first
    split = cache.name.split("-")[0]
    for stale in cache.parent.glob(f"{split}-*"):  # caches of files since replaced
        if stale != cache:
            shutil.rmtree(stale, ignore_errors=True)
    return True


def _notice(differ: list[str]) -> str | None:
    if not differ:
        return None
    return ngettext("md5 of {files} differs from the official release: using it as an unofficial copy "
                    "(e.g. the offline JPEG mirror)",
                    "md5 of {files} differ from the official release: using them as an unofficial copy "
                    "(e.g. the offline JPEG mirror)", len(differ)).format(files=", ".join(differ))


def _split(data, targets, info, batches) -> CifarSplit:
    return CifarSplit(data=data, targets=targets, classes=tuple(info["classes"]),
                      verified=info["verified"], notice=_notice(info["differ"]), source=batches)


# --- downloading, and what to tell the user -----------------------------------------------

def _download(root: Path, train: bool) -> None:
    import torchvision

    try:
        torchvision.datasets.CIFAR10(str(root), train=train, download=True)
    except OSError as exc:  # URLError, socket errors, DNS failures are all OSErrors
        raise CifarDataError(
            f"could not download CIFAR-10 into {root} ({exc}): this machine seems to be "
            "offline.\n" + _what_to_do(download=False, root=root)) from None
    except Exception as exc:
        raise CifarDataError(f"downloading CIFAR-10 into {root} failed ({exc}).\n"
                             + _what_to_do(download=False, root=root)) from None


def _not_found_message(root: Path) -> str:
    where = root / BATCHES_DIR
    if not where.is_absolute():
        where = f"{where} ({where.absolute()})"
    return _("CIFAR-10 not found: there is no directory {folder}.").format(folder=where) + "\n" + \
        _what_to_do(download=True)


ARCHIVE = "cifar-10-python.tar.gz"  # as torchvision.datasets.CIFAR10 names them (tests/test_cifar.py)
ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"


def offline_instruction(root: Path) -> str:
    """Exactly which file to put where, for a machine that cannot download."""
    return (f"  - or, on a machine without internet: copy {ARCHIVE} (from {ARCHIVE_URL}, 170,498,071 bytes, "
            f"md5 {ARCHIVE_MD5}) to {Path(root) / ARCHIVE} and run `python -m grader data` again; it is "
            f"verified and unpacked to {Path(root) / BATCHES_DIR}/")


def get(root: Path) -> list[CifarSplit]:
    """``python -m grader data``: both splits under ``root``, downloaded by torchvision when missing (or
    unpacked from an archive put there by hand, whose md5 torchvision verifies); CifarDataError says
    what to do otherwise."""
    return [load_cifar10(root, train=t, download=True) for t in (True, False)]


def _what_to_do(download: bool, root: Path | None = None) -> str:
    lines = [f"  - point to a copy: pass --data DIR or set {ENV_VAR}=DIR, where DIR contains "
             f"{BATCHES_DIR}/"]
    if root is not None:
        lines.append(offline_instruction(root))
    if download:
        lines.append("  - or get it: python -m grader data (downloads it while online; offline it says "
                     "which file to put where)")
    script = _build_script()
    if script is not None:
        lines.append("  - " + _("or build the offline copy: python {script} DIR").format(script=script))
    return _("What to do:") + "\n" + "\n".join(lines)


def _build_script() -> Path | None:
    """The offline-copy builder, as the lab's checkouts see it (../shared/...), if present."""
    checkout = Path(__file__).resolve().parent.parent
    for candidate in (Path("..") / _BUILD_SCRIPT, checkout.parent / _BUILD_SCRIPT):
        if candidate.is_file():
            return candidate
    return None
