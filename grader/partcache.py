"""A self-check's results kept by content: a part whose code is unchanged is not run again.

A part's results depend on the grader (its code, the reference or packaged expected data, the settings
that change grades: ``batch.grader_key``), on the language its messages are in, and on the files its
code can reach: its own module, the lab modules that one imports by name (transitively), and every
other file of the folder (a helper any module may open). A module that imports in a way this cannot
follow (``importlib``, ``__import__``, ``exec``, ``eval``), or that does not parse, reaches every file;
so does the training check, which runs the whole lab. Two parts with the same key would give the same
results: the key names a file under ``<out>/.reglab-cache/`` holding the part's results.

Only folders are keyed (a notebook or an archive is read afresh each time) and only where the folder is
small (``LIMIT``): anything else runs every part, as a ``check --fresh`` does.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from .results import CheckResult, SubmissionResult

FOLDER = ".reglab-cache"
KEEP = 256              # result files kept: the oldest beyond these are removed when one is written
LIMIT = (200, 8 << 20)  # files, bytes: beyond this the folder is not keyed
WHOLE = "*"             # the key of the whole result: every part's key together
DYNAMIC = re.compile(r"\bimportlib\b|__import__|\bexec\s*\(|\beval\s*\(")


def part_keys(folder: Path, parts: dict[str, str], salt: str) -> dict[str, str] | None:
    """``{part: key}`` for ``parts`` (part -> its module file; a part not named there reaches every
    file), and ``WHOLE``; None where the folder cannot be keyed. ``salt``: the grader's key and the
    language."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(folder.rglob("*")):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        if not path.is_file() or path.is_symlink() or len(files) >= LIMIT[0]:
            return None
        total += path.stat().st_size  # before reading it: a huge file is never read
        if total > LIMIT[1]:
            return None
        files[path.relative_to(folder).as_posix()] = path.read_bytes()
    stems = {name[:-3]: name for name in parts.values() if name.endswith(".py")}
    imports = {name: _imports(files.get(name), stems) for name in stems.values()}
    shared = {name for name in files if name not in imports}  # helpers and data files: every part reaches them
    keys = {}
    for part in sorted(parts):
        reached = _reach(parts[part], imports) if parts[part] in imports else set(files)
        h = hashlib.sha256(f"{salt}\0{part}".encode())
        for name in sorted(reached | shared):
            if name in files:
                h.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
            else:
                h.update(b"\0" + name.encode() + b"\0absent")
        keys[part] = h.hexdigest()[:32]
    keys[WHOLE] = hashlib.sha256(json.dumps(sorted(keys.items())).encode()).hexdigest()[:32]
    return keys


def _imports(source: bytes | None, stems: dict[str, str]) -> set[str] | None:
    """The lab files a module imports by name; None when it may reach any (or does not parse)."""
    if source is None:
        return set()
    text = source.decode("utf-8", "replace")
    if DYNAMIC.search(text):
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [alias.name for alias in node.names]
        for name in names:
            for piece in name.split("."):
                if piece in stems:
                    found.add(stems[piece])
    return found


def _reach(start: str, imports: dict[str, set[str] | None]) -> set[str]:
    reached, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        more = imports.get(name, set())
        if more is None:  # it may import any of them
            return set(imports)
        todo.extend(more)
    return reached


class PartCache:
    """Results by key under ``folder``; what cannot be read is simply not there."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def part(self, key: str) -> list[CheckResult] | None:
        try:
            return [CheckResult.from_dict(d) for d in json.loads(self._path(key).read_text(encoding="utf-8"))]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def whole(self, key: str) -> SubmissionResult | None:
        try:
            return SubmissionResult.from_dict(json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, result: SubmissionResult, keys: dict[str, str], parts: Iterable[str]) -> None:
        """Each of ``parts``' results, and the whole result, under their keys (atomically)."""
        for part in parts:
            self._write(keys[part], [c.to_dict() for c in result.checks if c.part == part])
        self._write(keys[WHOLE], result.to_dict())

    def _write(self, key: str, data) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{os.getpid()}"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self._path(key))
        self._prune()

    def _prune(self) -> None:
        """An evening of saves writes a file per part and save: only the newest ``KEEP`` stay."""
        found = []
        for path in self.folder.glob("*.json"):
            try:
                found.append((path.stat().st_mtime_ns, path))
            except OSError:
                continue
        for _, path in sorted(found, reverse=True)[KEEP:]:
            path.unlink(missing_ok=True)


def merged(result: SubmissionResult, cached: dict[str, list[CheckResult]], order: Iterable[str]) -> SubmissionResult:
    """``result`` (the parts run now) with the cached parts' results, in the checks' ``order`` (ids)."""
    by_id = {c.id: c for found in cached.values() for c in found}
    by_id.update({c.id: c for c in result.checks})
    return replace(result, checks=tuple(by_id[i] for i in order if i in by_id))
