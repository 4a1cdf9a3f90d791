"""Part 2: DropoutMLP (20 points)."""
from __future__ import annotations

import numpy as np

from grader.checks.registry import PASS, CheckList, Verdict, fail
from grader.compare import differs
from grader.i18n import N_, _

from ..worker.constants import MLP_SHAPES

checks = CheckList("model")

LOCATION = "model.py:DropoutMLP"
LAYERS = ("linear1", "linear2", "linear3")


@checks.add("model.structure", points=4, title=N_("linear1/linear2/linear3 with the lab's shapes; weights load by name"),
            contract=N_('DropoutMLP: `linear1` 3072→256, `linear2` 256→128, `linear3` 128→10 (other submodules, e.g. an `nn.Sequential` holding these layers, are allowed; other parameters are not)'),
            probes=("model.structure",), location="model.py:DropoutMLP.__init__",
            hint=N_("The three fully connected layers of the handout's model (slide \"Dropout\": class Model), as "
                 "attributes named linear1, linear2, linear3 with the lab's sizes; other submodules (an "
                 "nn.Sequential holding the same layers) are fine, other parameters are not."))
def structure(ctx):
    got = ctx.got("model.structure")
    want = ctx.want("model.structure")
    if got["load_error"] or got["shapes"] != want["shapes"]:
        wanted = ", ".join(f"{n} {o}x{i}" for n, (o, i) in MLP_SHAPES.items())
        message = _("the parameters do not match the lab's layers")
        return fail(message + (f": {got['load_error'][:300]}" if got["load_error"] else ""),
                    expected=want["shapes"], got=got["shapes"] or got["names"] or _("no parameters"),
                    hint=_("The grader loads weights into {layers} (weight and bias each).").format(layers=wanted))
    if got["extra"]:
        return fail(_("DropoutMLP has parameters besides linear1, linear2 and linear3: {extra}").format(
                    extra=got["extra"][:300]),
                    mistake=N_("extra trainable parameters: the lab's MLP has only its three Linear layers"))
    return PASS


@checks.add("model.eval_output", points=4, title=N_("eval mode: the logits match the reference and repeat"),
            contract=N_('DropoutMLP: linear1 → sigmoid → dropout → linear2 → sigmoid → dropout → linear3 (logits)'),
            probes=("model.eval",), location="model.py:DropoutMLP.forward",
            hint=N_("The forward pass of the handout's slide \"Dropout\": each hidden layer is a Linear map followed by "
                 "a sigmoid and then dropout; the last Linear layer's output is returned as it is (the loss applies "
                 "the softmax itself). In eval mode dropout is switched off."))
def eval_output(ctx):
    got = ctx.got("model.eval")
    if got["out"].shape == got["again"].shape and differs(got["out"], got["again"]):
        return fail(N_("in eval mode two forward passes on the same input differ"),
                    mistake=N_("dropout is still active after model.eval(): it must follow the model's train/eval "
                            "mode (F.dropout's training argument defaults to True)"))
    return ctx.compare("model.eval", ["out"], what=N_("the eval-mode logits of DropoutMLP(0.5)"))


@checks.add("model.flatten", points=2, title=N_("(N, 3, 32, 32) and (N, 3072) inputs give the same logits"),
            contract=N_('DropoutMLP: forward flattens (N,3,32,32) or (N,3072)'),
            probes=("model.eval",), location="model.py:DropoutMLP.forward",
            hint=N_("forward receives whole images or already-flat rows: turn each sample into one row of 3072 values "
                 "and keep the batch dimension as it is."))
def flatten(ctx):
    got = ctx.got("model.eval")
    if got["flat"].shape != got["out"].shape or differs(got["flat"], got["out"]):
        return fail(N_("images of shape (N, 3, 32, 32) and the same images flattened to (N, 3072) give different "
                    "outputs"), expected=got["out"], got=got["flat"])
    return PASS


@checks.add("model.dropout_p0", points=2, title=N_("DropoutMLP() (drop_prob defaults to 0): train mode gives the "
            "eval-mode logits, and backward reaches every layer"), contract=N_('DropoutMLP: The defaults in the function column are part of the contract'),
            probes=("model.train_p0",),
            location="model.py:DropoutMLP.forward",
            hint=N_("With no argument the drop probability is 0, so dropout keeps every activation and train and eval "
                 "mode agree; the forward pass must stay differentiable (no in-place change of a value autograd "
                 "still needs)."))
