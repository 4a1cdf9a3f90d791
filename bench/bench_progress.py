"""How soon and how often `python -m grader check` (with the training check) says something on a
terminal: the first line's delay after start and the longest silence, under a pseudo-terminal.

    REGLAB_DATA=/path/to/cifar [BENCH_LOG=events.txt] python bench/bench_progress.py [SUBMISSION]

Without REGLAB_DATA it makes a small CIFAR-format fixture (grader/cifar_fixture.py). Every write
counts as something the student sees: a new line, or the status line rewritten in place (\\r).
Prints the figures; asserts nothing.
"""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["REGLAB_REUSE"] = "0"  # every check times its work: none answered from the content cache

ROOT = Path(__file__).resolve().parent.parent
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run(submission: Path, data: Path, out: Path, log=None) -> list[tuple[float, str]]:
    """(seconds since start, text) for every line or status rewrite the command wrote to the terminal,
    each also written to ``log`` (a file) as it comes."""
    leader, follower = pty.openpty()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "grader", "check", str(submission), "--data", str(data),
                             "--out", str(out)], cwd=ROOT, stdin=follower, stdout=follower, stderr=follower,
                            env={**os.environ, "COLUMNS": "120"}, close_fds=True)
    os.close(follower)
    events, pending = [], ""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536).decode("utf-8", "replace")
        except OSError:  # the terminal closed: the command ended
            break
        now = time.monotonic() - started
        pending += chunk
        *done, pending = re.split(r"[\r\n]", pending)
        for piece in (ESCAPES.sub("", piece) for piece in done):
            if piece.strip():
                events.append((now, piece))
                if log:
                    print(f"{now:8.2f} {piece}", file=log, flush=True)
    proc.wait()
    os.close(leader)
    return events


def main() -> None:
    submission = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "solution"
    with tempfile.TemporaryDirectory() as tmp:
        data = os.environ.get("REGLAB_DATA")
        if not data:
            from grader.cifar_fixture import write_fixture

            data = write_fixture(Path(tmp) / "cifar", n_train=1000, n_test=500)
        log_path = os.environ.get("BENCH_LOG")
        with open(log_path, "w", encoding="utf-8") if log_path else open(os.devnull, "w") as log:
            events = run(submission, Path(data), Path(tmp) / "reports", log)
    times = [t for t, _ in events]
    gaps = [b - a for a, b in zip(times, times[1:])]
    epochs = [text for _, text in events if "epoch" in text]
    print(f"data: {data}")
    print(f"first line after {times[0]:.2f} s: {events[0][1].strip()}")
    print(f"{len(events)} lines or status updates in {times[-1]:.1f} s; longest silence {max(gaps):.2f} s "
          f"(ending at {times[gaps.index(max(gaps)) + 1]:.1f} s: {events[gaps.index(max(gaps)) + 1][1].strip()[:80]})")
    print(f"epoch updates: {len(epochs)}; first: {epochs[0].strip() if epochs else '-'}")
    print("last lines:")
    for t, text in events[-6:]:
        print(f"  {t:7.1f} s  {text.rstrip()[:110]}")


if __name__ == "__main__":
    main()
