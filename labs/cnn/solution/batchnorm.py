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
    # BEGIN SOLUTION
    if training:
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        count = x.numel() // x.shape[1]
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * count / (count - 1))
    else:
        mean, var = running_mean, running_var
    shape = (1, -1, 1, 1)
    normalized = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * normalized + beta.reshape(shape)
    # END SOLUTION
