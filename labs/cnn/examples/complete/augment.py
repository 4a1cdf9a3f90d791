import random

import numpy as np
import torch


def _normalizer(mean, std):
    m, s = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1), torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return lambda a: (torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1) - m) / s


def train_transform(mean, std):
    normalize = _normalizer(mean, std)

    def apply(image):
        padded = np.zeros((40, 40, 3), np.float32)
        padded[4:36, 4:36] = np.asarray(image, np.float32) / 255
        top, left = random.randint(0, 8), random.randint(0, 8)
        view = padded[top:top + 32, left:left + 32]
        if random.random() < 0.5:
            view = view[:, ::-1]
        return normalize(view)
    return apply


def test_transform(mean, std):
    normalize = _normalizer(mean, std)
    return lambda image: normalize(np.asarray(image, np.float32) / 255)
