"""Part 1: l1_penalty, l2_penalty, penalized_loss (20 points)."""
from __future__ import annotations

from grader.checks.registry import PASS, CheckList, Context, fail
from grader.compare import close
from grader import i18n
from grader.i18n import N_, _

from ..worker.constants import PENALIZED_CASES, UNKNOWN_KINDS

checks = CheckList("penalties")

LINEAR_ONLY = (N_("Only the weight matrices of Linear layers are penalized — every Linear layer anywhere in the model "
               "(subclasses and nested ones too), whatever its name — not biases, not other layers' weights, not "
               "other 2-D parameters. Handout slides \"L1 loss in LogisticRegression\" / \"L2 loss in "
               "LogisticRegression\"."))
LINEAR_ONLY_L2 = N_("Only the weight matrices of Linear layers are penalized — every Linear layer anywhere in the "
                    "model (subclasses and nested ones too), whatever its name — not biases, not other layers' "
                    "weights, not other 2-D parameters. Handout slides \"L1 loss in LogisticRegression\" / \"L2 loss "
                    "in LogisticRegression\". L2 adds up the squares, not the norms.")


def _differentiable(ctx: Context, probe: str, fn: str):
    if not ctx.got(probe)["differentiable"]:
        return fail(_("{function} returned a {type} that autograd cannot differentiate").format(
                    function=fn, type=ctx.got(probe)["type"]),
                    mistake=N_("the penalty has no gradient: return the tensor itself, not .item() or float(...)"))
    return _zero_dim(ctx.got(probe).get("shape"), fn)


def _zero_dim(shape: str | None, what: str):
    """The contract's 0-dim tensor: shape (), as a criterion's loss has (a (1,)-shaped penalty turns
    the loss it is added to into shape (1,))."""
    if shape is not None and shape != "()":
        return fail(_("{what} returned a tensor of shape {shape}, not a 0-dim tensor").format(what=what, shape=shape),
                    expected="()", got=shape,
                    mistake=N_("the result has a dimension of size 1: start the sum from torch.zeros(()) or 0 (not "
                               "torch.zeros(1) or torch.tensor([0.])), or return .sum() of it"))
    return None


@checks.add("penalties.l1_value", points=3, title=N_("l1_penalty on the lab's DropoutMLP"), contract=N_('l1_penalty: Σ|w| over the weight of every `nn.Linear` in any model'),
            probes=("pen.l1_mlp",),
            location="penalties.py:l1_penalty", hint=LINEAR_ONLY)
def l1_value(ctx):
    return ctx.compare("pen.l1_mlp", ["value"], what="l1_penalty(DropoutMLP)")


@checks.add("penalties.l2_value", points=3, title=N_("l2_penalty on the lab's DropoutMLP"), contract=N_('l2_penalty: Σw² over the same weights (squared Frobenius norms)'),
            probes=("pen.l2_mlp",),
            location="penalties.py:l2_penalty", hint=LINEAR_ONLY_L2)
def l2_value(ctx):
    return ctx.compare("pen.l2_mlp", ["value"], what="l2_penalty(DropoutMLP)")


@checks.add("penalties.other_model", points=4, title=N_("both penalties on other models (other names, nesting, "
            "a LayerNorm, a Conv1d, a bias-free Linear; and no Linear at all)"), contract=N_("l1_penalty: subclasses and nested layers included, biases and other 2-D parameters (an `nn.Embedding`'s table, a bare `nn.Parameter`) excluded"),
            probes=("pen.l1_other", "pen.l2_other", "pen.l1_none", "pen.l2_none"),
            location="penalties.py:l1_penalty / l2_penalty", hint=LINEAR_ONLY)
def other_model(ctx):
    for probe, fn in (("pen.l1_none", "l1_penalty"), ("pen.l2_none", "l2_penalty")):
        if ctx.got(probe).get("raised"):
            return fail(_("{function} raised on a model without any nn.Linear, whose penalty is 0: {error}").format(
                        function=fn, error=ctx.got(probe)["raised"]), expected="0", got=ctx.got(probe)["raised"],
                        mistake=N_("the sum has no starting value: on a model without nn.Linear there is nothing to "
                                   "stack or concatenate; start from torch.zeros(()) (or sum(..., torch.zeros(())))"))
    for probe, fn, what in (("pen.l1_other", "l1_penalty", N_("{function} on a model that is not DropoutMLP")),
                            ("pen.l2_other", "l2_penalty", N_("{function} on a model that is not DropoutMLP")),
                            ("pen.l1_none", "l1_penalty", N_("{function} on a model without any nn.Linear")),
                            ("pen.l2_none", "l2_penalty", N_("{function} on a model without any nn.Linear"))):
        verdict = ctx.compare(probe, ["value"], what=_(what).format(function=fn))
        if not verdict.passed:
            summed = _summed_besides(ctx.got(probe), ctx.want(probe))
            if summed:
                return fail(verdict.message, expected=verdict.expected, got=verdict.got,
                            mistake=_("the penalty also sums {what}: only the weight of each nn.Linear counts "
                                      "(select the modules with isinstance(m, nn.Linear))").format(what=summed))
            return verdict
    return PASS


