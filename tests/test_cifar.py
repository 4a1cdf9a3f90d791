"""The CIFAR-10 data layer (grader/cifar.py), on small fixture copies written into tmp_path."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import transforms

from grader import cifar
from grader.cifar import (CifarDataError, CifarDataset, load_cifar10, resolve_data_root,
                          transform_all)
from grader.cifar_fixture import CLASSES, write_fixture

REPO = Path(__file__).resolve().parents[1]
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a fallback cache must not leak out
    return write_fixture(tmp_path / "cifar", n_train=60, n_test=30)


def written(root, names):
    """What the fixture wrote, read back with plain pickle: images HWC, labels."""
    batches = [pickle.loads((root / "cifar-10-batches-py" / n).read_bytes()) for n in names]
    data = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
    return data.transpose(0, 2, 3, 1), np.concatenate([b["labels"] for b in batches])


def test_fixture_round_trip(root):
    for train, names, n in ((True, TRAIN_FILES, 60), (False, ["test_batch"], 30)):
        split = load_cifar10(root, train=train)
        images, labels = written(root, names)
        assert split.data.shape == (n, 32, 32, 3) and split.data.dtype == np.uint8
        assert split.targets.shape == (n,) and split.targets.dtype == np.int64
        np.testing.assert_array_equal(split.data, images)
        np.testing.assert_array_equal(split.targets, labels)
        assert split.classes == CLASSES
        assert split.source == root / "cifar-10-batches-py"


def test_fixture_is_deterministic_with_distinct_channels(tmp_path):
    a = load_cifar10(write_fixture(tmp_path / "a", n_train=100, n_test=10), train=True)
    b = load_cifar10(write_fixture(tmp_path / "b", n_train=100, n_test=10), train=True)
    np.testing.assert_array_equal(a.data, b.data)
    pixels = a.data.reshape(-1, 3) / 255
    means, stds = pixels.mean(axis=0), pixels.std(axis=0)
    assert min(abs(means[i] - means[j]) for i, j in ((0, 1), (0, 2), (1, 2))) > 0.05
    assert min(abs(stds[i] - stds[j]) for i, j in ((0, 1), (0, 2), (1, 2))) > 0.02


def test_unofficial_copy_is_accepted_with_a_notice(root):
    split = load_cifar10(root, train=True)
    assert split.verified is False
    assert "data_batch_1" in split.notice and "official release" in split.notice
    assert "\n" not in split.notice


@pytest.mark.parametrize("official", [("test_batch", "batches.meta"), ("test_batch",)])
def test_verified_only_when_every_md5_is_official(root, monkeypatch, official):
    """Pretend the fixture's own md5 sums are the official ones, for some files."""
    batches = root / "cifar-10-batches-py"
    md5 = {n: cifar.hashlib.md5((batches / n).read_bytes()).hexdigest() for n in official}
    monkeypatch.setitem(cifar._OFFICIAL_MD5, False, {"test_batch": md5["test_batch"]})
    monkeypatch.setattr(cifar, "_META_MD5", md5.get("batches.meta", "0" * 32))
    split = load_cifar10(root, train=False)
    if len(official) == 2:
        assert split.verified is True and split.notice is None
    else:
        assert split.verified is False and split.notice.startswith("md5 of batches.meta differs")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_shape"])
def test_damaged_batch_names_the_file(root, damage):
    path = root / "cifar-10-batches-py" / "data_batch_3"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "garbage":
        path.write_bytes(b"<html>404 Not Found</html>")
    else:
        batch = pickle.loads(path.read_bytes())
        batch["data"] = batch["data"][:, :1024]
        path.write_bytes(pickle.dumps(batch))
    with pytest.raises(CifarDataError, match="data_batch_3"):
        load_cifar10(root, train=True)
    load_cifar10(root, train=False)  # the test split does not need that file


def test_foreign_pickle_objects_are_refused(root):
    path = root / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({"data": os.system}))  # a pickle may name any callable
    with pytest.raises(CifarDataError, match="test_batch"):
        load_cifar10(root, train=False)


def test_missing_file_is_named(root):
    (root / "cifar-10-batches-py" / "data_batch_5").unlink()
    with pytest.raises(CifarDataError, match="data_batch_5 is missing"):
        load_cifar10(root, train=True)


def test_missing_root_says_what_to_do(tmp_path):
    with pytest.raises(CifarDataError) as info:
        load_cifar10(tmp_path / "nowhere", train=True)
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message
    for advice in ("--data DIR", "REGLAB_DATA", "python -m grader data"):
        assert advice in message
    if (REPO.parent / "shared" / "data" / "build_cifar10.py").is_file():
        assert "build_cifar10.py DIR" in message


