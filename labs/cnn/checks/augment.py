"""Part 3: train_transform and test_transform (20 points). Every augmented view is matched with the views
the contract allows (a shift of the image padded with black, flipped or not, normalized), so any way of
writing the transform that produces them is right."""
from __future__ import annotations

import numpy as np

from grader.checks.registry import PASS, CheckList, fail
from grader.i18n import N_, _

checks = CheckList("augment")

TRAIN_CONTRACT = N_("train_transform: pad 4 black pixels, crop a random 32×32 window, flip left-right with "
                    "probability 1/2, then `ToTensor` and `Normalize(mean, std)`")


@checks.add("augment.test", points=6, title=N_("test_transform only converts and normalizes"),
            contract=N_("test_transform: `ToTensor` and `Normalize(mean, std)`, no augmentation"),
            probes=("aug.test",), location="augment.py:test_transform",
            hint=N_("The test images are never augmented: transforms.ToTensor() (values in [0, 1], channels first), "
                    "then transforms.Normalize(mean, std) with the mean and std given."))
def test_images(ctx):
    return ctx.compare("aug.test", ["image0", "image1", "image2"], what=N_("test_transform(mean, std) on an image"))


@checks.add("augment.views", points=7, title=N_("every view train_transform makes is a shifted, maybe flipped, "
            "normalized copy of the image"),
            contract=TRAIN_CONTRACT, probes=("aug.train",), location="augment.py:train_transform",
            hint=N_("transforms.RandomCrop(32, padding=4) pads with black (0) before cropping, "
                    "transforms.RandomHorizontalFlip() mirrors left and right, and ToTensor and Normalize come last, "
                    "as in test_transform."))
def views(ctx):
    got = ctx.got("aug.train")
    if got["unmatched"]:
        mistake = N_("no view matches: the pixels are not the normalized image's (is Normalize or ToTensor "
                     "missing, or the padding added after Normalize?) or the flip is not left-right") \
            if got["unmatched"] == got["draws"] else None
        return fail(_("{count} of {draws} calls of the transform gave an image that is not the image padded with 4 "
                      "black pixels, shifted by at most 4 pixels and maybe flipped left-right, then normalized").format(
                    count=int(got["unmatched"]), draws=int(got["draws"])),
                    expected="0", got=str(int(got["unmatched"])), mistake=mistake)
    return PASS


@checks.add("augment.random", points=7, title=N_("train_transform draws a new shift and flip at every call"),
            contract=N_("train_transform: every shift from -4 to +4 pixels in each direction can occur; a new random "
                        "view at each call"),
            probes=("aug.train",), location="augment.py:train_transform",
            hint=N_("Each call must draw its own shift (in both directions, -4 to +4 pixels) and its own flip (half "
                    "the time), from torch's or Python's random generator, never from a seed of your own."))
def random_views(ctx):
    got = ctx.got("aug.train")
    matched = int(got["draws"]) - int(got["unmatched"])
    if not matched:
        return fail(N_("no call of the transform gave an allowed view, so its randomness cannot be judged"))
    shifts = {"y": np.asarray(got["shift_y"]), "x": np.asarray(got["shift_x"])}
    if all(set(v.tolist()) == {0} for v in shifts.values()):
        return fail(_("in {count} calls the image was never shifted").format(count=matched),
                    mistake=N_("no padding: RandomCrop(32) of a 32×32 image always returns the whole image (use "
                               "padding=4)"))
    for axis, seen in shifts.items():
        if set(seen.tolist()) != set(range(-4, 5)):
            return fail(_("in {count} calls the shifts along {axis} were only {seen}").format(
                        count=matched, axis=axis, seen=", ".join(map(str, seen.tolist()))),
                        expected="-4 … 4", got=", ".join(map(str, seen.tolist())))
    share = int(got["flipped"]) / matched
    if not 0.3 <= share <= 0.7:
        return fail(_("{share} of the views were flipped; about half must be").format(share=f"{share:.0%}"),
                    expected="≈ 50%", got=f"{share:.0%}",
                    mistake=N_("the flip is not random: RandomHorizontalFlip() flips with probability 1/2 (p=0.5)")
                    if share in (0.0, 1.0) else None)
    return PASS
