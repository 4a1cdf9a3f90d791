"""Part 2: DropoutMLP (20 points)."""
from __future__ import annotations

import numpy as np

from ..worker.constants import MLP_SHAPES
from .registry import PASS, CheckList, Verdict, fail

checks = CheckList("model")

LOCATION = "model.py:DropoutMLP"
LAYERS = ("linear1", "linear2", "linear3")


@checks.add("model.structure", points=4, title="linear1/linear2/linear3 with the lab's shapes; weights load by name",
            probes=("model.structure",), location="model.py:DropoutMLP.__init__",
            hint="Create exactly self.linear1 = nn.Linear(3072, 256), self.linear2 = nn.Linear(256, 128), "
                 "self.linear3 = nn.Linear(128, 10); drop_prob defaults to 0.0; no other parameters.")
def structure(ctx):
    got = ctx.got("model.structure")
    want = ctx.want("model.structure")
    if got["load_error"] or got["shapes"] != want["shapes"]:
        wanted = ", ".join(f"{n} {o}x{i}" for n, (o, i) in MLP_SHAPES.items())
        return fail("the parameters do not match the lab's layers" + (f": {got['load_error'][:300]}"
                                                                       if got["load_error"] else ""),
                    expected=want["shapes"], got=got["shapes"] or "no parameters",
                    hint=f"The grader loads weights named {wanted} (weight and bias each).")
    return PASS


@checks.add("model.eval_output", points=4, title="eval mode: the logits match the reference and repeat",
            probes=("model.eval",), location="model.py:DropoutMLP.forward",
            hint="forward: flatten, linear1 → sigmoid → dropout → linear2 → sigmoid → dropout → linear3; return "
                 "the logits of linear3 (no softmax). After model.eval() dropout must do nothing.")
def eval_output(ctx):
    got = ctx.got("model.eval")
    if got["out"].shape == got["again"].shape and not np.allclose(got["out"], got["again"], rtol=1e-5, atol=1e-6):
        return fail("in eval mode two forward passes on the same input differ",
                    mistake="dropout is still active after model.eval(): use nn.Dropout or "
                            "F.dropout(x, p, training=self.training)")
    return ctx.compare("model.eval", ["out"], what="the eval-mode logits of DropoutMLP(0.5)")


@checks.add("model.flatten", points=2, title="(N, 3, 32, 32) and (N, 3072) inputs give the same logits",
            probes=("model.eval",), location="model.py:DropoutMLP.forward",
            hint="Flatten inside forward with x.reshape(len(x), -1), x.view(x.size(0), -1) or torch.flatten(x, 1).")
def flatten(ctx):
    got = ctx.got("model.eval")
    if got["flat"].shape != got["out"].shape or not np.allclose(got["flat"], got["out"], rtol=1e-5, atol=1e-6):
        return fail("images of shape (N, 3, 32, 32) and the same images flattened to (N, 3072) give different "
                    "outputs", expected=got["out"], got=got["flat"])
    return PASS


@checks.add("model.dropout_p0", points=2, title="train mode with drop_prob=0 gives the eval-mode logits",
            probes=("model.train_p0",), location="model.py:DropoutMLP.forward",
            hint="With drop_prob=0 dropout keeps every activation: train and eval mode agree.")
def dropout_p0(ctx):
    return ctx.compare("model.train_p0", ["out"], what="the train-mode logits of DropoutMLP(0.0)")


