"""Part 1 — batch normalization written out (handout, "Batch Normalization")."""
import torch


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch-normalize ``x`` of shape (N, C, H, W): one mean and one variance per channel.

    - ``training=True``: use the batch's own statistics over N, H and W: the mean and the *biased*
      variance (divided by N·H·W). Return ``gamma * (x - mean) / sqrt(var + eps) + beta``, with
      ``gamma`` and ``beta`` of shape (C,) applied per channel. Then update the running statistics
      *in place* (``running_mean.mul_(...)``, ``.copy_(...)``; rebinding the name changes nothing for
      the caller) and without autograd: ``running_mean ← (1 - momentum) * running_mean + momentum *
      mean``, and ``running_var`` likewise with the *unbiased* variance (divided by N·H·W - 1), as
      ``nn.BatchNorm2d`` does.
    - ``training=False``: normalize with ``running_mean`` and ``running_var`` instead, and leave them
      unchanged.
    - The gradient flows through the batch's statistics (do not detach the mean or the variance),
      and reaches ``x``, ``gamma`` and ``beta``. Do not change ``x``.
    - ``momentum`` defaults to 0.1 and ``eps`` to 1e-5, as in ``nn.BatchNorm2d``.

    ``torch.nn.functional.batch_norm`` does all of this; writing it out is the exercise (both are right).
    """
    raise NotImplementedError("batch_norm in batchnorm.py is not implemented yet")
