"""The reports in a real browser: headless Chromium renders them without console errors.

Needs the Debian package ``chromium`` (``apt-get install -y chromium``); skipped without it.
Set REGLAB_SAVE_SCREENSHOTS=1 to keep the screenshots in bench/screenshots/.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.report_html import write_student, write_summary
from grader.results import CheckResult, Outcome, SubmissionResult

CHROMIUM = shutil.which("chromium") or shutil.which("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "bench" / "screenshots"
# Chromium logs every console message as ":INFO:CONSOLE..."; our pages log nothing, so any is a problem.
CONSOLE_MARKERS = (":CONSOLE", "Uncaught", "SyntaxError", "Refused", "violates the following Content Security Policy")
HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(1)> {{ 7*7 }} </textarea>'
CURVES = {"device": "cpu", "threshold": 0.1, "margins": {"l2": 0.15, "dropout": -0.02},
          "runs": {name: {"train_loss": [2.2 - 0.2 * e - 0.01 * k for e in range(8)],
                          "test_epoch": [2, 4, 6, 8],
                          "test_loss": [2.3 - 0.15 * e + (0.02 * e * e if k == 0 else 0) - 0.03 * k for e in (2, 4, 6, 8)]}
                   for k, name in enumerate(("baseline", "l2", "dropout"))}}


def check(i: int, part: str, o: Outcome, message: str) -> CheckResult:
    wrong = o is Outcome.FAILED
    return CheckResult(
        id=f"{part}.check{i}", part=part, title=f"{part} check {i}", outcome=o,
        score=2.0 if o is Outcome.PASSED else 0.0, max_score=2.0, message=message or f"{o.value} here",
        expected="tensor(1.5)" if wrong else None, got="tensor(3.0)" if wrong else None,
        hint="read the formula again" if wrong else None, mistake="squared the weights" if wrong else None,
        location=f"{part}.py:f{i}",
        traceback='File "model.py", line 3, in f\nValueError: bad shape' if o is Outcome.ERROR else None)


def result(name: str, *outcomes: Outcome, message: str = "", **kw) -> SubmissionResult:
    """One check per outcome, taking the parts in turn."""
    parts = ("penalties", "model", "data", "train", "experiment") * 3
    checks = tuple(check(i, part, o, message) for i, (o, part) in enumerate(zip(outcomes, parts)))
    return SubmissionResult(name=name, checks=checks, duration=3.0, output="epoch 1: 2.3\n", **kw)


def chromium(profile: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, url],
        capture_output=True, text=True, timeout=90, check=True)


def console_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(m in line for m in CONSOLE_MARKERS)]


def screenshot(tmp_path: Path, page: Path, name: str, keep: bool = True) -> Path:
    png = tmp_path / f"{name}.png"
    # A virtual-time budget lets the page settle (fonts, layout) before the picture is taken: without it
    # a loaded machine sometimes shoots a frame early, and two renders of one page differ.
    run = chromium(tmp_path / "profile", page.as_uri(), f"--screenshot={png}", "--window-size=1200,1600",
                   "--virtual-time-budget=5000", "--hide-scrollbars", "--force-device-scale-factor=1")
    assert console_problems(run.stderr) == []
    assert png.is_file()
    if keep and os.environ.get("REGLAB_SAVE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, SCREENSHOTS / png.name)
    return png


def assert_not_blank(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (1200, 1600)
        colours = rgb.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50, "a rendered report has text, badges and bars, so many colours"
    white = next((n for n, c in colours if c == (255, 255, 255)), 0)
    assert white < 0.97 * 1200 * 1600


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    P, F, E, T, N, G = (Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.TIMEOUT, Outcome.NOT_IMPLEMENTED,
                        Outcome.GRADER_ERROR)
    results = [result("alice", P, P, P, P, P, extra={"training": CURVES}),
               result("bob", F, E, G, T, P, P, extra={"training": CURVES}, grader_error="worker lost contact"),
               result("stub", N, N, N, N), result("carol", E, P, message="killed by signal 9"),
               result(HOSTILE, F, P, message=HOSTILE, problems=(HOSTILE,))]
    for r in results:
        write_student(r, out / r.name / "index.html")
    write_summary(results, out, elapsed=42.0)
    return out


def test_student_report_renders(batch, tmp_path):
    page = batch / "bob" / "index.html"
    assert_not_blank(screenshot(tmp_path, page, "student"))
    dom = chromium(tmp_path / "profile", page.as_uri(), "--dump-dom").stdout
    for heading in ("<h1>bob</h1>", "Scores by part", "Checks that did not pass (4)", "Training experiment"):
        assert heading in dom
    assert "<polyline" in dom


def test_summary_renders_and_its_sort_script_runs(batch, tmp_path):
    assert_not_blank(screenshot(tmp_path, batch / "index.html", "summary"))
    run = chromium(tmp_path / "profile", (batch / "index.html").as_uri(), "--dump-dom")
    assert console_problems(run.stderr) == []
    assert "<h1>Class summary</h1>" in run.stdout
    # The script turns each heading into a button; that it ran shows the CSP hash lets it.
    assert '<th><button type="button">Submission</button></th>' in run.stdout


def test_hostile_report_runs_nothing(tmp_path):
    evil = result(HOSTILE, Outcome.FAILED, Outcome.ERROR, message=HOSTILE, problems=(HOSTILE,), grader_error=HOSTILE)
    page = write_student(evil, tmp_path / "hostile" / "index.html")
    run = chromium(tmp_path / "profile", page.as_uri(), "--dump-dom")
    assert console_problems(run.stderr) == []
    assert "<script" not in run.stdout and "<img" not in run.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in run.stdout


def test_console_check_catches_errors(tmp_path):
    """The console check itself can fail: a page with a script error and a blocked script."""
    page = tmp_path / "broken" / "index.html"
    page.parent.mkdir()
    page.write_text("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
                    "content=\"script-src 'sha256-AAAA'\"></head><body><h1>x</h1>"
                    "<script>undefinedFunction()</script></body></html>")
    blocked = console_problems(chromium(tmp_path / "profile", page.as_uri(), "--dump-dom").stderr)
    page.write_text("<!DOCTYPE html><html><body><script>undefinedFunction()</script></body></html>")
    uncaught = console_problems(chromium(tmp_path / "profile", page.as_uri(), "--dump-dom").stderr)
    assert blocked and "Uncaught" in " ".join(uncaught)


# ---------------------------------------------------------------- Korean: Hangul glyphs, not tofu

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def korean_check(i: int, part: str, o: Outcome) -> CheckResult:
    wrong = o is Outcome.FAILED
    return CheckResult(
        id=f"{part}.check{i}", part=part, title=f"{part} 검사 {i}: 가중치의 L2 penalty", outcome=o,
        score=2.0 if o is Outcome.PASSED else 0.0, max_score=2.0,
        message="l2_penalty(DropoutMLP)의 값이 기댓값과 다릅니다" if wrong else "여기서는 실행되지 않았습니다",
        expected="tensor(1.5)" if wrong else None, got="tensor(3.0)" if wrong else None,
        hint="슬라이드 'L2 loss in LogisticRegression'의 식을 다시 확인하세요" if wrong else None,
        mistake="bias까지 더했습니다" if wrong else None, location=f"{part}.py:f{i}")


@pytest.fixture(scope="module")
def korean_batch(tmp_path_factory) -> Path:
    from grader import i18n

    out = tmp_path_factory.mktemp("reports-ko")
    P, F, N, T = Outcome.PASSED, Outcome.FAILED, Outcome.NOT_IMPLEMENTED, Outcome.TIMEOUT
    parts = ("penalties", "model", "data", "train", "experiment")
    results = [SubmissionResult(name=name, duration=75.0, output="epoch 1: 2.3\n", extra={"training": CURVES},
                                checks=tuple(korean_check(i, p, o) for i, (o, p) in enumerate(zip(outcomes, parts))))
               for name, outcomes in (("김민수", (F, P, N, T, P)), ("이서연", (P, P, P, P, P)), ("박지훈", (N, N, N, N)))]
    i18n.activate("ko")
    try:
        for r in results:
            write_student(r, out / r.name / "index.html")
        write_summary(results, out, elapsed=42.0)
    finally:
        i18n.activate("en")
    return out


def pixels_differing(a: Path, b: Path) -> float:
    from PIL import Image, ImageChops

    with Image.open(a) as x, Image.open(b) as y:
        diff = ImageChops.difference(x.convert("RGB"), y.convert("RGB")).convert("L")
        return diff.point(lambda v: 255 if v > 32 else 0).histogram()[255] / (diff.size[0] * diff.size[1])


def as_tofu(page: Path, out: Path, missing: str) -> Path:
    """The same page with every Hangul syllable replaced by a code point no font has: what the page
    would look like if the Korean fonts were missing (each character drawn as the .notdef box)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(HANGUL.sub(missing, page.read_text(encoding="utf-8")), encoding="utf-8")
    return out