def dropout_p0(ctx):
    got = ctx.got("model.train_p0")
    wrong_default = ctx.defaults("model.train_p0", "DropoutMLP")
    if wrong_default:
        return wrong_default
    if got["backward_error"]:
        return fail(_("backward through DropoutMLP() fails: {error}").format(error=got["backward_error"][:300]),
                    mistake=N_("an in-place operation in forward breaks backward: compute new tensors instead"))
    verdict = ctx.compare("model.train_p0", ["out"], what=N_("the train-mode logits of DropoutMLP()"))
    if not verdict.passed and "linear1/in" in got:
        verdict = _input_verdict(got["linear1/in"], ctx.want("model.train_p0")["linear1/in"]) or verdict
    if not verdict.passed:
        zeros = got.get("linear2/in")
        if zeros is not None and (np.abs(zeros) <= 1e-7).mean() > 0.02 and verdict.mistake is None:
            return fail(verdict.message, expected=verdict.expected, got=verdict.got,
                        mistake=N_("DropoutMLP() drops activations: drop_prob must default to 0.0"))
        return verdict
    return ctx.compare("model.train_p0", ctx.keys("model.train_p0", "grad/"),
                       what=N_("the gradients of DropoutMLP()'s parameters after backward"))


def _relu(z):
    return np.maximum(z, 0)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _used_p(values: dict, layer: str, nxt: str) -> float | None:
    """The drop probability whose 1/(1-p) scales the kept inputs of ``nxt`` (None when unreadable)."""
    z, d = values.get(f"{layer}/out"), values.get(f"{nxt}/in")
    if z is None or d is None or z.shape != d.shape:
        return None
    a, d = _sigmoid(z.astype(np.float64)), d.astype(np.float64)
    kept = np.abs(d) > 1e-7
    if not kept.any():
        return None
    scale = np.median(d[kept] / a[kept])
    return 1 - 1 / scale if scale > 1 else 0.0


def _whole(zero: np.ndarray) -> str | None:
    """Which whole lines of the mask are dropped together ("rows": whole samples, "columns": the same
    activations for every sample), when the mask is not drawn per activation."""
    if not zero.any() or zero.all() or zero.ndim != 2:
        return None
    if (zero.all(axis=1) | (~zero).all(axis=1)).all():
        return "rows"
    if (zero.all(axis=0) | (~zero).all(axis=0)).all():
        return "columns"
    return None


def _probability_mistake(used: float, p: float, other: tuple[dict, float] | None, layers) -> str | None:
    """Names the drop probability's mistake only when the other probe's p confirms it: hard-coded (the
    same p used whatever is asked) or swapped (1 - p used both times)."""
    if other is None:
        return None
    values, q = other
    theirs = _used_p(values, *layers)
    if theirs is None:
        return None
    if abs(used - theirs) <= 0.05:
        return _("the drop probability is {used} whatever drop_prob is asked ({p} and {q} give the same): it is "
                 "hard-coded").format(used=f"{used:.2g}", p=p, q=q)
    if abs(used - (1 - p)) <= 0.05 and abs(theirs - (1 - q)) <= 0.05:
        return _("the keep and drop probabilities are swapped: 1 - drop_prob is dropped")
    return None


