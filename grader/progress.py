"""Progress people can read, in their language.

A TA's batch (``Progress``): done/total, rate, ETA, and the slowest and failing submissions by name;
on a terminal a live tqdm bar (the problems are printed above it as they happen), elsewhere (CI logs,
Slurm output files) one plain line per finished submission. ``printer()`` returns the batch's
``on_result(result, done, total)`` callback.

A student's ``check`` (``CheckProgress``): a line per step (the sandbox, each import, each part, each
training run, judging) as it begins; on a terminal also a status line under them, rewritten at least
once a second with the step's elapsed time and, while training, the epoch and an ETA. The worker's
progress frames reach it as counts only (``channel.parse_progress``): it shows them and nothing else.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, TextIO

from wcwidth import wcwidth

from .i18n import _
from .lab import current
from .results import STATUS_LABELS, SubmissionResult, status


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def trouble(result: SubmissionResult) -> str | None:
    """Why a submission deserves a TA's look now: its status, or a score of zero."""
    st = status(result)
    if st != "ok":
        return _(STATUS_LABELS[st])
    if result.max_score and result.score == 0:
        return _("0 points")
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
            self.bar.set_postfix_str(_("slowest {name} {seconds}s, {n} to look at").format(
                name=self.slowest.name, seconds=f"{self.slowest.duration:.0f}", n=len(self.failing)), refresh=False)
            self.bar.update(1)
            if done == total:
                self.bar.close()
                self.bar = None
        else:
            flag = f"  ! {why}" if why else ""
            slow = "  " + _("(slowest so far)") if new_slowest and done > 1 else ""
            self._line(_("[{done}/{total}] {name}: {score}/{max} in {seconds} s · {rate}/min · ETA {eta}").format(
                done=done, total=total, name=result.name, score=f"{result.score:g}", max=f"{result.max_score:g}",
                seconds=f"{result.duration:.1f}", rate=f"{rate * 60:.1f}", eta=_eta(eta)) + flag + slow)
        if done == total and self.failing:
            self._line(_("to look at: {list}").format(list=", ".join(f"{n} ({w})" for n, w in self.failing)))


def printer(stream: TextIO | None = None) -> Callable[[SubmissionResult, int, int], None]:
    return Progress(stream)


class CheckProgress:
    """The listener of one ``check`` (see ``channel.Listener``), and the lines the command adds itself.

    ``live``: a terminal (a status line rewritten in place, ticking every ``tick`` seconds); otherwise
    plain lines only, a training line at most every ``plain_every`` seconds.
    """

    def __init__(self, stream: TextIO, *, live: bool, clock=time.monotonic, tick: float = 1.0,
                 plain_every: float = 15.0):
        self.stream, self.live, self.clock = stream, live, clock
        self.parts: dict[str, str] = {}
        self.order: list[str] = []
        self.tick, self.plain_every = tick, plain_every
        self.lock = threading.Lock()
        self.activity, self.since, self.status = "", clock(), ""
        self.part: str | None = None
        self.training: tuple[float, int] | None = None  # (when, epochs done) at the first epoch seen
        self.run_began = 0.0  # when the current training run began
        self.last_plain = float("-inf")
        self.stop = threading.Event()
        self.ticker: threading.Thread | None = None
        if live:
            self.ticker = threading.Thread(target=self._tick, name="reglab-progress", daemon=True)
            self.ticker.start()

    # ---- what the command and the grading say
    def plan(self, checks) -> None:
        """The checks about to run: their probes name the part each step belongs to."""
        self.parts = {probe: c.part for c in checks for probe in c.probes}
        self.order = list(dict.fromkeys(self.parts.values()))

    def line(self, text: str) -> None:
        """A step begins: a line of its own (it stays), and the status line then shows its time."""
        with self.lock:
            self.activity, self.since, self.status = text, self.clock(), ""
            self._write(text + "\n")
            self._status()

    def __call__(self, kind: str, name: str, counts: dict) -> None:
        if kind == "import":
            self.line("  " + _("importing {file}").format(file=f"{name}.py"))
        elif kind == "probe":
            part = self.parts.get(name.partition("/")[0])  # "probe/label": an instance of the probe
            if part and part != self.part:
                self.part = part
                number = self.order.index(part) + 1
                self.line(f"[{number}/{len(self.order)}] " + (_("the training check") if part == current().training
                                                                 else _("checking {file}").format(file=f"{part}.py")))
        elif kind == "progress":
            self._epoch(counts)
        elif kind == "judge":
            self.line(_("judging the results"))

    def close(self) -> None:
        """Stop the status line and clear it (the summary follows); again is a no-op."""
        if self.stop.is_set():
            return
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join()
        with self.lock:
            if self.live:
                self._write("\r\033[K")

    # ---- inside
    def _epoch(self, counts: dict) -> None:
        runs, epochs = max(1, counts["runs"]), max(1, counts["epochs"])
        run, epoch = min(counts["run"], runs - 1) + 1, min(counts["epoch"], epochs)
        done, total, now = (run - 1) * epochs + epoch, runs * epochs, self.clock()
        if self.training is None:
            self.training, self.run_began = (now, done), self.since
        began, first = self.training
        eta = _eta((total - done) * (now - began) / (done - first)) if done > first else "…"
        if epoch == epochs:  # timed from the previous run's end (the first from the line before the first
            # epoch), not from the last line: other probes' lines come between when runs train beside them
            self.line("  " + _("training run {run}/{runs}: {epochs} epochs in {seconds} s").format(
                run=run, runs=runs, epochs=epochs, seconds=f"{now - self.run_began:.0f}"))
            self.run_began = now
            return
        text = _("training run {run}/{runs}: epoch {epoch}/{epochs} · ETA {eta}").format(
            run=run, runs=runs, epoch=epoch, epochs=epochs, eta=eta)
        with self.lock:
            self.status = text
            if self.live:
                self._status()
            elif now - self.last_plain >= self.plain_every:
                self.last_plain = now
                self._write("  " + text + "\n")

    def _tick(self) -> None:
        while not self.stop.wait(self.tick):
            with self.lock:
                self._status()

    def _status(self) -> None:
        """The status line (live only): what runs now and for how long. Called with the lock held."""
        if not self.live:
            return
        seconds = int(self.clock() - self.since)
        text = f"  … {self.status or self.activity.strip()} [{_eta(seconds)}]"
        self._write("\r\033[K" + _fit(text, _columns(self.stream)))

    def _write(self, text: str) -> None:
        if self.live:
            text = "\r\033[K" + text if text.endswith("\n") else text
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the grading goes on, unseen
            self.stop.set()


def _columns(stream: TextIO) -> int:
    """The terminal's width (COLUMNS first, as shells set it); 80 where it says 0 (a fresh pseudo-terminal)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        columns = 0
    return columns if columns > 20 else 80


def _fit(text: str, columns: int) -> str:
    """``text`` cut to fit one terminal line (a Hangul syllable takes two cells): a status line that
    wrapped could not be rewritten in place."""
    cells, out = 0, []
    for ch in text:
        cells += max(wcwidth(ch), 0)
        if cells >= columns:
            break
        out.append(ch)
    return "".join(out)
