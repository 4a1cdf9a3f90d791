import torch
from torch import nn


class SmallCNN(nn.Module):
    """The layers held twice (by name and in a Sequential, registered first), pooling before the ReLU
    (max-pooling and ReLU commute)."""

    def __init__(self, batch_norm=True):
        super().__init__()
        convs = [nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)]
        norms = [nn.BatchNorm2d(c) for c in (8, 16, 32)] if batch_norm else [None] * 3
        blocks = []
        for conv, norm in zip(convs, norms):
            blocks += [conv] + ([norm] if norm is not None else []) + [nn.MaxPool2d(2), nn.ReLU()]
        self.features = nn.Sequential(*blocks)
        self.conv1, self.conv2, self.conv3 = convs
        if batch_norm:
            self.bn1, self.bn2, self.bn3 = norms
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))
