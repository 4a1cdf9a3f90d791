"""Part 3: channel_stats, normalize_transform, make_loaders (20 points)."""
from __future__ import annotations

import numpy as np

from grader.checks.registry import PASS, CheckList, fail
from grader.i18n import N_, _

checks = CheckList("data")

STATS = ("data.stats_a", "data.stats_b", "data.stats_many")


@checks.add("data.stats_mean", points=4, title=N_("channel_stats: per-channel mean in [0, 1]"), contract=N_('channel_stats: per-channel mean and population std over all images at once, on the [0,1] scale'),
            probes=STATS,
            location="data.py:channel_stats",
            hint=N_("One mean per colour channel (the last axis of (N, 32, 32, 3)), over every pixel of every image "
                 "at once, on the [0, 1] scale (handout slide \"Normalization\", step 1). Averaging the means of "
                 "chunks of different sizes is not the same."))
def stats_mean(ctx):
    for probe in STATS:
        verdict = ctx.compare(probe, ["mean"], what=N_("the mean"), rtol=1e-4, atol=1e-6)
        if not verdict.passed:
            return _precision(verdict, ctx.got(probe)["mean"], ctx.want(probe)["mean"])
    return PASS


# Off by less than this (relative), and more than the check's tolerance: the size of float32 rounding.
# Every mistake the grader knows moves the statistics by 0.4% or more (/256 instead of /255: 0.39%;
# batch means on the probe's images: 3% and more).
PRECISION = 2e-3


