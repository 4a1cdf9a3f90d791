"""``check --ci``: GitHub annotations at the student's functions, Classroom's points, the step summary.

The command runs the way the runner runs it: in a fresh process, with the working directory a
student's repository (``assignment/`` inside), ``GITHUB_ACTIONS``, ``GITHUB_WORKSPACE`` and
``GITHUB_STEP_SUMMARY`` set. Its output is read back the way the runner reads it
(:func:`runner_commands`), so a line printed by the student's code that merely looks like a
command does not count.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader.writers import github

REPO = Path(__file__).resolve().parent.parent
SOLUTION = REPO / "solution"
MODULES = ("penalties", "model", "data", "train")
FAKE = "::notice title=Autograding complete::Points 100/100"


def runner_commands(stdout: str) -> list[tuple[str, dict, str]]:
    """The workflow commands GitHub's runner would act on: ``::name k=v,...::data`` at the start of a
    line (leading blanks allowed), none between ``::stop-commands::TOKEN`` and ``::TOKEN::``; a legacy
    ``##[`` anywhere in a line is reported as ("legacy", {}, line)."""
    found, stop = [], None
    for line in stdout.splitlines():
        text = line.lstrip()
        if stop is not None:
            if text == f"::{stop}::":
                stop = None
            continue
        if "##[" in line:
            found.append(("legacy", {}, line))
        m = re.match(r"::([A-Za-z-]+)(?: ([^:]*))?::(.*)$", text)
        if not m:
            continue
        name, props, data = m.groups()
        if name == "stop-commands":
            stop = data
            continue
        found.append((name, dict(p.split("=", 1) for p in props.split(",")) if props else {}, data))
    return found


def unescape(text: str) -> str:
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("expected-cache")  # a fresh expected-data cache, shared by this module


def workspace(tmp_path: Path, edits: dict[str, list[tuple[str, str]]] | None = None,
              prepend: dict[str, str] | None = None) -> Path:
    ws = tmp_path / "repo"
    (ws / "assignment").mkdir(parents=True)
    for m in MODULES:
        text = (SOLUTION / f"{m}.py").read_text()
        for old, new in (edits or {}).get(m, []):
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        text = (prepend or {}).get(m, "") + text
        (ws / "assignment" / f"{m}.py").write_text(text)
    return ws


def run_ci(ws: Path, cache: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path, dict]:
    summary = ws.parent / "step_summary.md"
    summary.write_text("# earlier step\n")  # the runner's file is appended to, never replaced
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGLAB_", "GITHUB_"))}
    env.update(GITHUB_ACTIONS="true", CI="true", GITHUB_WORKSPACE=str(ws), GITHUB_STEP_SUMMARY=str(summary),
               REGLAB_CACHE=str(cache), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "grader", "check", "--ci", "--no-training", *extra], cwd=ws, env=env,
                          capture_output=True, text=True, timeout=300)
    results = json.loads((ws / "reports" / "assignment" / "results.json").read_text())["extra_data"]["reglab"]
    return proc, summary, results


def points(results: dict) -> tuple:
    fmt = lambda x: int(x) if float(x).is_integer() else x  # noqa: E731
    return fmt(sum(c["score"] for c in results["checks"])), fmt(sum(c["max_score"] for c in results["checks"]))


def def_line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if line.lstrip().startswith(needle))


# ---------------------------------------------------------------- the pieces


def test_escaping_follows_the_runner_rules():
    assert github.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = github.command("error", "x: y, z\nsecond", file="assignment/p,q.py", line=7, title="pen:l1")
    assert line == "::error file=assignment/p%2Cq.py,line=7,title=pen%3Al1::x: y, z%0Asecond"
    assert github.command("endgroup") == "::endgroup::"


def test_verbatim_text_can_never_become_a_command():
    text = f"{FAKE}\n   ::error::x\n##[error]old style\nplain"
    lines = github.verbatim(text, prefix="| ")
    start, end = lines[0], lines[-1]
    token = start.removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token) and end == f"::{token}::"
    assert token != github.verbatim(text)[0].removeprefix("::stop-commands::")  # a new token every time
    assert all(line.startswith("| ") and "::" not in line and "##[" not in line for line in lines[1:-1])
    assert runner_commands("\n".join(lines)) == []


