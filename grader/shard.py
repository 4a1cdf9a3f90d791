"""Past one machine: grade a deterministic slice of a batch (then ``merging.merge`` the slices' folders).

``grade --shard K/N`` keeps the submissions whose entry name hashes to K (1-based) of N. The hash
is of the name alone, so adding a file to the download moves no other submission to another
shard, and every machine computes the same split without talking to the others. This module is a
leaf (the settings validate ``shard`` with :meth:`Shard.parse`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence, TypeVar

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
