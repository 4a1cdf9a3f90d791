"""Languages: the catalogs are complete and consistent with the code, the language is chosen as
documented, and what was converted reads Korean when Korean is chosen (English by default)."""
from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from grader import i18n
from grader.results import CheckResult, Outcome, SubmissionResult

REPO = Path(__file__).resolve().parents[1]
GRADER = REPO / "grader"
LABS = REPO / "labs"
# Each lab's messages (its checks, its known mistakes) are in its own catalog; the grader's in its own.
LAB_DIRS = tuple(p for p in sorted(LABS.iterdir()) if (p / "__init__.py").is_file())
CATALOGS = (GRADER / "locale", *(lab / "locale" for lab in LAB_DIRS))
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def po(lang: str, folder: Path = GRADER / "locale"):
    with open(folder / lang / "LC_MESSAGES" / "reglab.po", "rb") as fh:
        return read_po(fh, locale=lang)


def ids_in_python() -> set[str]:
    """Every literal passed to _(), N_() or ngettext() in grader/ and labs/, found by walking the syntax tree."""
    return i18n.message_ids(GRADER, templates=False) | i18n.message_ids(LABS, templates=False)


def extracted(method_dir: str, cfg: Path = REPO / "babel.cfg", root: Path = REPO) -> set[str]:
    """What pybabel extract finds with the project's babel.cfg (or a lab's, from the lab's folder), for
    one of its sections."""
    from babel.messages.frontend import parse_mapping_cfg

    with open(cfg, encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    ids = set()
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(root), method_map, options_map, keywords={"_": None, "N_": None, "ngettext": (1, 2)}):
        if filename.startswith(method_dir):
            ids.update(message if isinstance(message, tuple) else (message,))
    return ids


def ids_in_templates() -> set[str]:
    ids = extracted("grader/templates")
    assert "Scores by part" in ids  # the Jinja extractor ran
    return ids


