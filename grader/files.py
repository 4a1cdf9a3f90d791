"""Small file helpers shared by the writers."""
from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results and reports are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def display_name(name: str) -> str:
    """The entry's name as a person reads it: NFC (macOS hands out NFD), bytes that are not UTF-8 decoded
    as CP949 where they can be (a zip made on Korean Windows), else shown as replacement marks."""
    if any("\udc80" <= ch <= "\udcff" for ch in name):
        raw = os.fsencode(name)
        for encoding in ("utf-8", "cp949"):
            try:
                name = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            name = raw.decode("utf-8", "replace")
    return unicodedata.normalize("NFC", name)


def safe_name(name: str, limit: int = 150) -> str:
    """A folder name keeping every letter of ``name``: only path separators, control characters and
    leading dots are replaced (by ``_``); at most ``limit`` UTF-8 bytes."""
    name = display_name(name)
    cleaned = "".join("_" if ch in "/\\" or unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in name)
    stripped = cleaned.lstrip(".")
    cleaned = "_" * (len(cleaned) - len(stripped)) + stripped
    cleaned = cleaned if cleaned.strip() else "submission"
    while len(cleaned.encode("utf-8")) > limit:
        cleaned = cleaned[:-1]
    return cleaned