def _summed_besides(got: dict, want: dict) -> str:
    """What the student's penalty reached besides the Linear weights, read from its gradient
    ("touched": name=kind for every parameter or buffer it has a gradient on); "" when the gradient
    says nothing (no gradient, or it reaches only what the reference's does)."""
    def entries(values):
        return dict(e.split("=", 1) for e in values.get("touched", "").split(";") if e)
    extra = {name: kind for name, kind in entries(got).items() if name not in entries(want)}
    if not extra:
        return ""
    biases = sorted({kind for name, kind in extra.items() if name.rpartition(".")[2].startswith("bias")})
    weights = sorted({kind for name, kind in extra.items() if kind not in ("parameter", "buffer")
                      and not name.rpartition(".")[2].startswith("bias")})
    parts = []
    if weights:
        parts.append(_("the weights of {kinds}").format(kinds=", ".join(weights)))
    if biases:
        parts.append(_("the biases of {kinds}").format(kinds=", ".join(biases)))
    if "parameter" in extra.values():
        parts.append(_("free parameters (nn.Parameter outside any layer)"))
    if "buffer" in extra.values():
        parts.append(_("buffers (tensors that are not parameters)"))
    return i18n.join("; ", parts)


@checks.add("penalties.gradients", points=3, title=N_("the penalties are differentiable, with the right gradients "
            "on the Linear weights"), contract=N_('l1_penalty: differentiable: its gradient reaches those weights'),
            probes=("pen.l1_mlp", "pen.l2_mlp"),
            location="penalties.py:l1_penalty / l2_penalty",
            hint=N_("The penalty is part of the loss that backward() differentiates: keep it a tensor computed from "
                 "the weights themselves, so the gradient reaches them (a Python number has no gradient)."))
def gradients(ctx):
    for probe, fn in (("pen.l1_mlp", "l1_penalty"), ("pen.l2_mlp", "l2_penalty")):
        verdict = _differentiable(ctx, probe, fn)
        if verdict:
            return verdict
        weights = [k for k in ctx.keys(probe, "grad/") if k.endswith(".weight")]  # biases: the value checks' job
        verdict = ctx.compare(probe, weights, what=_("the gradient of {function}").format(function=fn))
        if not verdict.passed:
            return verdict
    return PASS


PENALTIES_KIND = [kind or "l2" for kind, _lmbd, _batch in PENALIZED_CASES]


def _case(i: int) -> str:
    kind, lmbd, batch = PENALIZED_CASES[i]
    return f"penalized_loss(loss=0.8125, model, lmbd={lmbd}, batch_size={batch}" + \
        (")" if kind is None else f", kind={kind!r})")


def _consistent(got: dict, i: int) -> bool:
    """The value the contract's formula gives with the student's own penalties (a penalized_loss
    that holds its own references to them, e.g. in a table built at import)."""
    kind, lmbd, batch = PENALIZED_CASES[i]
    own = got.get(f"own/{kind or 'l2'}")
    return own is not None and close(got[f"case{i}/value"], 0.8125 + lmbd * own / batch / 2)


@checks.add("penalties.penalized_loss", points=4, title=N_("penalized_loss = loss + λ·penalty/batch_size/2 for "
            "both kinds"), contract=N_('penalized_loss: `loss + lmbd * penalty / batch_size / 2`; `kind` "l1" or "l2"'),
            probes=("pen.penalized",), location="penalties.py:penalized_loss",
            hint=N_("The penalty term is λ times the penalty, averaged over the batch, halved (handout slide "
                 "\"Regularization\": J = … + λ/(2m)·||w||²); kind chooses which penalty, and defaults to L2. Your "
                 "own l1/l2_penalty are replaced by the grader's here, so a bug in them is not charged twice."))
def penalized_loss(ctx):
    got = ctx.got("pen.penalized")
    wrong_default = ctx.defaults("pen.penalized", "penalized_loss")
    if wrong_default:
        return wrong_default
    for i in range(len(PENALIZED_CASES)):
        if not got.get(f"case{i}/differentiable", False):
            return fail(_("{call} is not a tensor autograd can differentiate").format(call=_case(i)),
                        mistake=N_("the loss has no gradient: keep it a tensor (no .item())"))
        own_shape = got.get(f"own/{PENALTIES_KIND[i]}/shape", "()")
        verdict = _zero_dim(got.get(f"case{i}/shape"), _case(i))
        if verdict and own_shape in ("()", ""):  # a (1,) own penalty is charged by the penalties' check
            return verdict
    for i in range(len(PENALIZED_CASES)):
        verdict = ctx.compare("pen.penalized", [f"case{i}/value"], what=_case(i))
        if not verdict.passed and not _consistent(got, i):
            if PENALIZED_CASES[i][0] is None and verdict.mistake is None:
                verdict = fail(verdict.message, expected=verdict.expected, got=verdict.got,
                               mistake=N_("kind must default to 'l2' when it is not given"))
            return verdict
    return PASS


@checks.add("penalties.unknown_kind", points=3, title=N_("penalized_loss raises ValueError for an unknown kind"),
            contract=N_('penalized_loss: (case-sensitive: "L2" is an unknown kind), else `ValueError`'),
            probes=("pen.unknown_kind",), location="penalties.py:penalized_loss",
            hint=N_("An unknown kind is a caller's mistake: refuse it loudly with the exception Python uses for a "
                 "bad argument value. kind is case-sensitive: only 'l1' and 'l2' are kinds."))
def unknown_kind(ctx):
    got = ctx.got("pen.unknown_kind")
    for i, kind in enumerate(UNKNOWN_KINDS):
        raised = got[f"kind{i}/raised"]
        if "ValueError" not in raised.split(","):
            call = f"penalized_loss(..., kind={kind!r})"
            message = (_("{call} raised {error}").format(call=call, error=raised.split(",")[0]) if raised else
                       _("{call} returned a value").format(call=call))
            return fail(message, expected="ValueError", got=raised.split(",")[0] or _("no exception"),
                        mistake=N_("no ValueError for an unknown kind: a typo such as 'L3' would silently train "
                                "with the wrong penalty"))
    return PASS