def placeholders(text: str) -> tuple[list[str], list[str], int]:
    """({name} fields, %(name)s fields, bare %s/%d count) of a message."""
    braces = sorted(set(re.findall(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}(?!\})", text)))
    named = sorted(set(re.findall(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)[sdfr]", text)))
    return braces, named, len(re.findall(r"%[sdfr]", text))


# ---------------------------------------------------------------- the catalogs


def test_every_message_in_code_and_templates_is_in_both_catalogs():
    """The grader's messages in the grader's catalogs; each lab's in that lab's."""
    for folder, used in ((GRADER, i18n.message_ids(GRADER)),
                         *((lab, i18n.message_ids(lab, templates=False)) for lab in LAB_DIRS)):
        for lang in ("ko", "en"):
            catalog = po(lang, folder / "locale")
            have = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
            have |= {m.id[1] for m in catalog if isinstance(m.id, tuple)}
            missing = sorted(used - have)
            assert not missing, f"not in {folder.name}'s {lang} catalog (README 'Languages'): {missing}"


def test_pybabel_extract_sees_every_python_message():
    """A message pybabel cannot see (an _() inside an f-string) would silently drop out at the next update."""
    lab_cfg = LABS / "babel.cfg"
    unseen = ids_in_python() - extracted("grader/") - set().union(*(extracted("", lab_cfg, lab) for lab in LAB_DIRS))
    assert not unseen, f"_() calls pybabel does not extract (move them out of f-strings): {sorted(unseen)}"


@pytest.mark.parametrize("folder", CATALOGS, ids=lambda f: f.parent.name)
def test_korean_is_complete_and_nothing_is_fuzzy(folder):
    catalog = po("ko", folder)
    assert catalog.num_plurals == 1  # Korean has one plural form
    for m in catalog:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(s.strip() for s in strings), f"empty Korean entry: {m.id!r}"
        assert not m.fuzzy, f"fuzzy Korean entry: {m.id!r}"
        assert all(HANGUL.search(s) or s == (m.id if isinstance(m.id, str) else m.id[0]) for s in strings), \
            f"the Korean entry for {m.id!r} has no Hangul and differs from the English: {strings!r}"


@pytest.mark.parametrize("folder", CATALOGS, ids=lambda f: f.parent.name)
@pytest.mark.parametrize("lang", ["ko", "en"])
def test_placeholders_match_between_source_and_translation(lang, folder):
    for m in po(lang, folder):
        if not m.id:
            continue
        sources = (m.id,) if isinstance(m.id, str) else m.id
        strings = [s for s in ((m.string,) if isinstance(m.string, str) else m.string) if s]
        for s in strings:
            got, want = placeholders(s), [placeholders(src) for src in sources]
            # a plural form may leave the count out of the singular's wording, never add a field
            assert any(got == w for w in want) or (len(sources) == 2 and set(got[0]) <= set(want[1][0])
                                                   and set(got[1]) <= set(want[1][1])), \
                f"{lang}: placeholders differ: {m.id!r} -> {s!r}"


def test_placeholder_check_can_fail():
    assert placeholders("{name} has {n:g} points") != placeholders("{name}의 점수는 {m}점")
    assert placeholders("%(n)s checks") != placeholders("%(num)s개")
    assert placeholders("{{literal}} {x}") == (["x"], [], 0)


@pytest.mark.parametrize("folder", CATALOGS, ids=lambda f: f.parent.name)
def test_compiled_catalogs_are_up_to_date(folder):
    for lang in ("ko", "en"):
        fresh = io.BytesIO()
        write_mo(fresh, po(lang, folder))
        shipped = (folder / lang / "LC_MESSAGES" / "reglab.mo").read_bytes()
        assert fresh.getvalue() == shipped, f"{folder}: {lang}: reglab.mo is older than reglab.po: run pybabel compile"


def test_the_package_ships_the_compiled_catalogs():
    import tomllib

    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]
    for lang in ("ko", "en"):
        mo = Path("locale", lang, "LC_MESSAGES", "reglab.mo")
        assert any(mo.match(p) for p in patterns["grader"]), f"{mo} is not package data"
        for lab in LAB_DIRS:
            assert any((lab.name / mo).match(p) for p in patterns["labs"]), f"{lab.name}/{mo} is not package data"


# ---------------------------------------------------------------- choosing the language


@pytest.mark.parametrize("environ, lang", [
    ({}, "en"), ({"LANG": "ko_KR.UTF-8"}, "ko"), ({"LANG": "C.UTF-8"}, "en"), ({"LC_MESSAGES": "ko_KR"}, "ko"),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "ko_KR.UTF-8"}, "en"),      # the first one set decides
    ({"LC_ALL": "", "LC_MESSAGES": "ko", "LANG": "en_US"}, "ko"),  # an empty one counts as unset
    ({"LANG": "kok_IN"}, "ko"), ({"LANG": "de_DE"}, "en"),
])
def test_the_locale_decides_when_nothing_is_configured(environ, lang):
    assert i18n.from_locale(environ) == lang


def test_lang_option_beats_environment_beats_file_beats_locale(tmp_path):
    toml = tmp_path / "reglab.toml"
    toml.write_text('lang = "ko"\n')
    korean_locale = {"LANG": "ko_KR.UTF-8"}
    assert i18n.setup(None, toml, {"LANG": "C"}) == "ko"                                     # reglab.toml
    assert i18n.setup(None, toml, {"REGLAB_LANG": "en", "LANG": "C"}) == "en"                # REGLAB_LANG
    assert i18n.setup("ko", toml, {"REGLAB_LANG": "en"}) == "ko"                             # --lang
    assert i18n.setup("en", None, korean_locale) == "en"
    assert i18n.setup(None, None, korean_locale) == "ko" and i18n.current() == "ko"         # the locale


def test_a_bad_language_names_where_it_came_from(tmp_path):
    from grader.config import ConfigError

    with pytest.raises(ConfigError, match="REGLAB_LANG.*must be ko or en"):
        i18n.setup(None, None, {"REGLAB_LANG": "fr"})
    with pytest.raises(ValueError, match="unknown language"):
        i18n.activate("fr")


