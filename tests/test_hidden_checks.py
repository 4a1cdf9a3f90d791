"""A hidden check leaves nothing behind in the student release.

Each registered check is hidden in turn. Either the build stops and names a public check that needs
the same value, or the data the release would ship holds no value the hidden check looks at — found
here without the build's tracing: each value is changed, as the expected data and as a student's
result alike, and the hidden check's verdicts are watched — and the public checks, run from the
packaged data, judge the reference (full marks) and every known mistake exactly as with the full data.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from grader.checks import REGISTRY
from grader.checks.registry import Context
from grader.config import Config
from grader.judge import judge
from grader.reference import REFERENCE, Expected, load, save
from grader.release import (MANIFEST, ReleaseError, expected_probes, expected_reads, hidden_data, needs_expected,
                            select_checks, without_values)
from grader.results import Outcome
from grader.outcome import ProbeOutcome, SandboxRun

REPO = Path(__file__).resolve().parent.parent
COMPARED = tuple(c for c in REGISTRY if needs_expected(c))
BY_ID = {c.id: c for c in REGISTRY}
STOP = re.compile(r"hidden check (\S+) reads the expected '(.+)' of probe (\S+) \((\S+)\), which public check (\S+) "
                  r"reads too")


def changes(value) -> list:
    """Different values of the same kind (what a check that reads the value would notice)."""
    if isinstance(value, (bool, np.bool_)):
        return [not value]
    if isinstance(value, str):
        return ["x" + value]
    if value is None:
        return ["x"]
    if isinstance(value, (int, float)):
        return [value + 1]
    a = np.asarray(value)
    if a.dtype == bool:
        return [~a]
    if a.dtype.kind not in "iuf" or not a.size:
        return []
    return [a + 1, np.zeros_like(a), np.sort(a, axis=None).reshape(a.shape)]


def with_value(expected: Expected, read: tuple[str, str, str], value) -> Expected:
    variant, probe, key = read
    rows = dict(expected.table[variant])
    rows[probe] = replace(rows[probe], values={**rows[probe].values, key: value})
    return Expected({**expected.table, variant: rows}, expected.mistakes)


def results(check, expected: Expected) -> list[tuple[str, dict]]:
    """Each variant's results on the check's probes (the reference's on the probes it leaves alone)."""
    reference = expected.table[REFERENCE]
    found = []
    for name, rows in expected.table.items():
        picked = {p: rows.get(p, reference.get(p)) for p in check.probes}
        if all(o is not None and o.ok for o in picked.values()):
            found.append((name, {p: o.values for p, o in picked.items()}))
    return found


def verdicts(check, expected: Expected) -> list:
    out = []
    for name, student in results(check, expected):
        try:
            with np.errstate(all="ignore"):
                out.append((name, check.judge(Context(student, expected))))
        except Exception as exc:  # noqa: BLE001 - compared as such
            out.append((name, type(exc).__name__))
    return out


def values_of(expected: Expected, probes) -> set[tuple[str, str, str]]:
    return {(v, p, k) for v, rows in expected.table.items() for p, o in rows.items() if p in probes
            for k in o.values}


def looked_at(check, expected: Expected, reads) -> set[tuple[str, str, str]]:
    """The values among ``reads`` whose change alters what ``check`` decides on some variant's results."""
    base = verdicts(check, expected)
    found = set()
    for read in reads:
        if any(verdicts(check, with_value(expected, read, value)) != base
               for value in changes(expected.table[read[0]][read[1]].values[read[2]])):
            found.add(read)
    return found


def as_run(student: dict) -> SandboxRun:
    return SandboxRun({p: ProbeOutcome("ok", values=v) for p, v in student.items()}, {}, "", 1, 0.0, ())


def judged(check, student: dict, expected: Expected) -> tuple:
    r = judge(check, as_run(student), expected)
    return r.outcome, r.score, r.message, r.expected, r.got, r.mistake


@pytest.mark.parametrize("hidden_id", [c.id for c in COMPARED])
def test_each_check_hidden_in_turn_is_withheld_or_stops_the_build(hidden_id, expected, tmp_path):
    check = BY_ID[hidden_id]
    public = tuple(c for c in REGISTRY if c.id != hidden_id)
    looked = looked_at(check, expected, values_of(expected, check.probes))
    assert looked, f"{hidden_id}: changing its values changes nothing here: the test cannot see what it reads"
    try:
        withheld = hidden_data(expected, public, (check,))
    except ReleaseError as exc:
        m = STOP.search(str(exc))
        assert m and m.group(1) == hidden_id, str(exc)
        key, probe, variant, other = m.group(2, 3, 4, 5)
        read = (variant, probe, key)
        # The value named is one both checks decide on: the build cannot ship it, nor leave it out.
        assert read in looked and other in {c.id for c in public} and looked_at(BY_ID[other], expected, {read})
        return
    only_hidden = set(expected_probes((check,))) - set(expected_probes(public))
    packaged = tmp_path / "grader" / "expected" / "expected"
    save(without_values(expected.without(only_hidden), withheld), packaged)
    (packaged.parent / MANIFEST).write_text(json.dumps({"kind": "test", "hidden_checks": 1}))
    shipped = load(packaged)
    leaked = looked & values_of(shipped, check.probes)
    assert not leaked, f"{hidden_id} looks at these shipped values: {sorted(leaked)[:5]}"
    selection = select_checks(Config(solution=tmp_path / "no-solution", expected=packaged, training=False), public)
    assert [c.id for c in selection.checks] == [c.id for c in COMPARED if c.id != hidden_id]
    for other in selection.checks:  # from the packaged data: the reference passes, every mistake is judged as before
        for name, student in results(other, expected):
            got = judged(other, student, selection.expected)
            assert got == judged(other, student, expected), (other.id, name)
            assert name != REFERENCE or got[0] is Outcome.PASSED, (other.id, got)


def test_the_issue_cases_flatten_stops_the_build_and_evaluate_mode_is_withheld(expected):
    public = lambda *ids: tuple(c for c in REGISTRY if c.id not in ids)  # noqa: E731
    with pytest.raises(ReleaseError, match="hidden check model.flatten reads the expected 'out' of probe model.eval "
                                           r"\(reference\), which public check model.eval_output reads too"):
        hidden_data(expected, public("model.flatten"), (BY_ID["model.flatten"],))
    mode = BY_ID["train.evaluate_mode"]
    withheld = hidden_data(expected, public(mode.id), (mode,))
    keys = {k for v, p, k in withheld if (v, p) == (REFERENCE, "train.evaluate")}
    assert {"calls", "grads_left", "grad_mode_kept", "loss_float", "acc_float"} <= keys
    assert any(k.startswith("before/") for k in keys) and any(k.startswith("after/") for k in keys)
    assert not keys & {"acc", "loss"}  # train.evaluate_values (public) compares with them


def test_a_public_check_that_decides_from_a_withheld_key_stops_the_build(expected):
    """Listing keys reads no value; a public check that lists the keys a hidden one reads would still
    judge differently without them, and the build says so rather than ship a weaker check."""
    from grader.checks.registry import PASS, fail

    lists = replace(BY_ID["train.evaluate_values"], id="copy.lists_keys",
                    judge=lambda ctx: PASS if ctx.keys("train.evaluate", "before/") else fail("no parameters"))
    with pytest.raises(ReleaseError, match="hidden check train.evaluate_mode .*public check copy.lists_keys needs"):
        hidden_data(expected, (lists,), (BY_ID["train.evaluate_mode"],))


def test_the_trace_sees_every_way_of_reading_a_value():
    import copy
    import pickle

    from grader.release import _Reads

    def reads(use) -> set:
        log: set = set()
        use(_Reads({"a": 1, "b": np.arange(3)}, log, ("v", "p")))
        return {k for _, _, k in log}

    both = {"a", "b"}
    for use, want in [(lambda d: d["a"], {"a"}), (lambda d: d.get("b"), {"b"}), (lambda d: d.get("c"), set()),
                      (lambda d: list(d.values()), both), (lambda d: list(d.items()), both), (dict, both),
                      (lambda d: {**d}, both), (lambda d: d.copy(), both), (lambda d: d | {}, both),
                      (lambda d: {} | d, both), (copy.copy, both), (copy.deepcopy, both), (pickle.dumps, both),
                      (repr, both), (str, both), (lambda d: d == {"a": 1}, both), (lambda d: d.pop("a"), {"a"}),
                      (lambda d: d.setdefault("b"), {"b"}), (lambda d: d.popitem(), both),
                      (lambda d: "a" in d, set()), (list, set()), (lambda d: sorted(d.keys()), set()),
                      (len, set())]:
        assert reads(use) == want, use


def test_a_release_build_with_the_issue_set(expected, tmp_path):
    """``python -m grader release`` with the issue's hidden set stops at model.flatten; without it, the
    release holds nothing penalties.l1_value or train.evaluate_mode reads (and its own check of the
    built grader passes the reference)."""
    from grader.cifar_fixture import write_fixture

    data = write_fixture(tmp_path / "cifar", n_train=1200, n_test=2100)  # for builds that package training data

    def build(hidden: str, out: Path) -> subprocess.CompletedProcess:
        env = {**os.environ, "REGLAB_HIDDEN": hidden, "REGLAB_DATA": str(data)}
        return subprocess.run([sys.executable, "-m", "grader", "release", "--out", str(out)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)

    stopped = build("penalties.l1_value,model.flatten,train.evaluate_mode", tmp_path / "stopped")
    assert stopped.returncode != 0 and "public check model.eval_output" in stopped.stdout + stopped.stderr
    assert not (tmp_path / "stopped").exists() or not any((tmp_path / "stopped").iterdir())
    built = build("penalties.l1_value,train.evaluate_mode", tmp_path / "lab")
    assert built.returncode == 0, built.stdout + built.stderr
    shipped = load(tmp_path / "lab" / "grader" / "expected" / "expected")
    for hidden_id in ("penalties.l1_value", "train.evaluate_mode"):
        reads = expected_reads(BY_ID[hidden_id], expected)
        assert reads and not reads & values_of(shipped, BY_ID[hidden_id].probes), hidden_id
    assert {"acc", "loss"} <= set(shipped.reference("train.evaluate").values)
    assert "calls" not in shipped.reference("train.evaluate").values