def test_failed_download_says_offline(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(CifarDataError, match="offline"):
        load_cifar10(tmp_path / "nowhere", train=True, download=True)


def test_second_load_hits_the_cache(root, monkeypatch):
    first = load_cifar10(root, train=True)
    caches = list((root / "cifar-10-batches-py" / ".reglab-cache").glob("train-*"))
    assert len(caches) == 1
    assert {p.name for p in caches[0].iterdir()} == {"data.npy", "targets.npy", "info.json"}

    def no_pickles(path):
        raise AssertionError(f"re-read {path} despite the cache")
    monkeypatch.setattr(cifar, "_read_batch", no_pickles)
    second = load_cifar10(root, train=True)
    assert isinstance(second.data, np.memmap)
    np.testing.assert_array_equal(second.data, first.data)
    np.testing.assert_array_equal(second.targets, first.targets)
    assert (second.verified, second.notice) == (first.verified, first.notice)


def test_rewritten_files_invalidate_the_cache(root):
    load_cifar10(root, train=False)
    write_fixture(root, n_train=60, n_test=40, seed=1)
    split = load_cifar10(root, train=False)
    assert len(split.targets) == 40
    images, _ = written(root, ["test_batch"])
    np.testing.assert_array_equal(split.data, images)
    caches = list((root / "cifar-10-batches-py" / ".reglab-cache").glob("test-*"))
    assert len(caches) == 1  # the stale cache was removed


def test_damaged_cache_is_rebuilt(root):
    load_cifar10(root, train=False)
    (cache,) = (root / "cifar-10-batches-py" / ".reglab-cache").glob("test-*")
    (cache / "data.npy").write_bytes(b"oops")
    split = load_cifar10(root, train=False)
    np.testing.assert_array_equal(split.data, written(root, ["test_batch"])[0])


def test_unwritable_root_caches_in_home(root, tmp_path):
    (root / "cifar-10-batches-py" / ".reglab-cache").write_text("")  # mkdir there fails
    split = load_cifar10(root, train=False)
    assert isinstance(split.data, np.memmap)
    assert list((tmp_path / "home" / ".cache" / "reglab").glob("*/test-*/data.npy"))


def test_official_names_and_sums_are_torchvisions():
    """cifar.py writes them out (importing torchvision would cost the judging process seconds)."""
    import torchvision

    official = torchvision.datasets.CIFAR10
    assert cifar._OFFICIAL_MD5 == {True: dict(official.train_list), False: dict(official.test_list)}
    assert (cifar._META, cifar._META_MD5) == (official.meta["filename"], official.meta["md5"])
    assert (cifar.ARCHIVE, cifar.ARCHIVE_URL, cifar.ARCHIVE_MD5) == (official.filename, official.url, official.tgz_md5)


def test_reading_cifar_imports_no_torch(root):
    code = (f"import sys; from grader.cifar import load_cifar10; load_cifar10({str(root)!r}, train=False); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_resolve_data_root_precedence():
    assert resolve_data_root("cli", {"REGLAB_DATA": "env"}) == (Path("cli"), "--data")
    assert resolve_data_root(None, {"REGLAB_DATA": "env"}) == (Path("env"), "REGLAB_DATA")
    assert resolve_data_root(None, {"REGLAB_DATA": ""}) == (Path("data"), "default")
    assert resolve_data_root(None, {}) == (cifar.DEFAULT_DATA_ROOT, "default")


def test_dataset_matches_torchvision_conventions(root):
    split = load_cifar10(root, train=False)
    plain = CifarDataset(split)
    img, label = plain[3]
    assert img.size == (32, 32) and img.mode == "RGB"
    assert isinstance(label, int) and label == split.targets[3]
    np.testing.assert_array_equal(np.asarray(img), split.data[3])

    subset = CifarDataset(split, transforms.ToTensor(), indices=[5, 7])
    assert len(plain) == 30 and len(subset) == 2
    x, label = subset[1]
    assert x.shape == (3, 32, 32) and label == split.targets[7]
    torch.testing.assert_close(x, torch.from_numpy(split.data[7].copy()).permute(2, 0, 1) / 255)


def test_transform_all(root):
    split = load_cifar10(root, train=True)
    images, labels = transform_all(split, transforms.ToTensor())
    assert images.shape == (60, 3, 32, 32) and images.dtype == torch.float32
    assert labels.dtype == torch.int64
    np.testing.assert_array_equal(labels.numpy(), split.targets)
    expected = torch.from_numpy(split.data.copy()).permute(0, 3, 1, 2) / 255
    torch.testing.assert_close(images, expected)

    subset = CifarDataset(split, indices=[10, 20, 30])
    images, labels = transform_all(subset, transforms.ToTensor(), indices=[2, 0])
    torch.testing.assert_close(images, expected[[30, 10]])
    np.testing.assert_array_equal(labels.numpy(), split.targets[[30, 10]])

    with pytest.raises(TypeError, match="ToTensor"):
        transform_all(split, lambda img: img)


@pytest.mark.realdata
def test_real_copy():
    env = os.environ.get("REGLAB_DATA")
    root = Path(env) if env else REPO / "data"
    if not (root / "cifar-10-batches-py").is_dir():
        pytest.skip(f"no real CIFAR-10 copy in {root}: build one with "
                    "`python ../shared/data/build_cifar10.py data` or set REGLAB_DATA")
    train, test = load_cifar10(root, train=True), load_cifar10(root, train=False)
    assert train.data.shape == (50000, 32, 32, 3) and len(train.targets) == 50000
    assert test.data.shape == (10000, 32, 32, 3) and len(test.targets) == 10000
    assert np.bincount(train.targets).tolist() == [5000] * 10
    assert train.classes[0] == "airplane" and train.classes[-1] == "truck"
    assert train.verified is False and train.notice  # the offline copy is JPEG-compressed
    means = train.data.reshape(-1, 3).mean(axis=0, dtype=np.float64) / 255
    np.testing.assert_allclose(means, [0.4912, 0.4821, 0.4465], atol=1e-3)
