"""Part 2: SmallCNN (20 points). The probes load seeded weights by the contract's names, so that the
logits say whether the layers are the contract's and are applied in its order."""
from __future__ import annotations

from grader.checks.registry import PASS, CheckList, fail
from grader.i18n import N_, _

checks = CheckList("model")


@checks.add("model.structure", points=6, title=N_("SmallCNN has the contract's layers, with and without batch "
            "normalization"),
            contract=N_("SmallCNN: exactly conv1, conv2, conv3 and fc, and bn1, bn2, bn3 when `batch_norm`, of the "
                        "contract's shapes"),  # and batch_norm=True by default: the table's signature
            probes=("model.structure",), location="model.py:SmallCNN.__init__",
            hint=N_("conv1 = nn.Conv2d(3, 8, 3, padding=1), conv2 = nn.Conv2d(8, 16, 3, padding=1), conv3 = "
                    "nn.Conv2d(16, 32, 3, padding=1), fc = nn.Linear(32 * 4 * 4, 10); bn1, bn2, bn3 = "
                    "nn.BatchNorm2d(8), (16), (32) only when batch_norm is true."))
def structure(ctx):
    wrong_default = ctx.defaults("model.structure", "SmallCNN")
    if wrong_default:
        return wrong_default
    got = ctx.got("model.structure")
    for key, with_bn in (("bn", True), ("plain", False)):
        if got[f"{key}/extra"]:
            return fail(_("SmallCNN(batch_norm={flag}) has parameters or buffers the contract does not name: "
                          "{names}").format(flag=with_bn, names=got[f"{key}/extra"].replace(";", ", ")),
                        mistake=N_("an extra layer: the contract's layers are the only ones with weights"))
    return ctx.compare("model.structure", ["bn/shapes", "plain/shapes"], what=N_("the layers of SmallCNN"))


@checks.add("model.eval_logits", points=6, title=N_("SmallCNN's logits in eval mode"),
            contract=N_("SmallCNN: `conv_k → bn_k (when batch_norm) → ReLU → 2×2 max-pooling` for k = 1, 2, 3, then "
                        "flatten and `fc`"),
            probes=("model.bn", "model.plain"), location="model.py:SmallCNN.forward",
            hint=N_("Each block is convolution, batch normalization (when there is one), ReLU, then 2×2 max-pooling; "
                    "the 32 × 4 × 4 features are flattened per image for fc, and fc's output is returned as it is."))
def eval_logits(ctx):
    for probe, what in (("model.bn", N_("SmallCNN(True) in eval mode")), ("model.plain", N_("SmallCNN(False) in eval "
                                                                                             "mode"))):
        verdict = ctx.compare(probe, ["eval"], what=what)
        if not verdict.passed:
            return verdict
    return PASS


@checks.add("model.train_mode", points=8, title=N_("SmallCNN in train mode: the batch's statistics, and the running "
            "ones updated"),
            contract=N_("SmallCNN: in train mode the batch's statistics, updated running ones; after `model.eval()` "
                        "the running ones"),
            probes=("model.bn", "model.plain"), location="model.py:SmallCNN.forward",
            hint=N_("Use the bn1..bn3 modules themselves in forward (not a new nn.BatchNorm2d, not "
                    "F.batch_norm(..., training=False)): they follow model.train() and model.eval() on their own."))
def train_mode(ctx):
    keys = ["train", *ctx.keys("model.bn", "after/")]
    verdict = ctx.compare("model.bn", keys, what=N_("SmallCNN(True) in train mode"))
    if not verdict.passed:
        return verdict
    return ctx.compare("model.plain", ["train"], what=N_("SmallCNN(False) in train mode"))
