"""Reports rendered from real gradings (the reference, the stubs, a buggy and a hostile submission)."""
import shutil

import pytest

from grader import report_html
from grader.results import Outcome
from test_report_html import parse

from conftest import REPO

PAYLOAD = "<script>alert('owned')</script>"


@pytest.fixture(scope="module")
def graded(grade, tmp_path_factory):
    hostile = tmp_path_factory.mktemp("hostile") / "hostile"
    shutil.copytree(REPO / "examples" / "complete", hostile)
    text = (hostile / "penalties.py").read_text()
    (hostile / "penalties.py").write_text(f"print({PAYLOAD!r})\n" + text.replace(
        "def l1_penalty(model):", f"def l1_penalty(model):\n    raise ValueError({PAYLOAD!r})", 1))
    return {"reference": grade(REPO / "solution"), "stubs": grade(REPO / "assignment"),
            "buggy": grade(REPO / "examples" / "typical_mistakes"), "hostile": grade(hostile)}


@pytest.mark.parametrize("name", ["reference", "stubs", "buggy", "hostile"])
def test_student_report_parses_and_escapes_everything_the_code_printed(graded, name, tmp_path):
    result = graded[name]
    path = report_html.write_student(result, tmp_path / "index.html")
    html = path.read_text()
    parse(html)
    assert PAYLOAD not in html
    assert f"{result.score:g}" in html


def test_the_hostile_payload_is_shown_escaped(graded):
    result = graded["hostile"]
    assert PAYLOAD in result.output
    failed = [c for c in result.checks if c.outcome is Outcome.ERROR]
    assert failed and PAYLOAD in failed[0].message
    html = report_html.render_student(result)
    assert "&lt;script&gt;alert(" in html


def test_class_summary_of_the_four(graded, tmp_path):
    page = report_html.write_summary(list(graded.values()), tmp_path, 12.5)
    html = page.read_text()
    parse(html)
    assert PAYLOAD not in html and all(r.name in html for r in graded.values())
