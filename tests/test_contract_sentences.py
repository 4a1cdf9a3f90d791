"""Every check names the contract sentence it enforces, and that sentence is in README's contract
table (or the note under it) — the checks demand nothing the contract does not say. The table's
signatures (and so their defaults) are the reference's and the stubs'."""
from __future__ import annotations

import inspect
import re

import pytest

from grader.checks import REGISTRY
from solution import data, model, penalties, train

from conftest import REPO


def _contract_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The student contract"):text.index("How the grader holds you to it")]
    return section


def _rows(section: str) -> dict[str, str]:
    """function name -> its table row ("experiment" for experiment.py's row)."""
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))] if line.startswith("|") else []
        if len(cells) == 3:
            match = re.match(r"`(\w+)\(", cells[1])
            name = match.group(1) if match else cells[0].strip("`").removesuffix(".py")
            rows[name] = line.replace("\\|", "|")
    return rows


@pytest.mark.parametrize("check", REGISTRY, ids=lambda c: c.id)
def test_every_check_names_a_sentence_of_the_contract(check):
    function, _sep, sentence = check.contract.partition(": ")
    assert function and sentence, f"{check.id}: contract {check.contract!r} is not 'function: sentence'"
    section = _contract_section()
    rows = _rows(section)
    assert function in rows, f"{check.id}: {function} has no row in README's contract table"
    note = section[section.rindex("|"):]  # what follows the table
    assert sentence in rows[function] or sentence in note, \
        f"{check.id}: {sentence!r} is not in {function}'s row of README's contract table"


def test_the_tables_signatures_are_the_references():
    rows = _rows(_contract_section())
    for module in (penalties, model, data, train):
        for name, fn in vars(module).items():
            if name in rows and getattr(fn, "__module__", "") == module.__name__:
                assert f"`{name}{inspect.signature(fn)}`".replace("'", '"') in rows[name], name


def test_the_stubs_keep_the_references_signatures():
    import assignment.data
    import assignment.model
    import assignment.penalties
    import assignment.train

    for ref, stub in ((penalties, assignment.penalties), (model, assignment.model), (data, assignment.data),
                      (train, assignment.train)):
        for name, fn in vars(ref).items():
            if inspect.isfunction(fn) or inspect.isclass(fn):
                if getattr(fn, "__module__", "") == ref.__name__:
                    assert inspect.signature(getattr(stub, name)) == inspect.signature(fn), name
                    assert getattr(stub, name).__doc__ == fn.__doc__, name


def test_a_failed_checks_contract_sentence_is_in_the_report_and_results_json():
    from grader import report_html
    from grader.results import CheckResult, Outcome, SubmissionResult

    check = next(c for c in REGISTRY if c.id == "train.evaluate_mode")
    failed = CheckResult(id=check.id, part=check.part, title=check.title, outcome=Outcome.FAILED, score=0.0,
                         max_score=check.points, message="x", contract=check.contract)
    result = SubmissionResult(name="s", checks=(failed,))
    assert SubmissionResult.from_dict(result.to_dict()).checks[0].contract == check.contract
    assert "parameters untouched (no gradient left on them)" in report_html.render_student(result)
