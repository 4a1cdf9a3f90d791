"""Part 3 — data augmentation for training, none for testing (handout, "Data Augmentation")."""
from torchvision import transforms


def train_transform(mean, std):
    """The training images' transform, for a PIL image of 32×32 pixels: a new random view each call.

    - Pad 4 black pixels on every side (value 0, before normalization), then crop a random 32×32
      window (``transforms.RandomCrop(32, padding=4)``): every shift from -4 to +4 pixels, in each
      direction, can occur.
    - Flip it left-right with probability 1/2 (``transforms.RandomHorizontalFlip()``).
    - Convert to a tensor (3, 32, 32) with values in [0, 1] and normalize each channel with ``mean``
      and ``std`` (three numbers each), as ``test_transform`` does.

    The order of the crop and the flip does not matter; the randomness must come from torch's or
    Python's generators (seeded by the caller), never from a seed of your own.
    """
    raise NotImplementedError("train_transform in augment.py is not implemented yet")


def test_transform(mean, std):
    """The test images' transform: no augmentation, only ``ToTensor`` and ``Normalize(mean, std)``."""
    raise NotImplementedError("test_transform in augment.py is not implemented yet")