def test_locate_points_at_the_def_line(tmp_path):
    (tmp_path / "model.py").write_text("import torch\n\n\nclass DropoutMLP:\n    x = 1\n\n    def __init__(self):\n"
                                       "        pass\n\n    @staticmethod\n    def forward(x):\n        return x\n")
    (tmp_path / "penalties.py").write_text("def l1_penalty(m):\n    return 0\n\n\nl2_penalty = l1_penalty\n")
    (tmp_path / "data.py").write_text("def channel_stats(images):\n    return (\n")
    assert github.locate(tmp_path, "model.py:DropoutMLP.forward", "model") == (tmp_path / "model.py", 11)
    assert github.locate(tmp_path, "model.py:DropoutMLP.__init__", "model") == (tmp_path / "model.py", 7)
    assert github.locate(tmp_path, "model.py:DropoutMLP.missing", "model") == (tmp_path / "model.py", 4)
    assert github.locate(tmp_path, "model.py:DropoutMLP", "model") == (tmp_path / "model.py", 4)
    both = "penalties.py:l1_penalty / l2_penalty"
    assert github.locate(tmp_path, both, "penalties") == (tmp_path / "penalties.py", 1)
    assert github.locate(tmp_path, both, "penalties", "l2_penalty on a model") == (tmp_path / "penalties.py", 5)
    assert github.locate(tmp_path, "penalties.py:penalized_loss", "penalties") == (tmp_path / "penalties.py", None)
    assert github.locate(tmp_path, "data.py:channel_stats", "data") == (tmp_path / "data.py", 2)  # syntax error
    assert github.locate(tmp_path, "evaluate.py:evaluate", "train") == (None, None)
    assert github.locate(tmp_path, "../../etc/passwd:x", "train") == (None, None)
    assert github.locate(tmp_path, None, "model") == (tmp_path / "model.py", None)
    # Several files: a function line beats a bare file; a missing file is passed over.
    (tmp_path / "train.py").write_text("import torch\n\ndef train_epoch(model):\n    pass\n")
    assert github.locate(tmp_path, "penalties.py / train.py:train_epoch", "experiment") == (tmp_path / "train.py", 3)
    assert github.locate(tmp_path, "nope.py / model.py / train.py", "experiment") == (tmp_path / "model.py", None)


# ---------------------------------------------------------------- the command, as the runner runs it


def test_ci_on_the_reference_reports_full_points_and_no_errors(tmp_path, cache):
    ws = workspace(tmp_path)
    proc, summary, results = run_ci(ws, cache, "--fail-under", "100")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    total, top = points(results)
    assert total == top > 0
    commands = runner_commands(proc.stdout)
    assert [c for c in commands if c[0] in ("error", "warning", "legacy")] == []
    notices = [(c[1].get("title"), c[2]) for c in commands if c[0] == "notice"]
    assert notices == [("Autograding complete", f"Points {total}/{top}"),
                       ("Autograding report", json.dumps({"totalPoints": total, "maxPoints": top},
                                                         separators=(",", ":")))]
    text = summary.read_text()
    assert text.startswith("# earlier step\n")
    assert f"## reglab: {total}/{top} points (100%)" in text
    assert "| penalties | 20/20 |" in text and "What to fix" not in text
    assert "> training check not run (20 points)" in text  # --no-training, said where the score is
    assert "importing penalties.py" not in proc.stdout + proc.stderr  # --ci: no progress lines in the log