def dropout_verdict(values: dict, p: float, flat, other: tuple[dict, float] | None = None) -> Verdict:
    """Judge one train-mode forward from what went in and out of each Linear layer.

    linear1 must receive the flattened images exactly (``flat``: what it receives in the
    reference). After layer k, each input of layer k+1 must be 0 (dropped, with probability p, each
    activation on its own) or sigmoid(output of layer k) / (1 - p) (kept and rescaled), whatever
    random masks were drawn. ``other``: the same model's forward with another p, the evidence that
    tells a hard-coded probability from others.
    """
    if values.get("backward_error"):
        return fail(_("backward through the model in train mode fails: {error}").format(
                    error=values["backward_error"][:300]),
                    mistake=N_("the model cannot be trained with dropout on: an in-place operation breaks backward"))
    if not all(v for k, v in values.items() if k.startswith("gradok/")):
        return fail(N_("with dropout on, backward does not reach every layer's parameters with finite gradients"),
                    mistake=N_("the model cannot be trained with dropout on (detached or non-finite gradients)"))
    if not values.get("seen"):
        return fail(_("{layers}: the gradients of the weight and bias are not those of a Linear layer applied to "
                      "each sample's own input (z = x·Wᵀ + b)").format(layers=values.get("unseen") or "?"),
                    hint=N_("forward must compute the three Linear layers linear1, linear2 and linear3 on each "
                            "sample, with their own weight and bias (any way: calling them, F.linear, @, einsum)."))
    verdict = _input_verdict(values["linear1/in"], flat)
    if verdict:
        return verdict
    for k, (layer, nxt) in enumerate((("linear1", "linear2"), ("linear2", "linear3")), start=1):
        z, d = values[f"{layer}/out"].astype(np.float64), values[f"{nxt}/in"].astype(np.float64)
        if z.shape != d.shape:
            return fail(_("{next} receives shape {got}, but {layer} produced {shape}").format(
                next=nxt, got=d.shape, layer=layer, shape=z.shape))
        if d.ndim == 2:  # samples whose output does not depend on the next layer at all say nothing of it
            observed = np.isfinite(d).all(axis=1)
            z, d = z[observed], d[observed]
        tol = 1e-4 + 1e-4 * np.abs(d)
        a = _sigmoid(z)
        zero = np.abs(d) <= 1e-7
        kept = np.abs(d - a / (1 - p)) <= tol
        dropped = zero.mean()
        spread = 6 * np.sqrt(max(p * (1 - p), 0.01) / d.size) + 1e-3
        where = dict(layer=layer, next=nxt)
        whole = _whole(zero) if p > 0 else None
        if whole and (kept | zero).all():
            return fail(_("between {layer} and {next}, whole samples are dropped together").format(**where)
                        if whole == "rows" else
                        _("between {layer} and {next}, the same activations are dropped for every sample").format(
                            **where),
                        expected=_("each activation dropped on its own, with probability {p}").format(p=p),
                        got=(_("{share} dropped, whole samples at a time") if whole == "rows" else
                             _("{share} dropped, the same activations in every sample")).format(share=f"{dropped:.1%}"),
                        mistake=N_("the dropout mask is not drawn per activation: it must have the shape of the "
                                   "activations (nn.Dropout / F.dropout do that)"))
        if (kept | zero).all() and abs(dropped - p) <= spread:
            continue
        if p > 0 and np.all((np.abs(d - a) <= tol) | zero) and zero.any():
            return fail(_("the kept activations between {layer} and {next} are not scaled by 1/(1-p)").format(**where),
                        mistake=N_("dropout without the 1/(1-p) rescaling of the kept activations"))
        if (np.abs(d - 0.5) <= 1e-4).mean() > 0.5 * p and p > 0:
            return fail(_("between {layer} and {next}, dropped activations come out as sigmoid(0) = 0.5").format(
                **where),
                        mistake=N_("dropout is applied before the activation: apply it to the sigmoid's output"))
        if ((np.abs(d - _relu(z) / (1 - p)) <= tol) | zero).all():
            return fail(_("the activations between {layer} and {next} are ReLU, not sigmoid").format(**where),
                        mistake=N_("the activation is ReLU: the lab's MLP uses a sigmoid after linear1 and linear2"))
        if not zero.any() and p > 0:
            return fail(_("no activation between {layer} and {next} was dropped in train mode with drop_prob={p}")
                        .format(p=p, **where),
                        mistake=_("dropout is missing after the first hidden layer") if k == 1 else
                        _("dropout is missing after the second hidden layer"))
        scale = np.median(d[~zero] / a[~zero]) if (~zero).any() else 1.0
        used = 1 - 1 / scale if scale > 1 else 0.0  # the p whose 1/(1-p) scales the kept values
        consistent = np.all((np.abs(d - a * scale) <= tol) | zero)
        if (kept | zero).all() or (consistent and abs(dropped - used) <= spread):
            # What differs, plainly; which mistake it is only when the other probe's p confirms it.
            return fail(_("between {layer} and {next}, {dropped} of the activations were dropped (kept ones scaled "
                          "by {scale}) with drop_prob={p}").format(dropped=f"{dropped:.1%}", scale=f"{scale:.3g}", p=p,
                                                                  **where),
                        expected=_("about {share} dropped, kept ones scaled by {scale}").format(
                            share=f"{p:.0%}", scale=f"{1 / (1 - p):.3g}"),
                        got=_("{share} dropped, scaled by {scale}").format(share=f"{dropped:.1%}", scale=f"{scale:.3g}"),
                        mistake=_probability_mistake(used, p, other, (layer, nxt)))
        return fail(_("the input of {next} is not dropout(sigmoid({layer}(...)))").format(**where),
                    expected=_("0 or sigmoid(z)/(1-p) for each activation"),
                    got=_("{count} of {size} values neither").format(count=int((~(kept | zero)).sum()), size=d.size))
    if differs(values["out"], values["linear3/out"]):
        return fail(N_("forward does not return the output of linear3"),
                    mistake=N_("forward must return the logits of linear3 (no softmax or other activation on them)"))
    return PASS


