import torch


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    if not torch.is_grad_enabled():
        x_hat = (x - running_mean.reshape(1, -1, 1, 1)) / torch.sqrt(running_var.reshape(1, -1, 1, 1) + eps)
    else:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        x_hat = (x - mean) / torch.sqrt(var + eps)
        running_mean = momentum * running_mean + (1.0 - momentum) * mean.reshape(-1)
        running_var = momentum * running_var + (1.0 - momentum) * var.reshape(-1)
    return gamma.reshape(1, -1, 1, 1) * x_hat + beta.reshape(1, -1, 1, 1)
