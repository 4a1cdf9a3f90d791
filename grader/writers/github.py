"""``check --ci``: GitHub Actions output (workflow commands, the Classroom points, the step summary).

- one ``::error file=…,line=…,title=<check id>::…`` per failed check, at the ``def`` of the
  student's function (found by parsing their file; the file alone, or no place, where it cannot be);
- ``::notice title=Autograding complete::Points X/Y`` and
  ``::notice title=Autograding report::{"totalPoints":X,"maxPoints":Y}``: what GitHub Classroom reads
  (so these two stay English in every language);
- a Markdown summary appended to ``$GITHUB_STEP_SUMMARY`` when it is set.

Anything that may hold text from the student's code (their printed output, exception messages,
tracebacks) is printed only between ``::stop-commands::<random token>`` and ``::<token>::``, with
``::`` and ``##[`` defused on every line, so that it can never be taken for a workflow command;
in annotations it is escaped as GitHub's runner expects (``%``, CR, LF; ``:`` and ``,`` in properties).
"""
from __future__ import annotations

import ast
import json
import os
import re
import secrets
from pathlib import Path
from typing import Mapping

from ..i18n import _
from ..results import PARTS, CheckResult, Outcome, SubmissionResult
from . import terminal
from .notes import not_run

MAX_SOURCE_BYTES = 1 << 20
MAX_MESSAGE = 3000
MAX_ANNOTATIONS = 10  # GitHub shows 10 error (and 10 warning) annotations per step; the rest are lost
_FILE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.py$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MARK = {Outcome.PASSED: "✅", Outcome.FAILED: "❌", Outcome.ERROR: "💥", Outcome.TIMEOUT: "⏱️",
        Outcome.NOT_IMPLEMENTED: "⬜", Outcome.SKIPPED: "➖", Outcome.GRADER_ERROR: "⚠️"}


# ---------------------------------------------------------------- workflow commands


def escape_data(text: str) -> str:
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties) -> str:
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def defuse(line: str) -> str:
    """A line that no runner takes for a command, whatever the text (``::cmd::`` or the old ``##[cmd]``)."""
    return line.replace("::", ": :").replace("##[", "# #[")


def verbatim(text: str, prefix: str = "") -> list[str]:
    """Lines that the runner prints and never interprets: command processing is stopped around them."""
    token = secrets.token_hex(16)
    while token in text:  # pragma: no cover - 128 random bits
        token = secrets.token_hex(16)
    return [command("stop-commands", token), *(prefix + defuse(line) for line in text.splitlines()),
            f"::{token}::"]


# ---------------------------------------------------------------- where a check points


def places(location: str | None, part: str) -> list[tuple[str, str | None]]:
    """``(file, dotted name or None)`` for each place a location names, in order.

    "penalties.py:l2_penalty", "model.py:DropoutMLP.forward", "penalties.py:l1_penalty / l2_penalty"
    (a name without a file belongs to the file before it), "penalties.py / train.py:train_epoch".
    """
    out: list[tuple[str, str | None]] = []
    current = None
    for segment in (location or f"{part}.py").split("/"):
        file, sep, name = segment.strip().partition(":")
        if sep or _FILE.match(file):
            current = file.strip()
            out.append((current, name.strip() or None))
        elif current and _NAME.match(file):
            out.append((current, file))
    return [(f, n if n and _NAME.match(n) else None) for f, n in out if _FILE.match(f)]


def locate(folder: Path, location: str | None, part: str, message: str = "") -> tuple[Path | None, int | None]:
    """The student's file a check points at and the line of its function (None where unknown).

    Of the places the location names (:func:`places`), the first one the check's message mentions
    wins, else the first one found; a file that does not parse points at its syntax error.
    """
    candidates = places(location, part)
    mentioned = [c for c in candidates if c[1] and re.search(rf"\b{re.escape(c[1].split('.')[-1])}\b", message or "")]
    mentioned.sort(key=lambda c: message.find(c[1].split(".")[-1]))
    fallback: tuple[Path | None, int | None] = (None, None)
    for file, name in mentioned + [c for c in candidates if c not in mentioned]:
        path = folder / file
        if not path.is_file() or path.is_symlink():
            continue
        line = _line(path, name)
        if line:
            return path, line
        if fallback[0] is None:
            fallback = (path, None)
    return fallback


def _line(path: Path, name: str | None) -> int | None:
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        tree = ast.parse(path.read_bytes(), str(path))
    except SyntaxError as exc:
        return exc.lineno
    except (OSError, ValueError, RecursionError, MemoryError):  # nested past the parser's bounds: no line to show
        return None
    return _find(tree.body, name.split(".")) if name else None


def _find(body: list, parts: list[str]) -> int | None:
    """The line defining ``parts`` (the last definition wins, as in Python); the class's own line when
    a method is missing."""
    found = None
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == parts[0]:
            found = (_find(node.body, parts[1:]) if len(parts) > 1 else None) or node.lineno
        elif len(parts) == 1 and isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == parts[0] for t in targets):
                found = node.lineno
    return found


def _relative(path: Path, workspace: str | None) -> str:
    path = path.resolve()
    for base in (workspace, os.getcwd()):
        if base:
            try:
                return path.relative_to(Path(base).resolve()).as_posix()
            except ValueError:
                continue
    return path.as_posix()


def _failing(result: SubmissionResult) -> list[CheckResult]:
    return [c for c in result.checks if c.outcome not in (Outcome.PASSED, Outcome.SKIPPED)]


def ranked(result: SubmissionResult) -> list[CheckResult]:
    """Failed checks, the ones that matter first: most points lost, then the checks' own order."""
    failing = _failing(result)
    return sorted(failing, key=lambda c: (-(c.max_score - c.score), failing.index(c)))


