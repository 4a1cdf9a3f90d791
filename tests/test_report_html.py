"""The HTML writer: well-formed, escaped, complete pages for every kind of result."""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from grader import files, report_html
from grader.report_html import (check_stats, make_environment, render_student, render_summary, status,
                                svg_curves, write_student, write_summary)
from grader.results import PARTS, CheckResult, Outcome, SubmissionResult

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SVG_LEAVES = {"line", "polyline", "circle", "rect", "path"}
PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{ 7*7 }}", "</textarea>")
HOSTILE = " ".join(PAYLOADS)
NOT_MY_FAULT = "The grader failed here — not your fault, tell your TA"


class Page(HTMLParser):
    """Records tags, text with the elements around it, and nesting errors."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.texts: list[tuple[str, tuple[str, ...]]] = []
        self.feed(html)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID | SVG_LEAVES:
            self.errors.append(f"<{tag}/> cannot close itself")

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append(f"</{tag}> while open: {self.stack[-3:]}")
            if tag in self.stack:
                del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag):]

    def handle_data(self, data):
        if data.strip():
            self.texts.append((data, tuple(self.stack)))

    def text_with(self, needle: str) -> list[tuple[str, tuple[str, ...]]]:
        return [t for t in self.texts if needle in t[0]]

    def named(self, tag: str) -> list[dict]:
        return [attrs for t, attrs in self.tags if t == tag]


def parse(html: str) -> Page:
    page = Page(html)
    assert page.errors == []
    return page


# ---------------------------------------------------------------- results to render

def check(cid: str, outcome: Outcome, **kw) -> CheckResult:
    part = cid.split(".")[0]
    max_score = kw.pop("max_score", 2.0)
    score = kw.pop("score", max_score if outcome is Outcome.PASSED else 0.0)
    return CheckResult(id=cid, part=part, title=kw.pop("title", f"{cid} works"), outcome=outcome,
                       score=score, max_score=max_score, **kw)


def training(**overrides) -> dict:
    runs = {
        "baseline": {"train_loss": [2.0, 1.5, 1.2, 1.0], "test_loss": [2.1, 1.8, 1.7, 1.75], "final_test_loss": 1.75},
        "l2": {"train_loss": [2.0, 1.6, 1.3, 1.1], "test_loss": [2.1, 1.7, 1.6, 1.55], "final_test_loss": 1.55},
        "dropout": {"train_loss": [2.1, 1.7, 1.4, 1.2], "test_loss": [2.1, 1.7, 1.6, 1.7], "final_test_loss": 1.7},
    }
    return {"device": "cpu", "threshold": 0.1, "runs": runs, "margins": {"l2": 0.2, "dropout": 0.05}, **overrides}


CHECK_IDS = ["penalties.l1", "penalties.l2", "model.forward", "model.dropout_eval", "data.normalize",
             "train.one_epoch", "experiment.margins"]


def full_marks() -> SubmissionResult:
    return SubmissionResult(name="alice", checks=tuple(check(c, Outcome.PASSED, message="ok") for c in CHECK_IDS),
                            duration=12.5, output="epoch 1 loss 2.0\n", environment={"device": "cpu"},
                            extra={"training": training()})


def stubs() -> SubmissionResult:
    return SubmissionResult(name="stub", checks=tuple(
        check(c, Outcome.NOT_IMPLEMENTED, message="still raises NotImplementedError") for c in CHECK_IDS[:-1]))


def buggy() -> SubmissionResult:
    return SubmissionResult(
        name="bob",
        checks=(
            check("penalties.l1", Outcome.FAILED, title="L1 penalty matches the reference", score=0.5,
                  message="the penalty is too large", expected="tensor(1.5000)", got="tensor(3.0000)",
                  hint="sum |w|, do not square it", mistake="squared the weights", location="penalties.py:l1_penalty"),
            check("penalties.l2", Outcome.PASSED, title="L2 penalty matches the reference", message="ok"),
            check("model.forward", Outcome.ERROR, title="forward runs", message="RuntimeError: shapes",
                  traceback='File "model.py", line 12, in forward\n    return self.fc(x)\nRuntimeError: shapes',
                  location="model.py:MLP.forward"),
            check("model.dropout_eval", Outcome.GRADER_ERROR, title="dropout off in eval",
                  message="reference checkpoint missing"),
            check("train.one_epoch", Outcome.TIMEOUT, title="one epoch trains", message="ran past 60 s"),
            check("experiment.margins", Outcome.SKIPPED, title="regularization helps", message="--no-training"),
        ),
        duration=70.4,
        problems=("data.py: missing function get_loaders",),
        grader_error="worker lost contact",
        extra={"training": training(runs={"baseline": training()["runs"]["baseline"]}, margins={})},
    )


def hostile() -> SubmissionResult:
    evil = {k: HOSTILE for k in ("message", "expected", "got", "hint", "mistake", "location", "traceback")}
    return SubmissionResult(
        name=HOSTILE,
        checks=(check("penalties.l1", Outcome.FAILED, title=HOSTILE, **evil),
                check("penalties.l2", Outcome.PASSED, title=HOSTILE, message=HOSTILE),
                check("model.forward", Outcome.ERROR, title=HOSTILE, message="crashed " + HOSTILE)),
        source=HOSTILE, output=HOSTILE, problems=(HOSTILE,), grader_error=HOSTILE,
        environment={HOSTILE: HOSTILE},
        extra={"training": {"device": HOSTILE, "threshold": 0.1,
                            "runs": {HOSTILE: {"train_loss": [1.0, 0.5], "test_loss": [1.1, 0.9]}},
                            "margins": {HOSTILE: 0.3}}},
    )


ALL = [full_marks, stubs, buggy, hostile]


# ---------------------------------------------------------------- well-formed and safe

@pytest.mark.parametrize("make", ALL, ids=lambda f: f.__name__)
def test_student_page_is_well_formed_and_script_free(make):
    html = render_student(make())
    page = parse(html)
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html.lower() and page.named("script") == []
    assert page.named("meta")[1] == {"name": "viewport", "content": "width=device-width, initial-scale=1"}
    assert not [a for a in page.named("link") if a.get("rel") != "icon"], "no external resources"


def test_summary_is_well_formed_and_its_only_script_is_the_sort_script():
    html = render_summary([r() for r in ALL], links={}, elapsed=3.0)
    page = parse(html)
    assert len(page.named("script")) == 1
    source = (Path(report_html.__file__).parent / "templates" / "sort.js").read_text()
    assert f"<script>{source}</script>" in html
    assert html.count("<script") == 1


@pytest.mark.parametrize("render", [
    lambda: render_student(hostile()),
    lambda: render_summary([hostile(), buggy()], links={HOSTILE: "x/index.html"}, elapsed=1.0),
], ids=["student", "summary"])
def test_student_supplied_text_is_escaped_not_executed(render):
    html = render()
    page = parse(html)
    assert {t for t, _ in page.tags}.isdisjoint({"img", "textarea", "iframe", "object"})
    assert [(t, a) for t, a in page.tags for a in a if a.startswith("on")] == []
    assert '"><img' not in html and "</textarea>" not in html
    assert "{{ 7*7 }}" in html, "template syntax in data is shown, not evaluated"
    # The payload survives as text: escaped, not dropped.
    assert any(PAYLOADS[0] in text and "script" not in stack for text, stack in page.texts)
    assert page.text_with(PAYLOADS[1])


def test_dangerous_links_are_dropped():
    r = full_marks()
    page = parse(render_summary([r], links={r.name: "javascript:alert(1)"}, elapsed=1.0))
    assert [a["href"] for a in page.named("a")] == []


def test_strict_undefined_and_autoescape_are_on():
    env = make_environment()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("student.html.j2").render(csp="", result=full_marks())
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


# ---------------------------------------------------------------- student page content

def test_failed_checks_come_first_and_passed_ones_are_folded():
    page = parse(render_student(buggy()))
    failed = page.text_with("L1 penalty matches the reference")
    passed = page.text_with("L2 penalty matches the reference")
    assert len(failed) == len(passed) == 1
    assert page.texts.index(failed[0]) < page.texts.index(passed[0])
    assert "details" not in failed[0][1] and "details" in passed[0][1]


def test_check_details_are_shown():
    html = render_student(buggy())
    page = parse(html)
    for text in ("the penalty is too large", "tensor(1.5000)", "tensor(3.0000)", "sum |w|, do not square it",
                 "squared the weights", "penalties.py:l1_penalty", "data.py: missing function get_loaders"):
        assert page.text_with(text), text
    assert [stack[-1] for _, stack in page.text_with("tensor(3.0000)")] == ["pre"]
    assert [stack[-1] for _, stack in page.text_with("self.fc(x)")] == ["pre"]
    assert "details" not in page.text_with("squared the weights")[0][1]


def test_grader_errors_are_labelled_not_the_students_fault():
    html = render_student(buggy())
    assert html.count(NOT_MY_FAULT) == 1  # the one grader_error check
    assert "The grader failed — not your fault, tell your TA" in html  # SubmissionResult.grader_error
    assert html.index("worker lost contact") < html.index("Scores by part")
    assert NOT_MY_FAULT not in render_student(stubs())


def test_scores_per_part_in_parts_order_and_experiment_only_when_present():
    rows = lambda r: [t for t, stack in parse(render_student(r)).texts if stack[-2:] == ("tr", "td") and t in PARTS]
    assert rows(full_marks()) == ["penalties", "model", "data", "train", "experiment"]
    assert rows(stubs()) == ["penalties", "model", "data", "train"]


def test_output_is_in_a_collapsed_pre():
    page = parse(render_student(full_marks()))
    assert page.text_with("epoch 1 loss 2.0")[0][1][-2:] == ("details", "pre")


def test_all_stubs_has_nothing_folded_and_no_training():
    html = render_student(stubs())
    assert "<details" not in html and "Training experiment" not in html
    assert html.count('class="badge badge-not_implemented"') == 6


# ---------------------------------------------------------------- training curves

def polylines(html: str) -> dict[tuple[str, str], int]:
    return {(a["data-run"], a["data-series"]): len(a["points"].split()) for a in parse(html).named("polyline")}


def test_one_polyline_point_per_epoch():
    assert polylines(render_student(full_marks())) == {(n, s): 4 for n in ("baseline", "l2", "dropout")
                                                       for s in ("train", "test")}


def test_test_points_sit_at_the_epochs_they_were_evaluated():
    run = {"train_loss": [2.0 - 0.1 * i for i in range(10)], "test_loss": [1.9, 1.6], "test_epoch": [5, 10]}
    svg = parse(svg_curves({"baseline": run}, None, None)).named("polyline")
    xs = {a["data-series"]: [p.split(",")[0] for p in a["points"].split()] for a in svg}
    assert xs["test"] == [xs["train"][4], xs["train"][9]]
    ragged = parse(svg_curves({"baseline": {**run, "test_epoch": [5]}}, None, None)).named("polyline")
    assert [p.split(",")[0] for a in ragged if a["data-series"] == "test" for p in a["points"].split()] == \
        xs["train"][:2]  # epochs that do not match the values: one value an epoch, as before


def test_partial_training_data_is_drawn_as_far_as_it_goes():
    t = training()
    t["runs"]["l2"] = {"train_loss": [2.0, None, 1.3, float("nan")], "test_loss": [2.1, 1.7], "final_test_loss": None}
    t["runs"]["extra"] = {"train_loss": [None, None], "test_loss": [1.9, 1.8, 1.7, 1.6, 1.5, 1.4]}
    del t["runs"]["dropout"], t["margins"]["dropout"]
    html = render_student(SubmissionResult(name="p", checks=(), extra={"training": t}))
    assert polylines(html) == {("baseline", "train"): 4, ("baseline", "test"): 4, ("l2", "train"): 2,
                               ("l2", "test"): 2, ("extra", "test"): 6}
    assert "Runs missing: dropout." in html


def test_margin_bracket_shows_the_best_run_against_the_threshold():
    svg = svg_curves(training()["runs"], training()["margins"], 0.1)
    assert "baseline − l2" in svg and "margin 0.200" in svg and "≥ 0.1 ✓" in svg
    weak = svg_curves(training()["runs"], {"dropout": 0.05}, 0.1)
    assert "baseline − dropout" in weak and "&lt; 0.1 ✗" in weak
    assert "margin" not in svg_curves(training()["runs"], None, 0.1)


def test_chart_without_finite_values_says_so():
    assert "<svg" not in svg_curves({"baseline": {"train_loss": [None], "test_loss": []}}, {}, 0.1)
    assert "<svg" not in svg_curves({}, None, None)


def test_margins_table_gives_verdicts():
    page = parse(render_student(full_marks()))
    assert page.text_with("helped (≥ 0.1)") and page.text_with("not enough (< 0.1)")


# ---------------------------------------------------------------- summary

def test_crashed_is_read_from_the_cause_not_from_the_wording():
    from grader.results import status

    korean = SubmissionResult(name="x", checks=(
        check("model.forward", Outcome.ERROR, message="코드가 프로세스를 죽였습니다", cause="crashed"),))
    assert status(korean) == "crashed"
    assert status(SubmissionResult.from_dict(korean.to_dict())) == "crashed"  # results.json keeps the cause
    lookalike = SubmissionResult(name="y", checks=(
        check("model.forward", Outcome.ERROR, message="your code crashed the process: it says so itself"),))
    assert status(lookalike) == "ok"  # an error the score counts, not a crash


def crashed() -> SubmissionResult:
    return SubmissionResult(name="carol", checks=(
        check("model.forward", Outcome.ERROR, message="your code crashed the process: the process was killed by "
                                                      "SIGKILL", mistake="squared the weights", cause="crashed"),
        check("penalties.l1", Outcome.PASSED)))


def timed_out() -> SubmissionResult:
    return SubmissionResult(name="dave", checks=(check("train.one_epoch", Outcome.TIMEOUT, message="60 s"),))


def test_status_is_the_worst_trouble():
    assert [status(r()) for r in (full_marks, stubs, buggy, crashed, timed_out)] == [
        "ok", "incomplete", "grader_error", "crashed", "timeout"]


def test_summary_lists_submissions_with_links_scores_and_status():
    results = [full_marks(), buggy(), crashed(), timed_out()]
    html = render_summary(results, links={"alice": "alice/index.html", "bob": "bob/index.html"}, elapsed=61.0)
    page = parse(html)
    assert [a["href"] for a in page.named("a")][:2] == ["alice/index.html", "bob/index.html"]
    assert page.text_with("14 / 14") and page.text_with("100.0%")
    for label in ("ok", "grader error", "crashed", "timed out"):
        assert page.text_with(label)
    assert "Grading took 1 min 1 s (sum of per-submission times: 1 min 23 s)" in html


def test_histogram_has_ten_bins_holding_every_submission():
    results = [full_marks(), stubs(), buggy(), crashed()]
    rects = parse(render_summary(results, links={}, elapsed=1.0)).named("rect")
    assert len(rects) == 10
    heights = [float(r["height"]) for r in rects]
    # stub 0%, bob 2.5/12 = 21%, carol 50%, alice 100% (the top bin holds 100%)
    assert [i for i, h in enumerate(heights) if h > 0] == [0, 2, 5, 9]
    assert len({h for h in heights if h > 0}) == 1


def test_failure_rates_worst_first():
    stats = check_stats([full_marks(), stubs(), buggy()])
    rates = [s.rate for s in stats]
    assert rates == sorted(rates, reverse=True)
    by_id = {s.id: s for s in stats}
    assert (by_id["model.dropout_eval"].failed, by_id["model.dropout_eval"].ran) == (1, 2)  # grader error not counted
    assert by_id["model.dropout_eval"].grader_errors == 1
    assert by_id["experiment.margins"].ran == 1  # skipped not counted


def test_common_mistakes_count_students_and_link_them():
    results = [buggy(), crashed(), full_marks()]
    html = render_summary(results, links={"bob": "b.html", "carol": "c.html"}, elapsed=1.0)
    section = html[html.index("Most common mistakes"):html.index("Timed out, crashed")]
    assert "squared the weights" in section
    assert '<td class="num">2</td>' in section
    assert 'href="b.html"' in section and 'href="c.html"' in section


def test_troubles_section_names_each_problem():
    html = render_summary([buggy(), crashed(), timed_out(), full_marks()], links={}, elapsed=1.0)
    section = html[html.index("Timed out, crashed"):]
    for text in ("worker lost contact", "model.forward: your code crashed the process", "train.one_epoch: 60 s"):
        assert text in section
    assert "alice" not in section


# ---------------------------------------------------------------- writing

def test_writers_write_atomically_and_link_by_default(tmp_path):
    results = [full_marks(), buggy()]
    for r in results:
        assert write_student(r, tmp_path / r.name / "index.html").is_file()
    summary = write_summary(results, tmp_path, elapsed=2.0)
    assert summary == tmp_path / "index.html"
    hrefs = [a["href"] for a in parse(summary.read_text()).named("a")]
    assert "alice/index.html" in hrefs and all((tmp_path / h).is_file() for h in hrefs)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["index.html"] * 3


def test_failed_write_leaves_the_old_page_and_no_temporary_file(tmp_path, monkeypatch):
    path = write_student(full_marks(), tmp_path / "index.html")
    before = path.read_text()

    def broken_replace(src, dst):
        assert Path(src).read_text() == render_student(buggy()), "the whole page is written before the swap"
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_student(buggy(), path)
    assert path.read_text() == before
    assert list(tmp_path.iterdir()) == [path]


def test_the_headline_counts_every_status_so_the_counts_add_up():
    unsupported = SubmissionResult(name="erin", checks=(), intake="unsupported", problems=("a .rar",))
    broken_import = SubmissionResult(name="fay", checks=(check("penalties.l1", Outcome.PASSED),),
                                     modules={"model": "syntax_error"})
    results = [full_marks(), stubs(), buggy(), crashed(), timed_out(), unsupported, broken_import]
    html = render_summary(results, links={}, elapsed=1.0)
    headline = html.split('class="total"', 1)[1].split('<p class="meta">', 1)[1].split("</p>", 1)[0]
    counts = {label: int(n) for n, label in (part.strip().split(" ", 1) for part in headline.split(" · "))}
    assert counts == {"ok": 1, "incomplete": 1, "grader error": 1, "crashed": 1, "timed out": 1,
                      "unsupported": 1, "syntax error": 1}, headline
    assert sum(counts.values()) == len(results)
