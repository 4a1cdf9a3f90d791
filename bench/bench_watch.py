"""check --watch: from a save to the new result on screen.

``python bench/bench_watch.py [--edits 10] [--training]``: starts ``python -m grader check SUB --watch``
on a copy of examples/typical_mistakes, waits for its first result, then makes one-line edits in turn
(penalties.py, data.py, model.py: each one line fixed, then broken again; every edit new content, so
that none is answered from the content cache), and times each from the moment
the file is written to the line that reports its result. ``--training``: the watch runs the training
check too, and one more edit of train.py is timed to the line that reports the training check.
In the same run, for scale: a cold ``check --no-training`` of the same folder (a fresh process, every
part, ``--fresh``).
"""
from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EDITS = (  # (file, the line as the example has it, the line fixed)
    ("penalties.py", "for param in module.parameters():  # weight and bias", "for param in [module.weight]:"),
    ("data.py", "x = torch.from_numpy(images).float()", "x = torch.from_numpy(images).float() / 255.0"),
    ("model.py", "h = torch.sigmoid(F.dropout(self.linear1(x), self.drop_prob, training=self.training))",
     "h = F.dropout(torch.sigmoid(self.linear1(x)), self.drop_prob, training=self.training)"),
)


def lines_of(proc: subprocess.Popen) -> queue.Queue:
    found: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            found.put((time.monotonic(), line))
    threading.Thread(target=read, daemon=True).start()
    return found


def wait_for(found: queue.Queue, marker: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while True:
        at, line = found.get(timeout=max(0.1, deadline - time.monotonic()))
        if marker in line:
            return at


def edit(path: Path, old: str, new: str) -> float:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return time.monotonic()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--edits", type=int, default=10)
    p.add_argument("--training", action="store_true")
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="reglab-bench-watch-"))
    sub = base / "sub"
    shutil.copytree(REPO / "examples" / "typical_mistakes", sub)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8", "REGLAB_LANG": "en"}
    cmd = [sys.executable, "-m", "grader", "check", str(sub), "--out", str(base / "out")]
    try:
        started = time.monotonic()
        subprocess.run([*cmd, "--no-training", "--fresh"], cwd=REPO, env=env, capture_output=True, check=False)
        cold = time.monotonic() - started
        proc = subprocess.Popen([*cmd, "--watch", *([] if args.training else ["--no-training"])], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        found = lines_of(proc)
        wait_for(found, "watching", 600)
        if args.training:
            wait_for(found, "] training check:", 600)
        times, now = [], {file: old for file, old, _ in EDITS}
        for k in range(args.edits):
            file, broken, fixed = EDITS[(k // 2) % len(EDITS)]
            # Every edit is new content (a numbered comment on the line): none is answered from the cache.
            line = f"{broken if k % 2 else fixed}  # edit {k}"
            saved = edit(sub / file, now[file], line)
            now[file] = line
            times.append(wait_for(found, "] check:", 120) - saved)
        print(f"check --watch, {args.edits} one-line edits (os.cpu_count()={os.cpu_count()}): median "
              f"{statistics.median(times):.2f} s from save to result (min {min(times):.2f}, max {max(times):.2f}); "
              f"a cold check --no-training --fresh of the same folder: {cold:.2f} s")
        print("  " + ", ".join(f"{t:.2f}" for t in times))
        if args.training:
            saved = edit(sub / "train.py", "import random\n", "import random  # edited\n")
            landed = wait_for(found, "] training check:", 900) - saved
            print(f"training check after an edit of train.py: {landed:.1f} s from save to result")
        proc.terminate()
        proc.wait(timeout=30)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
