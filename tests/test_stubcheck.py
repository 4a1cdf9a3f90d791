"""Only an untouched generated stub is "not implemented": read from the source as text."""
from __future__ import annotations

import re
import shutil

from grader import stubcheck, stubgen
from grader.outcome import ProbeOutcome, SandboxRun

from conftest import REPO


def _regions() -> set[str]:
    """Every "file.py:function" stubgen turns into a stub (its solution regions)."""
    found = set()
    for name, text in stubgen.generate(REPO / "solution").items():
        found |= {f"{name}:{m}" for m in re.findall(r'NotImplementedError\("([\w.]+) in ', text)}
    return found


def test_the_generated_stubs_are_untouched_and_nothing_else_is(tmp_path):
    assert stubcheck.untouched(REPO / "assignment") == _regions()
    assert stubcheck.untouched(REPO / "solution") == frozenset()


def test_a_notimplementederror_of_ones_own_is_the_code_raising(tmp_path):
    folder = tmp_path / "sub"
    shutil.copytree(REPO / "assignment", folder)
    text = (folder / "penalties.py").read_text()
    (folder / "penalties.py").write_text(text.replace(
        '    raise NotImplementedError("penalized_loss in penalties.py is not implemented yet")',
        '    if kind not in ("l1", "l2"):\n        raise NotImplementedError(f"unknown {kind}")\n'
        '    return loss + lmbd * {"l1": l1_penalty, "l2": l2_penalty}[kind](model) / batch_size / 2'))
    stubs = stubcheck.untouched(folder)
    assert "penalties.py:penalized_loss" not in stubs and "penalties.py:l1_penalty" in stubs
    run = SandboxRun({"a": ProbeOutcome("not_implemented", message="unknown L3"),
                      "b": ProbeOutcome("not_implemented", message="l1_penalty in penalties.py is not implemented yet"),
                      "c": ProbeOutcome("not_implemented",
                                        message="penalized_loss in penalties.py is not implemented yet")},
                     {}, "", 0, 0.0, ())
    statuses = {p: o.status for p, o in stubcheck.reclassify(run, stubs).outcomes.items()}
    assert statuses == {"a": "raised", "b": "not_implemented", "c": "raised"}
