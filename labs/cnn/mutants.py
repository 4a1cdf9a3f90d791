"""The CNN lab's known student mistakes, written as small replacements of reference functions
(``grader/mistakes.py``: how they are declared and used)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms

from grader.i18n import N_
from grader.mistakes import Mutants

MUTANTS = Mutants()
mutant = MUTANTS.add

TRAIN = ("bn.train", "bn.train_args")
ALL_BN = (*TRAIN, "bn.eval")
MODEL = ("model.bn",)
TEST = ("aug.test",)
EPOCH = ("train.epoch",)
EVALUATE = ("train.evaluate",)


# ---------------------------------------------------------------- batchnorm

def _bn(*, dims=(0, 2, 3), unbiased_norm=False, unbiased_running=True, reversed_momentum=False, eps_outside=False,
        update=True, eval_batch=False, update_in_eval=False, detach=False):
    def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        shape = (1, -1, 1, 1)
        if training or eval_batch:
            mean, var = x.mean(dim=dims, keepdim=True), x.var(dim=dims, unbiased=unbiased_norm, keepdim=True)
            if detach:
                mean, var = mean.detach(), var.detach()
        else:
            mean, var = running_mean.reshape(shape), running_var.reshape(shape)
        if (training and update) or update_in_eval:
            count = x.numel() // x.shape[1]
            m = 1 - momentum if reversed_momentum else momentum
            with torch.no_grad():
                batch_mean = x.mean(dim=(0, 2, 3))
                batch_var = x.var(dim=(0, 2, 3), unbiased=False) * (count / (count - 1) if unbiased_running else 1)
                running_mean.mul_(1 - m).add_(m * batch_mean)
                running_var.mul_(1 - m).add_(m * batch_var)
        scale = torch.sqrt(var) + eps if eps_outside else torch.sqrt(var + eps)
        return gamma.reshape(shape) * (x - mean) / scale + beta.reshape(shape)
    return {"batch_norm": batch_norm}


mutant("per_sample", ALL_BN, N_("the statistics are per sample (over C, H, W), not per channel over the batch: "
                                "average over dim=(0, 2, 3)"))(lambda ref: _bn(dims=(1, 2, 3)))
mutant("unbiased_normalization", TRAIN, N_("the batch is normalized with the unbiased variance: normalizing uses the "
                                           "biased one (unbiased=False); only the running variance is unbiased"))(
    lambda ref: _bn(unbiased_norm=True))
mutant("biased_running", TRAIN, N_("the running variance is updated with the biased variance: nn.BatchNorm2d keeps "
                                   "the unbiased one (divided by N·H·W − 1)"))(lambda ref: _bn(unbiased_running=False))
mutant("momentum_reversed", TRAIN, N_("momentum weighs the old running statistic: running ← (1 − momentum)·running + "
                                      "momentum·batch"))(lambda ref: _bn(reversed_momentum=True))
mutant("eps_outside", ALL_BN, N_("eps is added outside the square root: divide by sqrt(var + eps)"))(
    lambda ref: _bn(eps_outside=True))
mutant("no_running_update", TRAIN, N_("the running statistics are never updated (or the names are rebound instead of "
                                      "updated in place with mul_/add_/copy_)"))(lambda ref: _bn(update=False))
mutant("eval_uses_batch", ("bn.eval",), N_("eval mode normalizes with the batch's statistics: it must use "
                                           "running_mean and running_var"))(lambda ref: _bn(eval_batch=True))
mutant("eval_updates", ("bn.eval",), N_("eval mode updates the running statistics: only train mode learns them"))(
    lambda ref: _bn(update_in_eval=True))
mutant("detached_statistics", ("bn.train",), N_("the batch's mean and variance are detached: the gradient must flow "
                                                "through them"))(lambda ref: _bn(detach=True))


# ---------------------------------------------------------------- model

class _CNN(nn.Module):
    def __init__(self, batch_norm=True, order="bn_first", pool=F.max_pool2d, bn_always=None):
        super().__init__()
        self.conv1, self.conv2, self.conv3 = (nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1),
                                              nn.Conv2d(16, 32, 3, padding=1))
        self.fc = nn.Linear(512, 10)
        self.batch_norm, self.order, self.pool, self.bn_always = batch_norm, order, pool, bn_always
        if batch_norm:
            self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(8), nn.BatchNorm2d(16), nn.BatchNorm2d(32)

    def forward(self, x):
        for k in (1, 2, 3):
            x = getattr(self, f"conv{k}")(x)
            norm = getattr(self, f"bn{k}", None)
            if norm is not None and self.order == "bn_first":
                x = F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, False) \
                    if self.bn_always == "eval" else norm(x)
            x = F.relu(x)
            if norm is not None and self.order == "relu_first":
                x = norm(x)
            x = self.pool(x, 2)
        return self.fc(x.flatten(1))


def _model(**kw):
    return {"SmallCNN": lambda batch_norm=True: _CNN(batch_norm, **kw)}


mutant("bn_after_relu", MODEL, N_("batch normalization comes after the ReLU: the contract's block is conv → bn → "
                                  "ReLU → pooling"))(lambda ref: _model(order="relu_first"))
mutant("average_pooling", (*MODEL, "model.plain"), N_("the pooling averages: the contract's is 2×2 max-pooling"))(
    lambda ref: _model(pool=F.avg_pool2d))
mutant("bn_always_eval", MODEL, N_("the batch normalization always uses its running statistics, even in train mode "
                                   "(F.batch_norm with training=False): call the bn modules themselves"))(
    lambda ref: _model(bn_always="eval"))


# ---------------------------------------------------------------- augment

def _test(steps):
    return {"test_transform": lambda mean, std: transforms.Compose([*steps(mean, std)])}


mutant("test_augmented", TEST, N_("test_transform augments: the test images are only converted and normalized"))(
    lambda ref: _test(lambda mean, std: [transforms.RandomHorizontalFlip(1.0), transforms.ToTensor(),
                                         transforms.Normalize(mean, std)]))
mutant("test_not_normalized", TEST, N_("test_transform does not normalize: add transforms.Normalize(mean, std) after "
                                       "ToTensor"))(lambda ref: _test(lambda mean, std: [transforms.ToTensor()]))


# ---------------------------------------------------------------- train

def _epoch(*, set_train=True, per_batch=False, zero_grad=True):
    def train_epoch(model, loader, optimizer, device):
        if set_train:
            model.train()
        total, count, losses = 0.0, 0, []
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = F.cross_entropy(model(x), y)
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(x), count + len(x)
            losses.append(loss.item())
        return sum(losses) / len(losses) if per_batch else total / count
    return {"train_epoch": train_epoch}


mutant("no_train_mode", EPOCH, N_("model.train() is missing at the start of train_epoch: after evaluate the model is "
                                  "still in eval mode, and batch normalization neither uses nor learns the batch's "
                                  "statistics"))(lambda ref: _epoch(set_train=False))
mutant("epoch_per_batch", EPOCH, N_("the loss is the mean of the batch losses: weight each batch by its size (the "
                                    "last batch is smaller)"))(lambda ref: _epoch(per_batch=True))
mutant("no_zero_grad", EPOCH, N_("optimizer.zero_grad() is missing: the gradients of earlier batches add up"))(
    lambda ref: _epoch(zero_grad=False))


def _evaluate(*, set_eval=True, per_batch=False, percent=False):
    def evaluate(model, loader, device):
        if set_eval:
            model.eval()
        total, correct, count, losses = 0.0, 0, 0, []
        with torch.no_grad():
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                logits = model(x)
                loss = F.cross_entropy(logits, y).item()
                total, correct, count = total + loss * len(x), correct + (logits.argmax(1) == y).sum().item(), count + len(x)
                losses.append(loss)
        return (sum(losses) / len(losses) if per_batch else total / count), correct / count * (100 if percent else 1)
    return {"evaluate": evaluate}


mutant("no_eval_mode", EVALUATE, N_("model.eval() is missing in evaluate: batch normalization uses the test batches' "
                                    "statistics and learns from them"))(lambda ref: _evaluate(set_eval=False))
mutant("evaluate_per_batch", EVALUATE, N_("the loss is the mean of the batch losses: weight each batch by its size"))(
    lambda ref: _evaluate(per_batch=True))
mutant("accuracy_percent", EVALUATE, N_("the accuracy is a percentage: it must be a fraction in [0, 1]"))(
    lambda ref: _evaluate(percent=True))


# ---------------------------------------------------------------- the training check

def _batch_norm_ignored(ref):
    cnn = ref.modules["model"].SmallCNN
    return {"SmallCNN": lambda batch_norm=True: cnn(False)}


def _no_augmentation(ref):
    return {"train_transform": ref.modules["augment"].test_transform}


# Mistakes that take a technique's effect away, for bench/bench_training.py: label -> (build, the
# training check's margins it must fail).
TRAINING_MISTAKES = {"batch_norm ignored": (_batch_norm_ignored, ("batchnorm",)),
                     "no augmentation": (_no_augmentation, ("augment",))}