@pytest.mark.parametrize("page, name", [("김민수/index.html", "student-ko"), ("index.html", "summary-ko")])
def test_korean_reports_draw_hangul_glyphs_not_boxes(korean_batch, tmp_path, page, name):
    page = korean_batch / page
    html = page.read_text(encoding="utf-8")
    assert '<html lang="ko">' in html and len(HANGUL.findall(html)) > 200
    dom = chromium(tmp_path / "profile", page.as_uri(), "--dump-dom").stdout
    assert ("파트별 점수" if name == "student-ko" else "수업 전체 요약") in dom
    real = screenshot(tmp_path, page, name)
    assert_not_blank(real)
    tofu = screenshot(tmp_path, as_tofu(page, tmp_path / "tofu" / page.name, "\u0378"), f"{name}-tofu", keep=False)
    other_tofu = screenshot(tmp_path, as_tofu(page, tmp_path / "tofu2" / page.name, "\u0379"), f"{name}-tofu2", keep=False)
    # Missing glyphs look almost alike (Chromium draws some as boxes holding their code point, so two
    # kinds of tofu differ a little): that difference is the detector's noise floor.
    noise = pixels_differing(tofu, other_tofu)
    # The real page differs from its tofu version wherever there is Korean text: Hangul was drawn.
    differing = pixels_differing(real, tofu)
    print(f"{name}: {differing:.2%} of the pixels differ from the tofu version (two tofu renders: {noise:.3%})")
    assert differing > max(0.005, 5 * noise)
