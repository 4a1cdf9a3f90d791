"""Which functions of a submission are still the generated stubs: read from the grader's copy of
the source as text (parsed, never imported), before any student code runs.

Only an untouched stub (the generated ``raise`` still ending the function) makes a function "not implemented" (and the submission "incomplete"); a
``NotImplementedError`` the student raises on purpose (for an unknown ``kind``, say) is their
code raising, judged like any other exception.
"""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from .outcome import ProbeOutcome, SandboxRun
from .stubgen import STUB_MESSAGE


def _stub_body(name: str, filename: str) -> str:
    """The statement stubgen ends ``name``'s body with, as an AST dump."""
    statement = f'raise NotImplementedError("{STUB_MESSAGE.format(name=name, filename=filename)}")'
    return ast.dump(ast.parse(statement).body[0])


def _functions(tree: ast.AST, prefix: str = ""):
    for node in getattr(tree, "body", ()):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = prefix + node.name
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from _functions(node, name + ".")


def untouched(folder: Path) -> frozenset[str]:
    """``"file.py:function"`` for every function of ``folder``'s modules that still ends with the
    generated stub's own ``raise`` (stubgen replaces the end of a body with it: what comes before, a
    ``super().__init__()``, is given code), unconditionally, at the top level of its body."""
    found = set()
    for path in sorted(Path(folder).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for name, node in _functions(tree):
            if node.body and ast.dump(node.body[-1]) == _stub_body(name, path.name):
                found.add(f"{path.name}:{name}")
    return frozenset(found)


def _stub_raised(outcome: ProbeOutcome, stubs: frozenset[str]) -> bool:
    """Whether the probe stopped at an untouched stub: the stub's own message, from a function that
    is still the stub."""
    text = _without_type(outcome.message)
    return any(text == STUB_MESSAGE.format(name=where.partition(":")[2], filename=where.partition(":")[0])
               for where in stubs)


def _without_type(message: str) -> str:
    """The exception's text, whether or not the message names its type first."""
    return message.strip().removeprefix("NotImplementedError:").strip()


def reclassify(run: SandboxRun, stubs: frozenset[str]) -> SandboxRun:
    """The run with every "not implemented" that no untouched stub raised turned into what it is: the
    student's code raising NotImplementedError."""
    outcomes = {
        probe: dataclasses.replace(o, status="raised", message=f"NotImplementedError: {_without_type(o.message)}")
        if o.status == "not_implemented" and not _stub_raised(o, stubs) else o
        for probe, o in run.outcomes.items()}
    return dataclasses.replace(run, outcomes=outcomes)
