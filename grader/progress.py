"""Progress a TA can read: done/total, rate, ETA, and the slowest and failing submissions by name.

On a terminal a live tqdm bar (the problems are printed above it as they happen); elsewhere (CI
logs, Slurm output files) one plain line per finished submission. ``printer()`` returns the
batch's ``on_result(result, done, total)`` callback.
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from .results import STATUS_LABELS, SubmissionResult, status


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def trouble(result: SubmissionResult) -> str | None:
    """Why a submission deserves a TA's look now: its status, or a score of zero."""
    st = status(result)
    if st != "ok":
        return STATUS_LABELS[st]
    if result.max_score and result.score == 0:
        return "0 points"
    return None


class Progress:
    def __init__(self, stream: TextIO | None = None, live: bool | None = None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.clock = clock
        self.started = clock()
        self.slowest: SubmissionResult | None = None
        self.failing: list[tuple[str, str]] = []
        self.bar = None

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def __call__(self, result: SubmissionResult, done: int, total: int) -> None:
        new_slowest = self.slowest is None or result.duration > self.slowest.duration
        if new_slowest:
            self.slowest = result
        why = trouble(result)
        if why:
            self.failing.append((result.name, why))
        elapsed = self.clock() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate else 0.0
        if self.live:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, file=self.stream, unit="sub", dynamic_ncols=True, smoothing=0.1)
            if why:
                self._line(f"  ! {result.name}: {why} ({result.score:g}/{result.max_score:g})")
            self.bar.set_postfix_str(f"slowest {self.slowest.name} {self.slowest.duration:.0f}s, "
                                     f"{len(self.failing)} to look at", refresh=False)
            self.bar.update(1)
            if done == total:
                self.bar.close()
                self.bar = None
        else:
            flag = f"  ! {why}" if why else ""
            slow = "  (slowest so far)" if new_slowest and done > 1 else ""
            self._line(f"[{done}/{total}] {result.name}: {result.score:g}/{result.max_score:g} "
                       f"in {result.duration:.1f} s · {rate * 60:.1f}/min · ETA {_eta(eta)}{flag}{slow}")
        if done == total and self.failing:
            self._line("to look at: " + ", ".join(f"{n} ({w})" for n, w in self.failing))


def printer(stream: TextIO | None = None) -> Callable[[SubmissionResult, int, int], None]:
    return Progress(stream)
