"""Result files: Gradescope's results.json, grades.csv, junit.xml, and the dict round trip."""
import csv
import io
import json
from xml.etree import ElementTree as ET

import pytest

from grader.results import CheckResult, Outcome, SubmissionResult
from grader.writers import gradescope, tables, terminal

GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def results(grade):
    from conftest import REPO

    return [grade(REPO / "solution", name="ref"), grade(REPO / "assignment", name="stubs"),
            grade(REPO / "examples" / "typical_mistakes", name="buggy")]


def test_round_trip_through_plain_dicts(results):
    for r in results:
        again = SubmissionResult.from_dict(json.loads(json.dumps(r.to_dict())))
        assert again == r


def test_results_json_follows_gradescope_with_the_part_as_first_tag(results, tmp_path):
    for r in results:
        path = gradescope.write(r, tmp_path / r.name)
        data = json.loads(path.read_text())
        assert data["score"] == r.score and data["execution_time"] >= 0 and isinstance(data["output"], str)
        assert len(data["tests"]) == len(r.checks)
        for test, check in zip(data["tests"], r.checks):
            assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility", "tags"}
            assert test["tags"][0] == check.part and test["status"] in ("passed", "failed")
            assert test["visibility"] in GRADESCOPE_VISIBILITY
        assert gradescope.read(path) == r
        assert not list(path.parent.glob(".results.json.*"))  # no temporary file left


def test_the_top_level_output_says_where_to_look_first(results):
    out = gradescope.to_gradescope(results[2])["output"]
    assert "Look first at penalties.py:l1_penalty" in out and "biases" in out
    assert "Every check passed" in gradescope.to_gradescope(results[0])["output"]


def test_hidden_checks_are_published_after_grades(results):
    import dataclasses

    r = results[0]
    hidden = dataclasses.replace(r, checks=(dataclasses.replace(r.checks[0], hidden=True),) + r.checks[1:])
    assert gradescope.to_gradescope(hidden)["tests"][0]["visibility"] == "after_published"


def test_grades_csv_has_one_row_per_submission_and_a_column_per_part(results):
    rows = list(csv.DictReader(io.StringIO(tables.grades_csv(results))))
    assert [r["name"] for r in rows] == ["ref", "stubs", "buggy"]
    assert rows[0]["total"] == "80" and rows[1]["penalties"] == "0" and rows[0]["status"] == "ok"


def test_junit_xml_counts_failures_and_errors(results):
    root = ET.fromstring(tables.junit_xml(results))
    suites = {s.get("name"): s for s in root}
    assert suites["ref"].get("failures") == "0" and suites["ref"].get("errors") == "0"
    assert int(suites["stubs"].get("errors")) == len(results[1].checks)
    assert int(suites["buggy"].get("failures")) > 0


def test_terminal_summary_names_the_mistake_and_where_to_look(results):
    text = terminal.render(results[2])
    assert "Likely mistake: the penalty includes the biases" in text
    assert "Where to look: penalties.py:l1_penalty" in text
    assert "\033[" not in text  # no colour codes unless asked


def test_outcomes_are_a_fixed_set():
    assert {o.value for o in Outcome} == {"passed", "failed", "error", "timeout", "not_implemented", "skipped",
                                          "grader_error"}
    with pytest.raises(ValueError):
        CheckResult.from_dict({"id": "x", "part": "model", "title": "t", "outcome": "maybe", "score": 0,
                               "max_score": 1})


def test_without_training_every_score_says_what_was_not_run(results, tmp_path):
    """--no-training: the training check's points are in neither score nor maximum, and each place a
    score is shown says so, with the points its declarations give."""
    import dataclasses

    from grader.checks import TRAINING
    from grader.report_html import render_student, render_summary
    from grader.writers import github

    points = sum(c.points for c in TRAINING)
    note = f"training check not run ({points:g} points)"
    ref = results[0]
    assert ref.not_run == {"experiment": points} and ref.max_score == 80
    data = json.loads(gradescope.write(ref, tmp_path / "ref").read_text())
    shown = {"terminal": terminal.render(ref), "results.json": data["output"],
             "step summary": github.summary(ref, tmp_path), "student page": render_student(ref),
             "class summary": render_summary(results, links={}, elapsed=1.0)}
    assert {where: note in text for where, text in shown.items()} == dict.fromkeys(shown, True)
    assert f"{note}: 3 submissions" in shown["class summary"]
    assert gradescope.read(tmp_path / "ref" / gradescope.RESULTS_FILE).not_run == ref.not_run
    trained = dataclasses.replace(ref, not_run={})
    assert not any(note in text for text in (terminal.render(trained), render_student(trained),
                                             gradescope.to_gradescope(trained)["output"]))
