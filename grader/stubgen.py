"""Generate the student's ``assignment/`` from the reference ``solution/`` (the one source).

Every region between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` becomes one
``raise NotImplementedError(...)`` naming the function; everything else (docstrings, imports,
signatures, the complete ``experiment.py``) is copied as it is.
"""
from __future__ import annotations

import re
from pathlib import Path

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB_MESSAGE = "{name} in {filename} is not implemented yet"  # what a stub raises (grader.stubcheck reads it)
_DEF = re.compile(r"^(\s*)(?:def|class)\s+(\w+)")


class StubError(Exception):
    pass


def _qualname(lines: list[str], index: int) -> str:
    """The dotted name of the def (and class) enclosing line ``index``."""
    names, indent = [], len(lines[index]) - len(lines[index].lstrip())
    for line in reversed(lines[:index]):
        m = _DEF.match(line)
        if m and len(m.group(1)) < indent:
            names.append(m.group(2))
            indent = len(m.group(1))
    if not names:
        raise StubError(f"solution region at line {index + 1} is not inside a function")
    return ".".join(reversed(names))


def stub_source(source: str, filename: str) -> str:
    lines = source.splitlines(keepends=True)
    out, i = [], 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped == END:
            raise StubError(f"{filename}:{i + 1}: {END} without {BEGIN}")
        if stripped != BEGIN:
            out.append(lines[i])
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        name = _qualname(lines, i)
        j = i + 1
        while j < len(lines) and lines[j].strip() != END:
            if lines[j].strip() == BEGIN:
                raise StubError(f"{filename}:{j + 1}: nested {BEGIN}")
            j += 1
        if j == len(lines):
            raise StubError(f"{filename}:{i + 1}: {BEGIN} without {END}")
        out.append(f'{indent}raise NotImplementedError("{STUB_MESSAGE.format(name=name, filename=filename)}")\n')
        i = j + 1
    return "".join(out)


def generate(solution: Path) -> dict[str, str]:
    """``{file name: stubbed text}`` for every module of the reference."""
    return {p.name: stub_source(p.read_text(encoding="utf-8"), p.name)
            for p in sorted(solution.glob("*.py"))}


def write(solution: Path, assignment: Path) -> list[str]:
    assignment.mkdir(parents=True, exist_ok=True)
    files = generate(solution)
    for name, text in files.items():
        (assignment / name).write_text(text, encoding="utf-8")
    return sorted(files)


def drift(solution: Path, assignment: Path) -> list[str]:
    """The files of ``assignment/`` that differ from what :func:`write` would produce."""
    files = generate(solution)
    stale = [name for name, text in files.items()
             if not (assignment / name).is_file() or (assignment / name).read_text(encoding="utf-8") != text]
    extra = [p.name for p in assignment.glob("*.py") if p.name not in files]
    return sorted(stale + extra)
