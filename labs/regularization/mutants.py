"""The regularization lab's known student mistakes, written as small replacements of reference functions
(``grader/mistakes.py``: how they are declared and used)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from grader.i18n import N_
from grader.mistakes import Mutants

MUTANTS = Mutants()
mutant = MUTANTS.add

PENALTY_VALUES = ("pen.l1_mlp", "pen.l2_mlp", "pen.l1_other", "pen.l2_other", "pen.l1_none", "pen.l2_none")
PENALIZED = ("pen.penalized",)
MODEL = ("model.eval",)
STATS = ("data.stats_a", "data.stats_b", "data.stats_many")
NORMALIZE = ("data.normalize",)
EPOCHS = ("train.epoch", "train.epoch_after_eval", "train.epoch_l2", "train.epoch_l1")
EVALUATE = ("train.evaluate",)


def _linear_modules(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# ---------------------------------------------------------------- penalties

@mutant("bias_included", PENALTY_VALUES, N_("the penalty includes the biases: only the weights of nn.Linear layers count"))
def _bias(ref):
    params = lambda model: [p for m in _linear_modules(model) for p in m.parameters()]  # noqa: E731
    return {"l1_penalty": lambda model: sum(p.abs().sum() for p in params(model)),
            "l2_penalty": lambda model: sum(p.pow(2).sum() for p in params(model))}


@mutant("all_parameters", PENALTY_VALUES, N_("the penalty uses every parameter (biases too), not only nn.Linear weights"))
def _all(ref):
    return {"l1_penalty": lambda model: sum(p.abs().sum() for p in model.parameters()),
            "l2_penalty": lambda model: sum(p.pow(2).sum() for p in model.parameters())}


@mutant("by_name", PENALTY_VALUES, N_("weights are picked by name ('weight' in the name), so LayerNorm/Conv weights are "
                                "included: select the modules with isinstance(m, nn.Linear)"))
def _by_name(ref):
    ws = lambda model: [p for n, p in model.named_parameters() if "weight" in n]  # noqa: E731
    return {"l1_penalty": lambda model: sum(p.abs().sum() for p in ws(model)),
            "l2_penalty": lambda model: sum(p.pow(2).sum() for p in ws(model))}


@mutant("not_squared", PENALTY_VALUES, N_("the L2 penalty is not squared: it adds the norms ||W||, not the sums of w²"))
def _not_squared(ref):
    return {"l2_penalty": lambda model: sum(torch.linalg.norm(m.weight) for m in _linear_modules(model))}


@mutant("no_abs", PENALTY_VALUES, N_("the L1 penalty sums the signed weights: take abs() first"))
def _no_abs(ref):
    return {"l1_penalty": lambda model: sum(m.weight.sum() for m in _linear_modules(model))}


def _penalty_of(ref, kind):
    return getattr(ref.modules["penalties"], f"{kind}_penalty")


@mutant("no_half", PENALIZED, N_("the penalty term is twice too large: the 1/2 factor is missing (or λ is doubled)"))
def _no_half(ref):
    return {"penalized_loss": lambda loss, model, lmbd, batch_size, kind="l2":
            loss + lmbd * _penalty_of(ref, kind)(model) / batch_size}


@mutant("no_batch_division", PENALIZED, N_("the penalty is not divided by the batch size"))
def _no_batch(ref):
    return {"penalized_loss": lambda loss, model, lmbd, batch_size, kind="l2":
            loss + lmbd * _penalty_of(ref, kind)(model) / 2}


@mutant("kind_swapped", PENALIZED, N_("kind is swapped: 'l1' must use l1_penalty and 'l2' l2_penalty"))
def _swapped(ref):
    other = {"l1": "l2", "l2": "l1"}
    return {"penalized_loss": lambda loss, model, lmbd, batch_size, kind="l2":
            loss + lmbd * _penalty_of(ref, other[kind])(model) / batch_size / 2}


@mutant("kind_ignored", PENALIZED, N_("kind is ignored: the same penalty is used for 'l1' and 'l2'"))
def _kind_ignored(ref):
    return {"penalized_loss": lambda loss, model, lmbd, batch_size, kind="l2":
            loss + lmbd * _penalty_of(ref, "l2")(model) / batch_size / 2}


@mutant("lambda_ignored_pen", PENALIZED, N_("λ is not applied to the penalty"))
def _lmbd_ignored(ref):
    return {"penalized_loss": lambda loss, model, lmbd, batch_size, kind="l2":
            loss + _penalty_of(ref, kind)(model) / batch_size / 2}


# ---------------------------------------------------------------- model

class _MLP(nn.Module):
    def __init__(self, drop_prob=0.0, act=torch.sigmoid, order="after", always=False, head=None):
        super().__init__()
        self.linear1, self.linear2, self.linear3 = nn.Linear(3072, 256), nn.Linear(256, 128), nn.Linear(128, 10)
        self.p, self.act, self.order, self.always, self.head = drop_prob, act, order, always, head

    def _drop(self, x):
        return F.dropout(x, self.p, training=self.training or self.always)

    def forward(self, x):
        x = x.reshape(len(x), -1)
        for layer in (self.linear1, self.linear2):
            x = self.act(self._drop(layer(x))) if self.order == "before" else self._drop(self.act(layer(x)))
        out = self.linear3(x)
        return self.head(out) if self.head else out


def _model(**kw):
    return {"DropoutMLP": lambda drop_prob=0.0: _MLP(drop_prob, **kw)}


mutant("relu", MODEL, N_("the activation is ReLU: the lab's MLP uses a sigmoid after linear1 and linear2"))(
    lambda ref: _model(act=torch.relu))
mutant("softmax_output", MODEL, N_("forward returns probabilities (softmax): it must return the logits "
                                  "(nn.CrossEntropyLoss applies the softmax)"))(
    lambda ref: _model(head=lambda z: torch.softmax(z, dim=1)))
mutant("dropout_always", MODEL, N_("dropout is still active after model.eval(): it must follow the model's "
                                  "train/eval mode (F.dropout's training argument defaults to True)"))(
    lambda ref: _model(always=True))


# ---------------------------------------------------------------- data

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR_STD_TUTORIAL = (0.2023, 0.1994, 0.2010)  # the other published "std" (of per-image stds), as widely copied


def _pixels(images):
    return np.asarray(images, dtype=np.float64).reshape(-1, 3)


mutant("scale_255", STATS, N_("the statistics are on the 0–255 scale: divide the pixels by 255 first"))(
    lambda ref: {"channel_stats": lambda images: (tuple(_pixels(images).mean(0)), tuple(_pixels(images).std(0)))})
mutant("std_per_image", STATS, N_("the std is computed per image and then averaged: compute it over all images "
                                "and pixels together"))(
    lambda ref: {"channel_stats": lambda images: (
        tuple((np.asarray(images, np.float64) / 255).mean((0, 1, 2))),
        tuple((np.asarray(images, np.float64) / 255).std((1, 2)).mean(0)))})
HARD_CODED = N_("the statistics are hard-coded constants (the published CIFAR-10 values): compute them from the "
                "images you are given")
# One mistake, two published sets of numbers: a diagnosis matches every value, so each set is a mutant.
mutant("constants", STATS, HARD_CODED)(lambda ref: {"channel_stats": lambda images: (CIFAR_MEAN, CIFAR_STD)})
mutant("constants_tutorial_std", STATS, HARD_CODED)(
    lambda ref: {"channel_stats": lambda images: (CIFAR_MEAN, CIFAR_STD_TUTORIAL)})


def _unscaled(mean, std):
    m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    return lambda img: (torch.from_numpy(np.array(img)).permute(2, 0, 1).float() - m) / s


mutant("not_scaled", NORMALIZE, N_("the pixels are not scaled to [0, 1] before normalizing (ToTensor divides by 255)"))(
    lambda ref: {"normalize_transform": _unscaled})
def _reference_transform(ref, mean_std):
    original = ref.modules["data"].normalize_transform  # taken before the mutant replaces it
    return {"normalize_transform": lambda mean, std: original(*mean_std(mean, std))}


mutant("mean_std_swapped", NORMALIZE, N_("mean and std are swapped in the normalization: (x - mean) / std"))(
    lambda ref: _reference_transform(ref, lambda mean, std: (std, mean)))
mutant("no_normalize", NORMALIZE, N_("the transform only converts to a tensor: (x - mean) / std is missing"))(
    lambda ref: _reference_transform(ref, lambda mean, std: ((0, 0, 0), (1, 1, 1))))


# ---------------------------------------------------------------- train

def _epoch(ref, *, zero_grad=True, per_sample=True, by_dataset=False, lmbd_on=True, pass_kind=True,
           step_in_loop=True, batch_by_dataset=False, by_count=False, zero_before_step=False):
    def train_epoch(model, loader, optimizer, criterion, device, lmbd=0.0, kind="l2"):
        penalized = ref.modules["train"].penalized_loss
        model.train()
        total, count, batches = 0.0, 0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = criterion(model(x), y)
            bs = len(loader.dataset) if batch_by_dataset else len(x)
            loss = penalized(loss, model, lmbd if lmbd_on else 0.0, bs, **({"kind": kind} if pass_kind else {}))
            if step_in_loop:
                if zero_grad and not zero_before_step:
                    optimizer.zero_grad()
                loss.backward()
                if zero_before_step:
                    optimizer.zero_grad()
                optimizer.step()
            total += loss.item() * (len(x) if per_sample else 1)
            count += len(x)
            batches += 1
        if not step_in_loop:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return total / (len(loader.dataset) if by_dataset else count if per_sample or by_count else batches)
    return {"train_epoch": train_epoch}


mutant("no_zero_grad", EPOCHS, N_("optimizer.zero_grad() is missing: gradients of earlier batches accumulate"))(
    lambda ref: _epoch(ref, zero_grad=False))
mutant("step_without_gradient", EPOCHS, N_("the parameters never change: optimizer.step() runs after zero_grad() has "
                                        "cleared the gradients, or is missing (per batch: zero_grad, backward, step)"))(
    lambda ref: _epoch(ref, zero_before_step=True))
mutant("batch_means", EPOCHS, N_("the batch means are averaged: weight each batch by its size (the last batch "
                               "is smaller)"))(lambda ref: _epoch(ref, per_sample=False))
mutant("mean_by_dataset", EPOCHS, N_("the batch means are summed and divided by the dataset size: multiply "
                                   "each batch's mean loss by its size first"))(
    lambda ref: _epoch(ref, per_sample=False, by_dataset=True))
mutant("means_by_count", EPOCHS, N_("the batch means are summed and divided by the number of samples (as if by the "
                                  "dataset size): multiply each batch's mean loss by its size first"))(
    lambda ref: _epoch(ref, per_sample=False, by_count=True))
mutant("divided_by_dataset", EPOCHS, N_("the sum is divided by the dataset size, len(loader.dataset): divide by the "
                                     "number of samples the loader yielded (a sampler may cover part of the dataset)"))(
    lambda ref: _epoch(ref, by_dataset=True))
mutant("lambda_ignored", EPOCHS, N_("λ (lmbd) is not passed on to penalized_loss"))(
    lambda ref: _epoch(ref, lmbd_on=False))
mutant("kind_not_passed", EPOCHS, N_("kind is not passed on to penalized_loss, so L1 runs use the L2 penalty"))(
    lambda ref: _epoch(ref, pass_kind=False))
mutant("step_after_loop", EPOCHS, N_("zero_grad/backward/step are outside the batch loop (the handout's "
                                   "indentation slip): only the last batch trains"))(
    lambda ref: _epoch(ref, step_in_loop=False))
mutant("dataset_as_batch", EPOCHS, N_("penalized_loss gets the dataset size as batch_size: pass len(x) of the batch"))(
    lambda ref: _epoch(ref, batch_by_dataset=True))


def _evaluate(*, per_sample=True, by_dataset=False, percent=False, eval_mode=True):
    def evaluate(model, loader, criterion, device):
        if eval_mode:
            model.eval()
        total, correct, count, batches = 0.0, 0, 0, 0
        with torch.no_grad():
            for x, y in loader:
                logits = model(x.to(device))
                total += criterion(logits, y.to(device)).item() * (len(x) if per_sample else 1)
                correct += (logits.argmax(1) == y.to(device)).sum().item()
                count, batches = count + len(x), batches + 1
        loss = total / (len(loader.dataset) if by_dataset else count if per_sample else batches)
        return loss, correct / count * (100 if percent else 1)
    return {"evaluate": evaluate}


mutant("eval_batch_means", EVALUATE, N_("evaluate averages the batch means: weight each batch by its size"))(
    lambda ref: _evaluate(per_sample=False))
mutant("eval_mean_by_dataset", EVALUATE, N_("evaluate divides the sum of batch means by the dataset size"))(
    lambda ref: _evaluate(per_sample=False, by_dataset=True))
mutant("accuracy_percent", EVALUATE, N_("the accuracy is a percentage: return a fraction in [0, 1]"))(
    lambda ref: _evaluate(percent=True))
mutant("eval_no_eval_mode", EVALUATE, N_("evaluate does not call model.eval(): dropout stays on while testing"))(
    lambda ref: _evaluate(eval_mode=False))


# ---------------------------------------------------------------- the training check

def _lambda_ignored(ref):
    train_epoch = ref.modules["train"].train_epoch
    return {"train_epoch": lambda *a, lmbd=0.0, **k: train_epoch(*a, lmbd=0.0, **k)}


def _dropout_never(ref):
    mlp = ref.modules["model"].DropoutMLP
    return {"DropoutMLP": lambda drop_prob=0.0: mlp(0.0)}


# Mistakes that take a technique's effect away, for bench/bench_training.py: label -> (build, the
# training check's margins it must fail).
TRAINING_MISTAKES = {"lambda ignored": (_lambda_ignored, ("l2",)), "dropout never active": (_dropout_never, ("dropout",))}