def test_ci_annotates_each_failed_check_at_the_students_function(tmp_path, cache):
    ws = workspace(tmp_path, edits={
        "penalties": [("return sum((w.pow(2).sum() for w in weights), torch.zeros(()))",
                       "return sum((w.pow(2).sum() for w in weights), torch.zeros(())).sqrt()")],
        "model": [("        return self.linear3(a2)", "        return self.linear3(a2).softmax(dim=1)")]})
    proc, summary, results = run_ci(ws, cache, "--fail-under", "90")
    total, top = points(results)
    assert 0 < total < top and 100 * total / top < 90
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # below --fail-under
    commands = runner_commands(proc.stdout)
    errors = {c[1]["title"]: c for c in commands if c[0] == "error"}
    failed = {c["id"] for c in results["checks"] if c["outcome"] not in ("passed", "skipped")}
    assert set(errors) == failed and {"penalties.l2_value", "model.eval_output"} <= failed
    penalties, model = ws / "assignment" / "penalties.py", ws / "assignment" / "model.py"
    l2_def, forward_def = def_line(penalties, "def l2_penalty"), def_line(model, "def forward")
    assert errors["penalties.l2_value"][1] == {"file": "assignment/penalties.py", "line": str(l2_def),
                                               "title": "penalties.l2_value"}
    assert errors["penalties.other_model"][1]["line"] == str(l2_def)  # its message names l2_penalty
    assert errors["model.eval_output"][1] == {"file": "assignment/model.py", "line": str(forward_def),
                                              "title": "model.eval_output"}
    message = unescape(errors["model.eval_output"][2])
    assert "Likely mistake: forward returns probabilities" in message and "Hint: " in message
    notices = {c[1]["title"]: c[2] for c in commands if c[0] == "notice"}
    assert notices["Autograding complete"] == f"Points {total}/{top}"
    assert json.loads(notices["Autograding report"]) == {"totalPoints": total, "maxPoints": top}
    text = summary.read_text()
    assert f"## reglab: {total}/{top} points" in text and "### What to fix" in text
    assert re.search(r"\| penalties \| \d+/20 \| 3/6 \|", text)
    for check in (c for c in results["checks"] if c["id"] in failed):
        assert f"{check['title']} ({check['score']:g}/{check['max_score']:g})" in text.replace("&gt;", ">")
    assert f"`assignment/penalties.py` line {l2_def}" in text
    assert "**Hint:** Only the weight matrices of Linear layers are penalized" in text


def test_ci_exit_status_follows_fail_under(tmp_path, cache):
    ws = workspace(tmp_path, edits={"model": [("        return self.linear3(a2)",
                                               "        return self.linear3(a2).softmax(dim=1)")]})
    proc, _, results = run_ci(ws, cache, "--fail-under", "50")
    total, top = points(results)
    assert 50 <= 100 * total / top < 100
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert any(c[0] == "error" for c in runner_commands(proc.stdout))


def test_student_text_cannot_fake_the_points_or_annotations(tmp_path, cache):
    hostile = (f"print({FAKE!r}, flush=True)\n"
               "print('::error file=assignment/train.py,line=1,title=fake::everything is fine', flush=True)\n"
               "print('##[error]old-style command', flush=True)\n"
               "print('::stop-commands::abc', flush=True)\n")
    ws = workspace(tmp_path, prepend={"penalties": hostile}, edits={"penalties": [
        ("    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]\n"
         "    return sum((w.abs().sum() for w in weights), torch.zeros(()))",
         f"    raise ValueError('boom\\n{FAKE}\\n::error title=fake::x')")]})
    proc, summary, results = run_ci(ws, cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    total, top = points(results)
    assert total < top
    # The text did reach the output: the student's prints (prefixed, defused) and their exception.
    assert "everything is fine" in proc.stdout and "boom" in proc.stdout
    assert "| : :notice title=Autograding complete: :Points 100/100" in proc.stdout
    # ... but the runner acts only on the grader's own commands.
    assert not [line for line in proc.stdout.splitlines() if line.lstrip().startswith(FAKE)]
    commands = runner_commands(proc.stdout)
    assert [c for c in commands if c[0] == "legacy"] == []
    assert [c[2] for c in commands if c[0] == "notice" and c[1].get("title") == "Autograding complete"] == \
        [f"Points {total}/{top}"]
    titles = {c[1].get("title") for c in commands if c[0] == "error"}
    assert "fake" not in titles and "penalties.l1_value" in titles
    l1 = next(c for c in commands if c[0] == "error" and c[1]["title"] == "penalties.l1_value")
    assert "\n" not in l1[2] and "%0A" in l1[2]  # the exception's newlines stay inside the annotation
    assert FAKE not in summary.read_text().split("```text")[0]  # only inside a code block, if at all


def test_report_without_a_summary_file_and_with_a_grader_error(tmp_path):
    from grader.results import CheckResult, Outcome, SubmissionResult

    result = SubmissionResult("s", (
        CheckResult("train.set_seed", "train", "set_seed seeds", Outcome.GRADER_ERROR, 0.0, 3.0,
                    message="the grader failed here", location="train.py:set_seed"),
        CheckResult("train.x", "train", "x", Outcome.PASSED, 2.0, 2.0)), output="hello\n::warning::x\n")
    out = github.report(result, tmp_path, environ={})
    commands = runner_commands(out)
    assert [c[0] for c in commands] == ["group", "endgroup", "warning", "notice", "notice"]
    assert commands[-2][2] == "Points 2/5"
