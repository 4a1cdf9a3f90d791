import torch
import torch.nn as nn


def l1_penalty(model):
    total = torch.tensor(0.0)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            total = total + torch.sum(torch.abs(module.weight))
    return total


def l2_penalty(model):
    total = torch.tensor(0.0)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            total = total + torch.norm(module.weight, 2) ** 2
    return total


def penalized_loss(loss, model, lmbd, batch_size, kind="l2"):
    if kind == "l1":
        reg = l1_penalty(model)
    elif kind == "l2":
        reg = l2_penalty(model)
    else:
        raise ValueError("unknown kind: " + str(kind))
    return loss + lmbd * reg / batch_size / 2.0
