"""A cold check pays only for what its probes use (issue 22): the grader's optimizer updates exactly as
torch.optim.SGD does without importing torch's compiler, torchvision's heavy subpackages load on first
use in the worker, and no probe makes torch import its compiler (torch._dynamo, ~900 modules) or
sympy (a gradient passed as ``grad_outputs`` does)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from grader.worker.sgd import PlainSGD

from conftest import REPO


def _run(code: str) -> dict:
    """``code`` in a fresh interpreter (its imports are the point); it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3), nn.Linear(3, 2))


@pytest.mark.parametrize("set_to_none", [True, False])
def test_plain_sgd_updates_exactly_as_torch_optim_sgd(set_to_none):
    ours, theirs = _net(0), _net(0)
    opt_ours, opt_theirs = PlainSGD(ours.parameters(), lr=0.3), torch.optim.SGD(theirs.parameters(), lr=0.3)
    assert isinstance(opt_ours, torch.optim.Optimizer)
    x = torch.randn(7, 5)
    for step in range(4):
        for net, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad(set_to_none=set_to_none)
            # the last layer takes no part in every other step: a parameter without a gradient stays put
            out = net(x) if step % 2 else net[2](net[1](net[0](x)))
            out.square().sum().backward()
            opt.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)
    assert opt_ours.param_groups[0]["lr"] == 0.3 and "state" in opt_ours.state_dict()


def test_the_grader_optimizer_imports_no_compiler():
    code = ("import json, sys, torch; from grader.worker.sgd import PlainSGD\n"
            "p = torch.zeros(3, requires_grad=True); opt = PlainSGD([p], lr=0.1)\n"
            "p.sum().backward(); opt.step(); opt.zero_grad()\n"
            "print(json.dumps({'dynamo': 'torch._dynamo' in sys.modules}))")
    assert _run(code) == {"dynamo": False}


def test_torchvision_subpackages_are_deferred_and_work_on_first_use():
    code = ("import inspect, json, sys\n"
            "from grader.worker import lazyvision; lazyvision.install()\n"
            "import torch, torchvision\nfrom torchvision import transforms\nimport torchvision.ops as O\n"
            "inspect.getmodule(transforms.Normalize)  # reads __file__ of every module, as torch does\n"
            "before = 'torch._dynamo' in sys.modules\n"
            "t = transforms.Normalize((0.5,) * 3, (0.25,) * 3)(torch.ones(3, 2, 2))\n"
            "boxes = torch.tensor([[0., 0., 2., 2.], [0., 0., 2., 2.1]])\n"
            "kept = O.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist()\n"
            "from torchvision.models import *\n"
            "print(json.dumps({'dynamo_before_use': before, 'normalized': t[0, 0, 0].item(), 'kept': kept,\n"
            "                  'cifar': torchvision.datasets.CIFAR10.__name__, 'zoo': resnet18.__name__,\n"
            "                  'real': type(sys.modules['torchvision.ops']).__name__}))")
    assert _run(code) == {"dynamo_before_use": False, "normalized": 2.0, "kept": [0], "cifar": "CIFAR10",
                          "zoo": "resnet18", "real": "module"}


def test_no_probe_imports_torchs_compiler_or_sympy():
    """Every probe but the training run, on the reference as a student's code is run (untrusted: the
    layers' inputs read from per-sample gradients), in a process set up as a worker is."""
    code = ("import json, sys\n"
            "from grader.worker import lazyvision; lazyvision.install()\n"
            "from pathlib import Path\n"
            "from grader import reference\nfrom grader.worker.impl import Impl\n"
            "from grader.worker.probing import PROBES, run\n"
            "from grader import lab; lab.current().probes()\n"
            "ref = reference.load_reference(Path('solution'))\n"
            "student = Impl(dict(ref.modules), {})\n"
            "ran = [name for name in PROBES if not name.startswith('experiment') and run(student, name) is not None]\n"
            "print(json.dumps({'ran': len(ran), 'dynamo': 'torch._dynamo' in sys.modules,"
            " 'sympy': 'sympy' in sys.modules}))")
    result = _run(code)
    assert result["ran"] > 20
    assert result == {"ran": result["ran"], "dynamo": False, "sympy": False}