def run_python(code: str, cwd: Path, **env) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in (*i18n.LOCALE_VARIABLES, "REGLAB_LANG")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
                          env={**clean, "PYTHONPATH": str(REPO), **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_without_setup_the_first_message_uses_the_settings_and_the_locale(tmp_path):
    """Code that never calls setup (the student's experiment, a library user) still follows the choice."""
    code = "from grader.i18n import _, current; print(current(), _('Hint:'))"
    assert run_python(code, tmp_path) == "en Hint:"
    assert run_python(code, tmp_path, LANG="ko_KR.UTF-8") == "ko 힌트:"
    assert run_python(code, tmp_path, LANG="ko_KR.UTF-8", REGLAB_LANG="en") == "en Hint:"
    (tmp_path / "reglab.toml").write_text('lang = "ko"\n')
    assert run_python(code, tmp_path, LANG="C.UTF-8") == "ko 힌트:"


# ---------------------------------------------------------------- what reads Korean


def sample() -> SubmissionResult:
    checks = (
        CheckResult(id="penalties.l1_value", part="penalties", title="l1_penalty on the lab's DropoutMLP",
                    outcome=Outcome.FAILED, score=0.0, max_score=3.0, message="l1_penalty(DropoutMLP): value differs",
                    expected="tensor(1.5)", got="tensor(3.0)", hint="leave out biases", mistake="the biases count",
                    location="penalties.py:l1_penalty"),
        CheckResult(id="penalties.l2_value", part="penalties", title="l2", outcome=Outcome.PASSED, score=3.0,
                    max_score=3.0),
        CheckResult(id="model.structure", part="model", title="structure", outcome=Outcome.NOT_IMPLEMENTED,
                    score=0.0, max_score=4.0, message="not implemented", location="model.py:DropoutMLP"),
        CheckResult(id="train.x", part="train", title="t", outcome=Outcome.GRADER_ERROR, score=0.0, max_score=1.0,
                    message="boom"),
        CheckResult(id="experiment.x", part="experiment", title="e", outcome=Outcome.SKIPPED, score=0.0,
                    max_score=0.0, message="no data"),
    )
    curves = {"device": "cpu", "threshold": 0.1, "margins": {"l2": 0.2},
              "runs": {n: {"train_loss": [2.0, 1.5], "test_loss": [2.1, 1.8 - k / 5]}
                       for k, n in enumerate(("baseline", "l2"))}}
    return SubmissionResult(name="김민수", checks=checks, duration=75.0, output="epoch 1\n", problems=("p",),
                            grader_error="trace", extra={"training": curves})


def visible_text(html: str) -> str:
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def english_left(text: str, ids: set[str]) -> list[str]:
    """Template messages of three words or more whose English text appears in ``text``."""
    korean = {m.id if isinstance(m.id, str) else m.id[0]: m.string for m in po("ko") if m.id}
    plain = [i for i in ids if len(i.split()) >= 3 and "%(" not in i and "<" not in i and korean.get(i) != i]
    return [i for i in plain if i in text]


def test_reports_read_korean_when_korean_is_chosen(tmp_path):
    from grader.report_html import render_student, render_summary

    ids = ids_in_templates()
    i18n.activate("ko")
    student = render_student(sample())
    summary = render_summary([sample()], links={}, elapsed=3.0)
    for page in (student, summary):
        assert '<html lang="ko">' in page and "Noto Sans CJK KR" in page
        assert english_left(visible_text(page), ids) == []
    for korean in ("파트별 점수", "통과하지 못한 검사 (3개)", "알려진 실수:", "기댓값", "1분 15초", "학습 실험"):
        assert korean in student
    for korean in ("수업 전체 요약", "제출물 <strong>1</strong>개", "검사별 실패율", "채점기 오류"):
        assert korean in summary
    i18n.activate("en")
    english = render_student(sample())
    assert '<html lang="en">' in english and "Scores by part" in english and not HANGUL.search(
        english.replace("김민수", ""))


def test_english_leftover_detection_can_fail():
    assert english_left("x Problems with the submission y", ids_in_templates()) == ["Problems with the submission"]


def test_terminal_github_and_gradescope_text_read_korean(tmp_path):
    from grader.writers import github, gradescope, terminal

    i18n.activate("ko")
    text = terminal.render(sample())
    assert "reglab — 김민수: 3/11점 (27%)" in text and "의심되는 실수: the biases count" in text
    assert "살펴볼 곳: penalties.py:l1_penalty" in text and "기댓값:" in text
    out = gradescope.to_gradescope(sample())
    assert out["output"].startswith("이 제출물에서 채점기가 실패했습니다")
    assert "의심되는 실수:" in out["tests"][0]["output"]
    md = github.summary(sample(), tmp_path)
    assert "## reglab: 3/11점 (27%)" in md and "### 고쳐야 할 것" in md and "**힌트:**" in md
    notices = github.annotations(sample(), tmp_path)[-2:]
    assert notices[0].endswith("::Points 3/11")  # what GitHub Classroom parses stays as it is
    i18n.activate("en")
    assert "Likely mistake: the biases count" in terminal.render(sample())


def test_terminal_columns_line_up_with_hangul():
    from grader.writers.terminal import render, width

    titles = ("l1_penalty가 DropoutMLP에서 맞는 값을 냅니다", "short", "L2 규제 (Regularization)")
    checks = tuple(CheckResult(id=f"penalties.c{i}", part="penalties", title=t, outcome=Outcome.PASSED, score=1.0,
                               max_score=10.0 if i else 1.0) for i, t in enumerate(titles))
    lines = [line for line in render(SubmissionResult("s", checks)).splitlines() if line.startswith("  ✓")]
    ends = {width(line) for line in lines}  # points right-aligned in one column after the padded titles
    assert len(lines) == 3 and len(ends) == 1
    assert width("정규화") == 6 and width("abc") == 3 and width("e\u0301") == 1
    naive = {len(line) for line in lines}
    assert len(naive) > 1  # len() would have misaligned them: the test can fail


def test_grades_csv_opens_in_excel_on_korean_windows(tmp_path):
    from grader.writers import tables

    r = SubmissionResult(name="김민수", checks=sample().checks)
    tables.write([r], tmp_path)
    raw = (tmp_path / "grades.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8 instead of CP949
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["name"] == "김민수" and next(iter(rows[0])) == "name"


def test_data_layer_errors_read_korean(tmp_path):
    from grader.cifar import CifarDataError, load_cifar10

    i18n.activate("ko")
    with pytest.raises(CifarDataError, match="(?s)CIFAR-10을 찾을 수 없습니다.*해결 방법:"):
        load_cifar10(tmp_path, train=True)
    i18n.activate("en")
    with pytest.raises(CifarDataError, match="(?s)CIFAR-10 not found.*What to do:"):
        load_cifar10(tmp_path, train=True)


def test_korean_plural_has_one_form():
    i18n.activate("ko")
    assert i18n.ngettext("What your code printed (%(num)s line)", "What your code printed (%(num)s lines)", 5) \
        == "제출한 코드의 출력 (%(num)s줄)"
    i18n.activate("en")
    assert i18n.ngettext("What your code printed (%(num)s line)", "What your code printed (%(num)s lines)", 1) \
        .endswith("line)")


def test_a_release_catalog_carries_only_what_its_files_use(tmp_path):
    """The titles and hints of hidden checks must not reach students inside the catalog."""
    import gettext

    package = tmp_path / "grader"
    (package / "checks").mkdir(parents=True)
    (package / "checks" / "public.py").write_text('from ..i18n import _\nTITLE = _("Hint:")\n')
    assert i18n.message_ids(package) == {"Hint:"}
    written = i18n.compile_catalogs(package / "locale", i18n.message_ids(package) | {"expected:"})
    assert len(written) == 2
    ko = gettext.translation(i18n.DOMAIN, package / "locale", languages=["ko"])
    assert ko.gettext("Hint:") == "힌트:" and ko.gettext("expected:") == "기댓값:"
    assert ko.gettext("Scores by part") == "Scores by part"  # left out: not used by that package
    full = gettext.translation(i18n.DOMAIN, GRADER / "locale", languages=["ko"])
    assert full.gettext("Scores by part") == "파트별 점수"


def graded_in_process(folder: Path, expected) -> SubmissionResult:
    sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
    try:
        import inprocess
    finally:
        sys.path.pop(0)
    return SubmissionResult(name=folder.name, checks=tuple(inprocess.grade(folder, expected)))


@pytest.mark.parametrize("folder", ["assignment", "examples/typical_mistakes", "solution"])
def test_checks_read_korean_on_the_stubs_a_buggy_submission_and_the_reference(folder, expected):
    """Every title, message, hint and named mistake of a graded submission is Korean when Korean is
    chosen (judge.judge translates them as the result is built), and English by default."""
    from grader.writers import gradescope, terminal

    repo = Path(__file__).resolve().parent.parent
    i18n.activate("ko")
    result = graded_in_process(repo / folder, expected)
    fields = [(c.id, name, getattr(c, name)) for c in result.checks for name in ("title", "message", "hint", "mistake")
              if getattr(c, name)]
    assert [f for f in fields if not HANGUL.search(f[2])] == []
    if folder == "examples/typical_mistakes":  # a named mistake and a comparison's wording among them
        assert any(c.mistake for c in result.checks) and "의심되는 실수:" in terminal.render(result)
    if folder == "assignment":
        assert "penalties.py의 l1_penalty은(는) 아직 구현되지 않았습니다" in {c.message for c in result.checks}
    for test in gradescope.to_gradescope(result)["tests"]:
        assert HANGUL.search(test["name"]) and (not test.get("output") or HANGUL.search(test["output"]))
    i18n.activate("en")
    english = graded_in_process(repo / folder, expected)
    unquoted = lambda text: re.sub(r'"[^"]*"', "", str(text or ""))  # noqa: E731 - the handout's slide titles are Korean
    assert not any(HANGUL.search(unquoted(getattr(c, n))) for c in english.checks
                   for n in ("title", "message", "hint", "mistake"))
    if folder == "assignment":
        assert "l1_penalty in penalties.py is not implemented yet" in {c.message for c in english.checks}
    if folder == "solution":
        assert {c.message for c in english.checks} == {"correct"}


def test_progress_and_sandbox_lines_read_korean():
    import dataclasses

    from grader.backends import Backend, notice
    from grader.progress import CheckProgress, Progress

    def batch_lines():
        out = io.StringIO()
        show = Progress(out, live=False, clock=iter([0.0, 5.0, 10.0]).__next__)
        show(dataclasses.replace(sample(), name="ann", grader_error=None, checks=sample().checks[:1]), 1, 2)
        show(dataclasses.replace(sample(), name="ben", grader_error=None, checks=sample().checks[1:2]), 2, 2)
        return out.getvalue().splitlines()

    class Check:
        part, probes = "experiment", ("experiment.runs",)

    def check_lines():
        out = io.StringIO()
        show = CheckProgress(out, live=False, clock=iter([0.0, 1.0, 2.0, 3.0, 4.0]).__next__)
        show.plan([Check()])
        show("import", "train", {})
        show("probe", "experiment.runs", {})
        show("progress", "experiment.runs", {"run": 0, "runs": 4, "epoch": 1, "epochs": 60})
        show("judge", "", {})
        return out.getvalue().splitlines()

    def sandbox_lines():
        return [notice(Backend("bwrap")), notice(Backend("uid", drops_uid=True)),
                notice(Backend("none", why_not=("bwrap: not installed",)))]

    i18n.activate("ko")
    korean = batch_lines() + check_lines() + sandbox_lines()
    i18n.activate("en")
    english = batch_lines() + check_lines() + sandbox_lines()
    assert english[0] == "[1/2] ann: 0/3 in 75.0 s · 12.0/min · ETA 0m05s  ! 0 points"
    assert english[-3:] == ["sandbox: bwrap", "sandbox: uid as the sandbox user",
                            "sandbox: none — your code runs unisolated, with your own rights (bwrap: not installed)"]
    assert korean[0] == "[1/2] ann: 0/3점, 75.0초 · 분당 12.0개 · 남은 시간 0m05s  ! 0점"
    assert korean[2] == "살펴볼 제출: ann (0점)"
    assert korean[3:7] == ["  train.py을(를) import하는 중", "[1/1] 학습 검사 (CIFAR-10)",
                           "  학습 1/4: epoch 1/60 · 남은 시간 …", "결과를 채점하는 중"]
    assert korean[-1].startswith("sandbox: 없음 — 코드가 격리되지 않고") and korean[-1].endswith("(bwrap: not installed)")
    assert all(HANGUL.search(line.replace("sandbox: bwrap", "")) for line in korean if line != "sandbox: bwrap")


def test_check_in_korean_says_what_it_does_and_what_was_not_run(tmp_path):
    """`check --lang ko --no-training` off a terminal: its step lines, the sandbox line and the note on
    the training check left out read Korean."""
    proc = subprocess.run([sys.executable, "-m", "grader", "check", "examples/complete", "--no-training", "--lang", "ko",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = proc.stderr.splitlines()
    assert steps[0].startswith("reglab: examples/complete을(를) 검사합니다"), steps
    from grader.checks import TRAINING

    assert any(line.startswith("sandbox: ") for line in steps), steps  # translated: see the test above
    assert "[1/4] penalties.py 검사 중" in steps and "결과를 채점하는 중" in steps
    assert f"학습 검사를 실행하지 않았습니다 ({sum(c.points for c in TRAINING):g}점)" in proc.stdout


HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_a_results_json_renders_again_in_the_other_language(tmp_path):
    """Graded in Korean, re-rendered in English and back (``grader report --lang``): every text a check
    result holds comes from its message ids and arguments, not from the Korean it was written in."""
    run = lambda *args: subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True,  # noqa: E731
                                       text=True, timeout=600)
    done = run("grade", "examples", "--out", str(tmp_path), "--no-training", "--lang", "ko")
    assert done.returncode == 0, done.stderr[-2000:]
    page = tmp_path / "typical_mistakes" / "index.html"
    korean = _visible(page.read_text(encoding="utf-8"))
    assert "편향" in korean or HANGUL.search(korean)
    assert run("report", str(tmp_path), "--lang", "en").returncode == 0
    english = _visible(page.read_text(encoding="utf-8"))
    left = [line.strip() for line in english.splitlines() if HANGUL.search(line)]
    assert not left, left  # not a word of Korean left (the handout's slide names are in the English hints too)
    assert "the penalty also sums the biases of" in english and "free parameters (nn.Parameter" in english  # a listing
    assert run("report", str(tmp_path), "--lang", "ko").returncode == 0
    assert _visible(page.read_text(encoding="utf-8")) == korean


def test_a_message_keeps_its_making_across_processes_and_languages():
    import pickle

    i18n.activate("ko")
    try:
        inner = i18n._("the grader's stand-in penalties")
        text = i18n.joined(i18n._("your code raised an exception"), "ValueError: 3")
        nested = i18n._("{what}: {key} is {why}").format(what=inner, key="value", why="3")
        for message in (text, nested, i18n.join("; ", [inner, "x"]), i18n.ngettext("{n} check", "{n} checks", 2)):
            again = pickle.loads(pickle.dumps(message))
            assert again == message and again.as_data() == message.as_data()
        assert i18n.render(text.as_data(), "en") == "your code raised an exception: ValueError: 3"
        assert i18n.render(nested.as_data(), "en") == "the grader's stand-in penalties: value is 3"
        assert i18n._(text) is text  # translated once, kept
    finally:
        i18n.activate("en")
