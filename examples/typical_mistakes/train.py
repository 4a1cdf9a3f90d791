import random

import numpy as np
import torch

from assignment.penalties import penalized_loss


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def train_epoch(model, loader, optimizer, criterion, device, lmbd=0.0, kind="l2"):
    model.train()
    running, seen = 0.0, 0
    for b_x, b_y in loader:
        b_x = b_x.to(device)
        b_y = b_y.to(device)
        logits = model(b_x)
        loss = criterion(logits, b_y)
        loss = penalized_loss(loss, model, lmbd, batch_size=b_x.shape[0], kind=kind)
        loss.backward()
        optimizer.step()
        running += loss.item() * b_x.shape[0]
        seen += b_x.shape[0]
    return running / seen


def evaluate(model, loader, criterion, device):
    model.eval()
    loss_sum, hits, seen = 0.0, 0, 0
    for b_x, b_y in loader:
        b_x, b_y = b_x.to(device), b_y.to(device)
        with torch.no_grad():
            logits = model(b_x)
            loss_sum += criterion(logits, b_y).item() * len(b_y)
        hits += int((logits.argmax(1) == b_y).sum())
        seen += len(b_y)
    return loss_sum / seen, hits / seen
