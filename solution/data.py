"""Part 3 — input normalization and data loaders (handout, section 4: "Normalization")."""
import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision import transforms


def channel_stats(images):
    """Return ``(mean, std)``: per-channel statistics of a set of CIFAR-10 images.

    - ``images``: a uint8 NumPy array of shape (N, 32, 32, 3) — height, width, then the
      channels R, G, B — like ``torchvision.datasets.CIFAR10(...).data``.
    - Scale the pixels to [0, 1] first (divide by 255), then compute, for each channel, the mean
      and the population standard deviation over *all* images and pixels together
      (not per image).
    - Any number of images (thousands, too): the statistics are over all of them at once, so
      averaging the means of chunks of different sizes is not the same.
    - Return two sequences of 3 floats each, in the order (R, G, B) (Python floats, or NumPy
      floats: ``numpy.float64`` is a subclass of ``float``), accurate to 1e-4 relative: compute
      in float64 (NumPy sums float32 values over a channel's pixels one at a time and loses
      digits: over CIFAR-10's 50,000 images a float32 mean can be off by a third).

    Handout slide: "Normalization" (1. subtract mean μ, 2. normalize variance σ²).
    """
    # BEGIN SOLUTION
    pixels = np.asarray(images, dtype=np.float64).reshape(-1, 3) / 255.0
    return tuple(pixels.mean(axis=0).tolist()), tuple(pixels.std(axis=0).tolist())
    # END SOLUTION


def normalize_transform(mean, std):
    """Return a transform that turns one PIL image into a normalized float tensor (3, 32, 32).

    The transform scales the pixels to [0, 1] with channels first (what ``ToTensor`` does) and
    then computes ``(x - mean[c]) / std[c]`` for each channel c (what ``Normalize`` does).
    ``mean`` and ``std`` are 3 numbers each, e.g. from ``channel_stats``. The transform returns a
    floating-point ``torch.Tensor`` (a NumPy array is not one).

    Handout slide: "torchvision.transforms.Normalize".
    """
    # BEGIN SOLUTION
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    # END SOLUTION


def make_loaders(train_set, test_set, batch_size=128):
    """Return ``(train_loader, test_loader)``: ``torch.utils.data.DataLoader`` objects.

    - Both yield batches of ``batch_size`` samples; no sample is dropped (the last batch may be
      smaller).
    - ``batch_size`` defaults to 128.
    - The training loader reshuffles the samples at every epoch; the test loader keeps the
      dataset's order — on every machine (not only when ``torch.cuda.is_available()`` says so).

    Handout slide: "전체 코드 1/3" (``torch.utils.data.DataLoader(train_dataset, batch_size=...)``;
    the handout forgets to shuffle the training set).
    """
    # BEGIN SOLUTION
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False)
    return train_loader, test_loader
    # END SOLUTION
