"""Part 3: channel_stats, normalize_transform, make_loaders (20 points)."""
from __future__ import annotations

import numpy as np

from .registry import PASS, CheckList, fail

checks = CheckList("data")

STATS = ("data.stats_a", "data.stats_b")


@checks.add("data.stats_mean", points=4, title="channel_stats: per-channel mean in [0, 1]", probes=STATS,
            location="data.py:channel_stats",
            hint="images is uint8 (N, 32, 32, 3): divide by 255, then average over all images and pixels for "
                 "each of the 3 channels (the last axis).")
def stats_mean(ctx):
    for probe in STATS:
        verdict = ctx.compare(probe, ["mean"], what="the mean", rtol=1e-4, atol=1e-6)
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("data.stats_std", points=4, title="channel_stats: per-channel population std over all pixels",
            probes=STATS, location="data.py:channel_stats",
            hint="One std per channel over all images and pixels together (not per image), on the [0, 1] scale.")
def stats_std(ctx):
    # rtol 1e-3 also accepts the sample std (ddof=1): on thousands of pixels it differs by < 1e-4.
    for probe in STATS:
        verdict = ctx.compare(probe, ["std"], what="the std", rtol=1e-3, atol=1e-6)
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("data.normalize", points=5, title="normalize_transform: PIL image → (3, 32, 32) float tensor, "
            "(x/255 - mean) / std", probes=("data.normalize",), location="data.py:normalize_transform",
            hint="transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)]) does both steps.")
def normalize(ctx):
    got = ctx.got("data.normalize")
    if got["out"].shape[1:] == (32, 32, 3):
        return fail("the transform returns (32, 32, 3): channels must come first", expected="(3, 32, 32)",
                    got=str(got["out"].shape[1:]), mistake="channels last: ToTensor puts the channels first")
    if "float" not in got["dtype"]:
        return fail(f"the transform returns {got['type']} with dtype {got['dtype'] or 'none'}", expected="a float tensor")
    return ctx.compare("data.normalize", ["out"], what="the normalized image")


def _present(ids: np.ndarray, n: int) -> bool:
    return ids.size == n and np.array_equal(np.sort(ids), np.arange(n))


@checks.add("data.loader_batches", points=3, title="make_loaders: the batch size asked for, no sample dropped",
            probes=("data.loaders", "data.loaders_default"), location="data.py:make_loaders",
            hint="DataLoader(dataset, batch_size=batch_size, ...) for both loaders; keep drop_last=False.")
def loader_batches(ctx):
    for probe, (n_train, n_test), asked in (("data.loaders", (50, 23), "batch_size=16"),
                                            ("data.loaders_default", (300, 130), "the default batch size")):
        got, want = ctx.got(probe), ctx.want(probe)
        for key, n in (("train1" if probe == "data.loaders" else "train", n_train),
                       ("test1" if probe == "data.loaders" else "test", n_test)):
            sizes, ids = got[f"{key}/sizes"], got[f"{key}/ids"]
            if ids.size < n:
                return fail(f"the {key.rstrip('12')} loader yields {ids.size} of {n} samples with {asked}",
                            expected=n, got=int(ids.size), mistake="samples are dropped (drop_last=True?): "
                                                                    "every sample must be used")
            if not np.array_equal(sizes, want[f"{key}/sizes"]):
                return fail(f"batch sizes of the {key.rstrip('12')} loader with {asked}",
                            expected=want[f"{key}/sizes"], got=sizes,
                            mistake="the batch size is not the one passed in (hard-coded?)")
            if not _present(ids, n):
                return fail(f"the {key.rstrip('12')} loader does not yield every sample exactly once")
    return PASS


@checks.add("data.train_shuffle", points=2, title="make_loaders: the training loader reshuffles every epoch",
            probes=("data.loaders",), location="data.py:make_loaders", hint="DataLoader(train_set, ..., shuffle=True).")
def train_shuffle(ctx):
    got = ctx.got("data.loaders")
    first, second = got["train1/ids"], got["train2/ids"]
    if np.array_equal(first, np.arange(first.size)) or np.array_equal(first, second):
        return fail("the training loader gives the same order " +
                    ("as the dataset" if np.array_equal(first, np.arange(first.size)) else "in two epochs"),
                    mistake="the training loader is not shuffled (shuffle=True, reshuffled at each epoch)")
    return PASS


@checks.add("data.test_order", points=2, title="make_loaders: the test loader keeps the dataset's order",
            probes=("data.loaders",), location="data.py:make_loaders", hint="DataLoader(test_set, ..., shuffle=False).")
def test_order(ctx):
    got = ctx.got("data.loaders")
    for key in ("test1/ids", "test2/ids"):
        if not np.array_equal(got[key], np.arange(23)):
            return fail("the test loader does not keep the dataset's order", expected=np.arange(23), got=got[key],
                        mistake="the test loader is shuffled: keep shuffle=False for evaluation")
    return PASS
