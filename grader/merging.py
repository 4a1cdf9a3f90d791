"""``merge``: the folders of ``grade --shard`` runs as one. It copies the per-submission folders of each
slice into one folder and returns their results, from which the class files are written, so that the
merged folder equals the unsharded one (test_shard.py)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from .results import SubmissionResult
from .shard import ShardError
from .writers import gradescope


def merge(parts: Sequence[Path], out: Path) -> list[SubmissionResult]:
    """Copy each slice's submission folders into ``out`` and return their results in batch order."""
    found: dict[str, tuple[Path, SubmissionResult]] = {}
    for part in parts:
        if not part.is_dir():
            raise ShardError(f"{part} is not a graded folder")
        for path in sorted(part.glob(f"*/{gradescope.RESULTS_FILE}")):
            result = gradescope.read(path)
            if result.name in found:
                raise ShardError(f"{result.name} is in both {found[result.name][0].parent.parent} and {part}: "
                                 "were the shards graded with the same N?")
            found[result.name] = (path, result)
    if not found:
        raise ShardError(f"no */{gradescope.RESULTS_FILE} in {', '.join(map(str, parts))}")
    out.mkdir(parents=True, exist_ok=True)
    for name, (path, _) in found.items():
        dest = out / name
        if dest.resolve() != path.parent.resolve():
            shutil.copytree(path.parent, dest, dirs_exist_ok=True)
    # The batch's order is its download's (sorted entry names); results keep their entry name.
    return sorted((r for _, r in found.values()), key=lambda r: (str(r.extra.get("entry", r.name)), r.name))
