"""Equivalence testing (bench/bench_equivalence.py runs 200 combinations): every form the table of
PyTorch equivalences makes of the reference keeps full marks, except the rules the table says are
non-equivalent under the contract (they must lose points). A rule that today's grader gets wrong
is an xfail (strict: it fails loudly once the grader is fixed, and the rule's ``grader_bug`` goes).
Graded in this process: the forms are the reference's code."""
import ast
import functools
import sys

import pytest

from conftest import REPO

sys.path[:0] = [str(REPO / "tests" / "fixtures"), str(REPO / "tests")]
import inprocess  # noqa: E402
from equivalence import Edit, Rule, apply, combinations, form_of, reference_trees, write  # noqa: E402
from equivalence_rules import RULES  # noqa: E402

from grader.checks import CORE, expected_probes  # noqa: E402
from grader.reference import expected_for  # noqa: E402

COMBINATIONS = 12


@pytest.fixture(scope="module")
def public_expected(tmp_path_factory):
    return expected_for(REPO / "solution", None, tmp_path_factory.mktemp("expected"), expected_probes(CORE))


@functools.lru_cache(maxsize=1)
def seeded_combinations():
    return combinations([r for r in RULES if r.expected_full and not r.grader_bug], COMBINATIONS, seed=21)


def lost(form, expected, tmp_path):
    results = inprocess.grade(write(form, tmp_path / "form"), expected)
    return [f"{r.id}: {r.message}" for r in results if r.score < r.max_score]


def test_the_table_has_forty_distinct_rules_that_each_change_the_reference():
    assert len(RULES) >= 40
    assert len({r.name for r in RULES}) == len(RULES)
    reference = {f: ast.unparse(t) for f, t in reference_trees().items()}
    for rule in RULES:
        form = form_of([rule])
        assert form is not None, f"{rule.name} does not apply to the reference"
        assert form.sources[rule.file] != reference[rule.file], rule.name


def test_a_repeated_metavariable_matches_the_same_expression_only():
    same = Rule("t", "penalties", (Edit("l2_penalty", "_W.pow(2).sum()", "(_W * _W).sum()"),))
    twice = Rule("t", "penalties", (Edit("l2_penalty", "_W.pow(_W)", "_W"),))
    trees = reference_trees()
    assert not apply(twice, trees["penalties"])      # w.pow(2): _W cannot be both w and 2
    assert apply(same, trees["penalties"])
    assert "(w * w).sum()" in ast.unparse(trees["penalties"])


def test_a_wrong_rewrite_loses_points_in_its_own_part(public_expected, tmp_path):
    wrong = Rule("l1_without_abs", "penalties", (Edit("l1_penalty", "_W.abs().sum()", "_W.sum()"),))
    failed = lost(form_of([wrong]), public_expected, tmp_path)
    assert failed and all(line.startswith("penalties.") for line in failed), failed


def _single(rule):
    if rule.grader_bug:
        return pytest.param(rule, id=rule.name, marks=pytest.mark.xfail(reason=f"grader bug: {rule.grader_bug}",
                                                                          strict=True))
    return pytest.param(rule, id=rule.name)


@pytest.mark.parametrize("rule", [_single(r) for r in RULES])
def test_every_single_rule_form_keeps_full_marks_unless_non_equivalent(rule, public_expected, tmp_path):
    failed = lost(form_of([rule]), public_expected, tmp_path)
    if rule.expected_full:
        assert not failed, "\n".join(failed)
    else:
        assert failed, f"{rule.name} breaks the contract ({rule.non_equivalent}) but keeps full marks"


@pytest.mark.parametrize("k", range(COMBINATIONS))
def test_seeded_combinations_of_equivalent_rules_keep_full_marks(k, public_expected, tmp_path):
    form = seeded_combinations()[k]
    assert len(form.rules) >= 2
    failed = lost(form, public_expected, tmp_path)
    assert not failed, form.name + "\n" + "\n".join(failed)
