"""Part 4: train_epoch and evaluate (15 points), on the grader's own small network with batch
normalization: the mode each function puts the model in shows in the weights and the running
statistics it leaves."""
from __future__ import annotations

from grader.checks.registry import CheckList, fail
from grader.i18n import N_

checks = CheckList("train")


@checks.add("train.epoch_weights", points=5, title=N_("train_epoch trains in train mode: the weights and running "
            "statistics it leaves"),
            contract=N_("train_epoch: the model in train mode first; `zero_grad`, `backward` and `step` for every batch"),
            probes=("train.epoch",), location="train.py:train_epoch",
            hint=N_("model.train() first (evaluate leaves the model in eval mode, where batch normalization neither "
                    "uses nor updates the batch's statistics), then one step per batch: zero_grad, forward, loss, "
                    "backward, step."))
def epoch_weights(ctx):
    return ctx.compare("train.epoch", ctx.keys("train.epoch", "after/"), what=N_("the model after train_epoch"))


@checks.add("train.epoch_loss", points=3, title=N_("train_epoch returns the per-sample average loss"),
            contract=N_("train_epoch: returns the per-sample average loss over the samples the loader yields"),
            probes=("train.epoch",), location="train.py:train_epoch",
            hint=N_("Weight each batch's loss by its size and divide by the number of samples: the last batch may be "
                    "smaller, so the mean of the batch losses is not the same."))
def epoch_loss(ctx):
    return ctx.compare("train.epoch", ["loss"], what=N_("the loss train_epoch returned"))


@checks.add("train.evaluate_mode", points=4, title=N_("evaluate uses eval mode and changes nothing"),
            contract=N_("evaluate: eval mode and no autograd; the parameters and running statistics unchanged"),
            probes=("train.evaluate",), location="train.py:evaluate",
            hint=N_("model.eval() first (train_epoch leaves the model in train mode, where batch normalization would "
                    "learn from the test set), inside torch.no_grad(), and no optimizer step."))
def evaluate_mode(ctx):
    if not ctx.got("train.evaluate")["grad_mode_kept"]:
        return fail(N_("evaluate left autograd switched off"),
                    mistake=N_("torch.set_grad_enabled(False) was left on: use a with torch.no_grad(): block"))
    return ctx.compare("train.evaluate", ctx.keys("train.evaluate", "after/"), what=N_("the model after evaluate"))


@checks.add("train.evaluate_values", points=3, title=N_("evaluate returns the per-sample average loss and the "
            "accuracy as a fraction"),
            contract=N_("evaluate: returns `(loss, accuracy)`: the per-sample average loss, the fraction of samples "
                        "whose largest logit is the true class"),
            probes=("train.evaluate",), location="train.py:evaluate",
            hint=N_("Weight each batch by its size; the accuracy is a fraction in [0, 1], not a percentage."))
def evaluate_values(ctx):
    return ctx.compare("train.evaluate", ["loss", "acc"], what=N_("evaluate's (loss, accuracy)"))
