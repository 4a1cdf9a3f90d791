import torch
from torch import nn


def train_epoch(model, loader, optimizer, device):
    model.train(True)
    criterion = nn.CrossEntropyLoss(reduction="sum")
    total, n = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        summed = criterion(model(x), y)
        (summed / len(x)).backward()
        optimizer.step()
        total, n = total + summed.item(), n + y.numel()
    return total / n


def evaluate(model, loader, device):
    was_training = model.training
    model.eval()
    criterion = nn.CrossEntropyLoss(reduction="sum")
    total, correct, n = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in loader:
            logits = model(x.to(device))
            total += criterion(logits, y.to(device)).item()
            correct += int((logits.argmax(-1) == y.to(device)).sum())
            n += len(y)
    model.train(was_training)
    return total / n, correct / n
