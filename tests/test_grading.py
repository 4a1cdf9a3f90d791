"""Grading one submission end to end: the reference, the stubs, broken files, grader failures."""
import dataclasses
import re
import shutil

import pytest

from grader import grading
from grader.checks import REGISTRY
from grader.checks.registry import Check
from grader.results import Outcome

from conftest import REPO


def test_the_reference_gets_full_marks(grade):
    result = grade(REPO / "solution")
    assert result.score == result.max_score == 80
    assert set(result.parts()) == {"penalties", "model", "data", "train"}


def test_the_untouched_stubs_get_zero_with_a_not_implemented_message_per_check(grade):
    result = grade(REPO / "assignment")
    assert result.score == 0 and not result.problems
    for check in result.checks:
        assert check.outcome is Outcome.NOT_IMPLEMENTED, check
        assert "is not implemented yet" in check.message


def test_grading_twice_gives_the_same_result(grade):
    first, second = grade(REPO / "examples" / "typical_mistakes"), grade(REPO / "examples" / "typical_mistakes")
    strip = lambda r: [dataclasses.replace(c, duration=0.0) for c in r.checks]  # noqa: E731
    assert strip(first) == strip(second)


def _copy(tmp_path, **replace):
    sub = tmp_path / "sub"
    shutil.copytree(REPO / "solution", sub, ignore=shutil.ignore_patterns("__pycache__", "experiment.py"))
    for name, text in replace.items():
        if text is None:
            (sub / f"{name}.py").unlink()
        else:
            (sub / f"{name}.py").write_text(text)
    return sub


def test_a_syntax_error_costs_its_own_part_only_even_for_the_module_train_imports(grade, tmp_path):
    result = grade(_copy(tmp_path, penalties="def l1_penalty(model:\n"))
    assert result.parts()["penalties"] == (0, 20)
    assert result.parts()["train"] == (20, 20)  # train.py imports penalties: the grader's stand-in serves
    pen = [c for c in result.checks if c.part == "penalties"]
    assert all(c.outcome is Outcome.ERROR and "could not be imported" in c.message for c in pen)
    assert "SyntaxError" in pen[0].message and "penalties.py" in pen[0].message
    assert any("penalties.py could not be imported" in p for p in result.problems)


def test_a_missing_file_costs_its_part_with_a_clear_message(grade, tmp_path):
    result = grade(_copy(tmp_path, data=None))
    assert result.parts()["data"] == (0, 20) and result.parts()["model"] == (20, 20)
    assert all("data.py is missing" in c.message for c in result.checks if c.part == "data")


def test_a_repository_with_an_assignment_folder_is_accepted(grade, tmp_path):
    repo = tmp_path / "student-repo"
    shutil.copytree(REPO / "examples" / "complete", repo / "assignment")
    (repo / "README.md").write_text("my lab")
    assert grade(repo).score == 80


def test_not_a_folder_is_a_clear_error_not_a_crash(grade, tmp_path):
    result = grade(tmp_path / "nope")
    assert result.score == 0 and "is not a folder" in result.problems[0]


def test_a_check_that_breaks_is_a_grader_error_labelled_as_such(grade):
    def broken(ctx):
        raise KeyError("bug in the grader")
    check = dataclasses.replace(REGISTRY[0], judge=broken)
    result = grade(REPO / "solution", checks=(check,))
    assert result.checks[0].outcome is Outcome.GRADER_ERROR
    assert "not your fault" in result.checks[0].message
    assert not result.checks[0].outcome.student_fault


def test_expected_data_that_cannot_be_loaded_is_reported_not_raised(config, tmp_path):
    broken = dataclasses.replace(config, solution=tmp_path / "no-solution", expected=tmp_path / "no-expected")
    result = grading.grade_submission(REPO / "solution", broken)
    assert result.grader_error and result.score == 0
    assert all(c.outcome is Outcome.GRADER_ERROR for c in result.checks)


@pytest.mark.parametrize("check", REGISTRY, ids=lambda c: c.id)
def test_every_check_declares_its_metadata(check: Check):
    assert check.part in ("penalties", "model", "data", "train", "experiment")
    assert check.id.startswith(check.part + ".") and check.points > 0 and check.hint and check.title
    files = re.findall(r"\w+\.py", check.location)
    assert files and set(files) <= {"penalties.py", "model.py", "data.py", "train.py"}, check.location


def test_each_core_part_is_worth_twenty_points():
    for part in ("penalties", "model", "data", "train"):
        assert sum(c.points for c in REGISTRY if c.part == part) == 20