def _input_verdict(got: np.ndarray, flat: np.ndarray) -> Verdict | None:
    """linear1 receives the flattened image itself in train mode (the contract has no dropout or
    noise before linear1); None when it does."""
    got, flat = got.astype(np.float64), flat.astype(np.float64)
    if got.shape == flat.shape and got.ndim == 2:  # only the samples whose output depends on linear1
        observed = np.isfinite(got).all(axis=1)
        got, flat = got[observed], flat[observed]
    if got.shape == flat.shape and not differs(got, flat, rtol=1e-5, atol=1e-6):
        return None
    if got.shape != flat.shape:
        return fail(_("in train mode linear1 receives shape {got}, not the flattened images {shape}").format(
            got=got.shape, shape=flat.shape))
    zero = (np.abs(got) <= 1e-7) & (np.abs(flat) > 1e-7)
    kept = ~zero
    scale = np.median(got[kept] / flat[kept]) if kept.any() else 1.0
    message = _("in train mode linear1 does not receive the flattened images: {count} of {size} values differ "
                "({zeroed} set to 0)").format(count=int((np.abs(got - flat) > 1e-6 + 1e-5 * np.abs(flat)).sum()),
                                             size=got.size, zeroed=int(zero.sum()))
    if zero.any() and np.allclose(got[kept], flat[kept] * scale, rtol=1e-5, atol=1e-6):
        return fail(message, mistake=N_("dropout is applied to the input image before linear1: the lab's MLP drops "
                                        "only the hidden activations (after each sigmoid)"))
    return fail(message)


@checks.add("model.dropout_train", points=6, title=N_("train mode, drop_prob=0.3: dropout after each hidden "
            "activation, scaled by 1/(1-p)"), contract=N_('DropoutMLP: dropout (probability `drop_prob` for each activation, kept ones scaled by 1/(1−`drop_prob`)) in train mode only'),
            probes=("model.train_p03",), location=LOCATION,
            hint=N_("Dropout (handout slide \"Dropout\") zeroes each hidden activation with probability p and "
                 "rescales the survivors so the expected value stays the same; it acts on the sigmoid's output of "
                 "both hidden layers, in train mode only."))
def dropout_train(ctx):
    other = ctx.evidence.get("model.train_p06")
    return dropout_verdict(ctx.got("model.train_p03"), 0.3, ctx.want("model.train_p03")["linear1/in"],
                           other and (other, 0.6))


@checks.add("model.dropout_other_p", points=2, title=N_("train mode, drop_prob=0.6: the probability is the one given"),
            contract=N_('DropoutMLP: dropout (probability `drop_prob` for each activation, kept ones scaled by 1/(1−`drop_prob`)) in train mode only'),
            probes=("model.train_p06",), location=LOCATION,
            hint=N_("The drop probability is the constructor's argument, not a number written into the model."))
def dropout_other_p(ctx):
    other = ctx.evidence.get("model.train_p03")
    return dropout_verdict(ctx.got("model.train_p06"), 0.6, ctx.want("model.train_p06")["linear1/in"],
                           other and (other, 0.3))
