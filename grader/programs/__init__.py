"""Small Python programs the grader runs in interpreters of their own (``python -c``), kept as files so
that they can be read, linted and tested like any other code. Each runs before, or outside, the
grader's package: it imports nothing from it, and is passed as text because the user it runs as may
not be able to read the grader's files."""
from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def source(name: str) -> str:
    """The text of ``programs/<name>.py``."""
    return (Path(__file__).resolve().parent / f"{name}.py").read_text(encoding="utf-8")