def _explain(c: CheckResult) -> str:
    lines = [f"{c.title}: {c.message}" if c.message else c.title]
    if c.expected is not None or c.got is not None:
        lines.append(terminal.expected_got(c.expected, c.got))
    if c.mistake:
        lines.append(_("Likely mistake:") + " " + c.mistake)
    if c.hint:
        lines.append(_("Hint:") + " " + c.hint)
    text = "\n".join(lines)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " …"


def annotation(c: CheckResult, folder: Path, workspace: str | None) -> str:
    path, line = locate(folder, c.location, c.part, c.message)
    kind = "warning" if c.outcome is Outcome.GRADER_ERROR else "error"
    return command(kind, _explain(c), file=_relative(path, workspace) if path else None,
                   line=line if path else None, title=c.id)


def _number(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 4)


def annotations(result: SubmissionResult, folder: Path, workspace: str | None = None) -> list[str]:
    """At most MAX_ANNOTATIONS ``::error``/``::warning`` lines (the checks that lose most points); the
    step summary lists every failed check."""
    failing = ranked(result)
    lines = [annotation(c, folder, workspace) for c in failing[:MAX_ANNOTATIONS]]
    if len(failing) > MAX_ANNOTATIONS:
        lines.append(f"{len(failing) - MAX_ANNOTATIONS} more failed check(s) are listed in the step summary "
                     "(GitHub shows at most 10 annotations)")
    score, top = _number(result.score), _number(result.max_score)
    lines.append(command("notice", f"Points {score}/{top}", title="Autograding complete"))
    lines.append(command("notice", json.dumps({"totalPoints": score, "maxPoints": top}, separators=(",", ":")),
                         title="Autograding report"))
    return lines


# ---------------------------------------------------------------- the step summary


def _md(text: str) -> str:
    """Plain text for a Markdown table cell or line (no HTML, no table breaks)."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\r", " ").replace("\n", " "))


def _fenced(text: str) -> list[str]:
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return [fence + "text", *text.splitlines(), fence]


def summary(result: SubmissionResult, folder: Path, note: str | None = None, workspace: str | None = None) -> str:
    out = ["## " + _("reglab: {score}/{max} points ({percent}%)").format(
        score=f"{result.score:g}", max=f"{result.max_score:g}", percent=f"{result.percent:.0f}"), ""]
    if note:
        out += [f"> {_md(note)}.", ""]
    out += [x for text in not_run(result) for x in (f"> {_md(text)}", "")]
    if result.grader_error:
        out += ["> ⚠️ " + _("The grader failed on this submission — not your fault, tell your TA."), ""]
    for problem in result.problems:
        out += _fenced(problem) + [""]
    out += ["| " + " | ".join((_("Part"), _("Points"), _("Checks passed"))) + " |", "|---|---:|---:|"]
    for part, (score, top) in result.parts().items():
        mine = [c for c in result.checks if c.part == part]
        out.append(f"| {part} | {score:g}/{top:g} | {sum(c.outcome is Outcome.PASSED for c in mine)}/{len(mine)} |")
    for part in PARTS:
        mine = [c for c in result.checks if c.part == part]
        if not mine:
            continue
        out += ["", f"### {part}", "", "| | " + _("Check") + " | " + _("Points") + " |", "|---|---|---:|"]
        out += [f"| {MARK[c.outcome]} | {_md(c.title)} | {c.score:g}/{c.max_score:g} |" for c in mine]
    failing = ranked(result)
    if failing:
        out += ["", "### " + _("What to fix"), ""]
        if len(failing) > MAX_ANNOTATIONS:
            out += [_("Most points lost first; the first {n} are also annotated in your files.").format(
                n=MAX_ANNOTATIONS), ""]
        for c in failing:
            path, line = locate(folder, c.location, c.part, c.message)
            where = f"`{_md(_relative(path, workspace))}`" + (
                " " + _("line {line}").format(line=line) if line else "") if path else f"`{_md(c.location or c.part)}`"
            out += [f"#### {MARK[c.outcome]} {_md(c.title)} ({c.score:g}/{c.max_score:g})", "",
                    f"`{c.id}` — " + _("where to look: {where}").format(where=where), ""]
            details = [c.message] if c.message else []
            if c.expected is not None or c.got is not None:
                details.append(terminal.expected_got(c.expected, c.got))
            if c.traceback:
                details.append(c.traceback)
            if details:
                out += _fenced("\n".join(details)) + [""]
            if c.mistake:
                out += ["**" + _("Likely mistake:") + "** " + _md(c.mistake), ""]
            if c.hint:
                out += ["**" + _("Hint:") + "** " + _md(c.hint), ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- all of it


def report(result: SubmissionResult, folder: Path, *, note: str | None = None,
           environ: Mapping[str, str] | None = None) -> str:
    """What ``check --ci`` prints; appends the Markdown summary to ``$GITHUB_STEP_SUMMARY`` when set.

    ``folder`` is the lab folder that was graded (where the student's files are).
    """
    environ = os.environ if environ is None else environ
    workspace = environ.get("GITHUB_WORKSPACE")
    text = terminal.render(result) + (f"\n\n{note}." if note else "")
    lines = verbatim(text)
    if result.output.strip():
        lines += [command("group", _("What your code printed")), *verbatim(result.output, prefix="| "),
                  command("endgroup")]
    lines += annotations(result, folder, workspace)
    target = environ.get("GITHUB_STEP_SUMMARY")
    if target:
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(summary(result, folder, note, workspace) + "\n")
        except OSError as exc:
            lines.append(command("warning", _("could not write the step summary: {error}").format(error=exc)))
    return "\n".join(lines)
