import torch


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    outputs = []
    for c in range(x.shape[1]):
        channel = x[:, c]
        if training:
            mean = channel.mean()
            var = ((channel - mean) ** 2).mean()
            n = channel.numel()
            running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean.item()
            running_var[c] = (1 - momentum) * running_var[c] + momentum * var.item() * n / (n - 1)
        else:
            mean, var = running_mean[c], running_var[c]
        outputs.append(gamma[c] * (channel - mean) / torch.sqrt(var + eps) + beta[c])
    return torch.stack(outputs, dim=1)