def _precision(verdict, got, want):
    """The failing verdict, its message saying so when the difference is precision-sized."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.isfinite(got).all():
        return verdict
    rel = float(np.max(np.abs(got - want) / np.abs(want)))
    if rel >= PRECISION:
        return verdict
    note = _("off by {rel} relative, the size of float32 rounding: sums of float32 values over hundreds of "
             "thousands of pixels lose digits (over CIFAR-10's 50,000 images a float32 mean can be off by a third). "
             "Compute the statistics in float64").format(rel=f"{rel:.2g}")
    return fail(f"{verdict.message} — {note}", expected=verdict.expected, got=verdict.got, mistake=verdict.mistake)


@checks.add("data.stats_std", points=4, title=N_("channel_stats: per-channel population std over all pixels"),
            contract=N_('channel_stats: per-channel mean and population std over all images at once, on the [0,1] scale'),
            probes=STATS, location="data.py:channel_stats",
            hint=N_("One standard deviation per channel over all images and pixels together (not per image or per "
                 "chunk), on the [0, 1] scale (handout slide \"Normalization\", step 2)."))
def stats_std(ctx):
    # rtol 1e-3 also accepts the sample std (ddof=1): on thousands of pixels it differs by < 1e-4.
    for probe in STATS:
        verdict = ctx.compare(probe, ["std"], what=N_("the std"), rtol=1e-3, atol=1e-6)
        if not verdict.passed:
            return _precision(verdict, ctx.got(probe)["std"], ctx.want(probe)["std"])
    return PASS


@checks.add("data.normalize", points=5, title=N_("normalize_transform: PIL image → (3, 32, 32) float tensor, "
            "(x/255 - mean) / std"), contract=N_('normalize_transform: PIL image → floating-point `torch.Tensor` (3,32,32): `(x/255 - mean) / std` per channel'),
            probes=("data.normalize",), location="data.py:normalize_transform",
            hint=N_("Two steps, as on the handout slide \"torchvision.transforms.Normalize\": the image becomes a "
                 "channels-first tensor of fractions, then each channel is standardized with its mean and std."))
def normalize(ctx):
    got = ctx.got("data.normalize")
    if got["out"].shape[1:] == (32, 32, 3):
        return fail(N_("the transform returns (32, 32, 3): channels must come first"), expected="(3, 32, 32)",
                    got=str(got["out"].shape[1:]), mistake=N_("channels last: ToTensor puts the channels first"))
    if not got["tensor"] or not got["floating"]:
        message = _("the transform returns {type}, not a torch tensor") if not got["tensor"] else \
            _("the transform returns {type} of whole numbers")
        return fail(message.format(type=got["type"]), expected=_("a floating-point torch tensor"),
                    mistake=N_("the transform must return a float torch tensor (what ToTensor and Normalize give)"))
    return ctx.compare("data.normalize", ["out"], what=N_("the normalized image"))


def _present(ids: np.ndarray, n: int) -> bool:
    return ids.size == n and np.array_equal(np.sort(ids), np.arange(n))


@checks.add("data.loader_batches", points=3, title=N_("make_loaders: the batch size asked for, no sample dropped"),
            contract=N_('make_loaders: DataLoaders over `train_set` and `test_set`, both with batches of `batch_size` (the last may be smaller)'),
            probes=("data.loaders", "data.loaders_default"), location="data.py:make_loaders",
            hint=N_("Both loaders use the batch size they are given (128 when none is given) and yield every sample; "
                 "only the last batch may be smaller (handout slide \"전체 코드 1/3\")."))
def loader_batches(ctx):
    wrong_default = ctx.defaults("data.loaders_default", "make_loaders")
    if wrong_default:
        return wrong_default
    loaders = [(probe, key, n, other, asked) for probe, split, asked in LOADERS
               for key, n, other in split]
    for probe, key, n, other, asked in loaders:
        got, want = ctx.got(probe), ctx.want(probe)
        sizes, ids = got[f"{key}/sizes"], got[f"{key}/ids"]
        loader = key.rstrip("12")
        if ids.size != n:
            # Which mistake only when the evidence singles it out: the other set's samples exactly,
            # or every sample but a last partial batch.
            mistake = N_("the test loader is built on the training set") if loader == "test" and _present(ids, other) \
                else N_("the training loader is built on the test set") if _present(ids, other) \
                else N_("samples are dropped (drop_last=True?): every sample must be used") \
                if ids.size < n and len(set(sizes.tolist())) == 1 and n - ids.size < sizes[0] else None
            return fail(_("the {loader} loader yields {got} samples; its dataset has {n} ({asked})").format(
                        loader=loader, got=ids.size, n=n, asked=_(asked)), expected=n, got=int(ids.size), mistake=mistake)
        if not np.array_equal(sizes, want[f"{key}/sizes"]):
            return fail(_("batch sizes of the {loader} loader with {asked}").format(loader=loader, asked=_(asked)),
                        expected=want[f"{key}/sizes"], got=sizes,
                        mistake=N_("the batch size is not the one passed in: it is hard-coded") if _one_batch_size(
                            ctx, loaders) else None)
        if not _present(ids, n):
            return fail(_("the {loader} loader does not yield every sample exactly once").format(loader=loader))
    return PASS


# (probe, ((loader key, its dataset's size, the other dataset's size), ...), the batch size asked for)
LOADERS = (("data.loaders", (("train1", 50, 23), ("test1", 23, 50)), "batch_size=16"),
           ("data.loaders_default", (("train", 300, 130), ("test", 130, 300)), N_("the default batch size")))


def _one_batch_size(ctx, loaders) -> bool:
    """Whether every loader of both probes cuts its samples into batches of one same size, whatever
    size was asked for (the evidence of a hard-coded batch size)."""
    batch = max(int(ctx.got(probe)[f"{key}/sizes"].max(initial=0)) for probe, key, *_rest in loaders)
    for probe, key, n, _other, _asked in loaders:
        sizes = ctx.got(probe)[f"{key}/sizes"].tolist()
        if batch == 0 or sizes != [batch] * (n // batch) + ([n % batch] if n % batch else []):
            return False
    return True


SETUPS = (("", N_("on a CPU-only machine")), ("cuda/", N_("when torch.cuda.is_available() is True")))


@checks.add("data.train_shuffle", points=2, title=N_("make_loaders: the training loader reshuffles every epoch"),
            contract=N_('make_loaders: train reshuffled every epoch'),
            probes=("data.loaders",), location="data.py:make_loaders",
            hint=N_("SGD wants the training samples in a new random order at every epoch, on any machine; the "
                 "handout's own loader forgets this (slide \"전체 코드 1/3\")."))
def train_shuffle(ctx):
    got = ctx.got("data.loaders")
    for tag, where in SETUPS:
        first, second = got[f"{tag}train1/ids"], got[f"{tag}train2/ids"]
        if np.array_equal(first, np.arange(first.size)) or np.array_equal(first, second):
            same = _("the training loader gives the same order as the dataset {where}") \
                if np.array_equal(first, np.arange(first.size)) else \
                _("the training loader gives the same order in two epochs {where}")
            return fail(same.format(where=_(where)),
                        mistake=N_("the training loader is not shuffled (it must be reshuffled at each epoch, "
                                "whatever the device)"))
    return PASS


@checks.add("data.test_order", points=2, title=N_("make_loaders: the test loader keeps the dataset's order"),
            contract=N_('make_loaders: test in order'),
            probes=("data.loaders",), location="data.py:make_loaders",
            hint=N_("Evaluation needs no randomness: the test loader yields the samples in the dataset's order, on "
                 "any machine (a GPU included)."))
def test_order(ctx):
    got = ctx.got("data.loaders")
    for tag, where in SETUPS:
        for key in (f"{tag}test1/ids", f"{tag}test2/ids"):
            if not _present(got[key], 23):  # not the test set's samples: loader_batches says what they are
                return fail(_("the test loader does not yield the test set's samples {where}").format(where=_(where)),
                            expected=np.arange(23), got=got[key])
            if not np.array_equal(got[key], np.arange(23)):
                return fail(_("the test loader does not keep the dataset's order {where}").format(where=_(where)), expected=np.arange(23),
                            got=got[key], mistake=N_("the test loader is shuffled: evaluation keeps the order"))
    return PASS
