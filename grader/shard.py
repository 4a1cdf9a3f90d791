"""Past one machine: grade a deterministic slice of a batch, then merge the slices' folders.

``grade --shard K/N`` keeps the submissions whose entry name hashes to K (1-based) of N. The hash
is of the name alone, so adding a file to the download moves no other submission to another
shard, and every machine computes the same split without talking to the others. ``merge`` copies
the per-submission folders of each slice into one folder and writes the class files from their
results.json, so that the merged folder equals the unsharded one (test_shard.py).
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TypeVar

from .results import SubmissionResult

T = TypeVar("T")


class ShardError(ValueError):
    pass


@dataclass(frozen=True)
class Shard:
    index: int   # 1-based
    count: int

    @classmethod
    def parse(cls, spec: str) -> "Shard":
        """"K/N" with 1 ≤ K ≤ N (Slurm's and Kubernetes' 0-based indices: pass K+1)."""
        try:
            k, n = (int(x) for x in spec.split("/"))
        except ValueError:
            raise ShardError(f"--shard {spec!r}: expected K/N, e.g. 2/4") from None
        if not 1 <= k <= n:
            raise ShardError(f"--shard {spec!r}: K must be between 1 and N")
        return cls(k, n)

    def owns(self, entry_name: str) -> bool:
        digest = hashlib.sha256(entry_name.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1


def select(entries: Sequence[T], spec: str) -> list[T]:
    """The batch entries (``intake.Entry``) of this shard ("" = all), by the entry's file name."""
    if not spec:
        return list(entries)
    shard = Shard.parse(spec)
    return [e for e in entries if shard.owns(e.path.name)]


def merge(parts: Sequence[Path], out: Path) -> list[SubmissionResult]:
    """Copy each slice's submission folders into ``out`` and return their results in batch order."""
    from .writers import gradescope

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