def _relu(z):
    return np.maximum(z, 0)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def dropout_verdict(values: dict, p: float) -> Verdict:
    """Judge one train-mode forward from what went in and out of each Linear layer.

    After layer k, each input of layer k+1 must be 0 (dropped, with probability p) or
    sigmoid(output of layer k) / (1 - p) (kept and rescaled), whatever random masks were drawn.
    """
    if not values.get("hooked"):
        return fail("linear1, linear2 and linear3 were not all called as modules during forward",
                    hint="Call the layers as self.linear1(x), self.linear2(...), self.linear3(...).")
    for k, (layer, nxt) in enumerate((("linear1", "linear2"), ("linear2", "linear3")), start=1):
        z, d = values[f"{layer}/out"].astype(np.float64), values[f"{nxt}/in"].astype(np.float64)
        if z.shape != d.shape:
            return fail(f"{nxt} receives shape {d.shape}, but {layer} produced {z.shape}")
        tol = 1e-4 + 1e-4 * np.abs(d)
        a = _sigmoid(z)
        zero = np.abs(d) <= 1e-7
        kept = np.abs(d - a / (1 - p)) <= tol
        dropped = zero.mean()
        spread = 6 * np.sqrt(max(p * (1 - p), 0.01) / d.size) + 1e-3
        if (kept | zero).all() and abs(dropped - p) <= spread:
            continue
        where = f"between {layer} and {nxt}"
        if p > 0 and np.all((np.abs(d - a) <= tol) | zero) and zero.any():
            return fail(f"the kept activations {where} are not scaled by 1/(1-p)",
                        mistake="dropout without the 1/(1-p) rescaling of the kept activations")
        if (np.abs(d - 0.5) <= 1e-4).mean() > 0.5 * p and p > 0:
            return fail(f"{where}, dropped activations come out as sigmoid(0) = 0.5",
                        mistake="dropout is applied before the activation: apply it to the sigmoid's output")
        if ((np.abs(d - _relu(z) / (1 - p)) <= tol) | zero).all():
            return fail(f"the activations {where} are ReLU, not sigmoid",
                        mistake="the activation is ReLU: the lab's MLP uses a sigmoid after linear1 and linear2")
        if not zero.any() and p > 0:
            return fail(f"no activation {where} was dropped in train mode with drop_prob={p}",
                        mistake=f"dropout is missing after the {'first' if k == 1 else 'second'} hidden layer")
        scale = np.median(d[~zero] / a[~zero]) if (~zero).any() else 1.0
        used = 1 - 1 / scale if scale > 1 else 0.0  # the p whose 1/(1-p) scales the kept values
        consistent = np.all((np.abs(d - a * scale) <= tol) | zero)
        if (kept | zero).all() or (consistent and abs(dropped - used) <= spread):
            return fail(f"{where}, {dropped:.1%} of the activations were dropped (kept ones scaled by {scale:.3g}) "
                        f"with drop_prob={p}", expected=f"about {p:.0%} dropped, kept ones scaled by {1 / (1 - p):.3g}",
                        got=f"{dropped:.1%} dropped, scaled by {scale:.3g}",
                        mistake=f"the drop probability is {used:.2g}, not drop_prob={p} (hard-coded, or keep and "
                                f"drop probabilities swapped)")
        return fail(f"the input of {nxt} is not dropout(sigmoid({layer}(...)))",
                    expected="0 or sigmoid(z)/(1-p) for each activation",
                    got=f"{int((~(kept | zero)).sum())} of {d.size} values neither")
    if not np.allclose(values["out"], values["linear3/out"], rtol=1e-5, atol=1e-6):
        return fail("forward does not return the output of linear3",
                    mistake="forward must return the logits of linear3 (no softmax or other activation on them)")
    return PASS


@checks.add("model.dropout_train", points=6, title="train mode, drop_prob=0.3: dropout after each hidden "
            "activation, scaled by 1/(1-p)", probes=("model.train_p03",), location=LOCATION,
            hint="Use nn.Dropout(drop_prob) (or F.dropout(..., training=self.training)) on the sigmoid outputs "
                 "of linear1 and linear2, in that order.")
def dropout_train(ctx):
    return dropout_verdict(ctx.got("model.train_p03"), 0.3)


@checks.add("model.dropout_other_p", points=2, title="train mode, drop_prob=0.6: the probability is the one given",
            probes=("model.train_p06",), location=LOCATION,
            hint="Pass drop_prob on to nn.Dropout; do not hard-code a probability.")
def dropout_other_p(ctx):
    return dropout_verdict(ctx.got("model.train_p06"), 0.6)
