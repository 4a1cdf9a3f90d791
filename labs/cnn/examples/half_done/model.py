"""Part 2 — a small CNN for CIFAR-10, with or without batch normalization (handout, "CNN + BatchNorm")."""
import torch.nn.functional as F
from torch import nn


class SmallCNN(nn.Module):
    """Three convolution blocks and a linear classifier.

    ``SmallCNN(batch_norm=True)`` must create exactly these submodules (the grader loads weights by
    these names):

    - ``conv1 = nn.Conv2d(3, 8, 3, padding=1)``, ``conv2 = nn.Conv2d(8, 16, 3, padding=1)``,
      ``conv3 = nn.Conv2d(16, 32, 3, padding=1)``, ``fc = nn.Linear(32 * 4 * 4, 10)``;
    - with ``batch_norm=True`` also ``bn1 = nn.BatchNorm2d(8)``, ``bn2 = nn.BatchNorm2d(16)``,
      ``bn3 = nn.BatchNorm2d(32)``; with ``batch_norm=False`` no batch normalization at all (no
      other parameters or buffers).

    ``forward(x)`` takes images (N, 3, 32, 32) and, for each block k = 1, 2, 3, computes
    ``conv_k → bn_k (when batch_norm) → ReLU → 2×2 max-pooling`` (32 → 16 → 8 → 4 pixels), then
    flattens to (N, 512) and returns ``fc``'s logits, shape (N, 10) (no softmax).
    In train mode the batch normalization uses the batch's statistics and updates its running ones;
    after ``model.eval()`` it uses the running ones (``nn.BatchNorm2d`` does both for you).
    """

    def __init__(self, batch_norm=True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 4 * 4, 10)
        self.batch_norm = batch_norm
        if batch_norm:
            self.bn1 = nn.BatchNorm2d(8)
            self.bn2 = nn.BatchNorm2d(16)
            self.bn3 = nn.BatchNorm2d(32)

    def forward(self, x):
        for k in (1, 2, 3):
            x = getattr(self, f"conv{k}")(x)
            if self.batch_norm:
                x = getattr(self, f"bn{k}")(x)
            x = F.max_pool2d(F.relu(x), 2)
        return self.fc(x.flatten(1))
