"""Wall time of a student's self-check, against the cost of importing torch, in the same run.

    python bench/bench_check.py [--runs 5] [--training] [--data data]

Prints the median of `python -m grader check solution --no-training` and of its floor, `python -c
"import torch"`, alternated run for run, and the ratio (issue 22 asks for at most 1.3). With
`--training`: `check solution` against bench/training_floor.py, the check's training work as a plain
tensor loop, and the same for the work the check did when issue 22 was filed. The expected-data
cache is warmed first, as it is for a student's second and later self-checks.
"""
from __future__ import annotations

import os
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["REGLAB_REUSE"] = "0"  # every check times its work: none answered from the content cache

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--training", action="store_true")
    ap.add_argument("--data", default="data")
    args = ap.parse_args(argv)
    out = tempfile.mkdtemp(prefix="reglab-bench-")
    check = [sys.executable, "-m", "grader", "check", "solution", "--out", out, "--data", args.data]
    floor = [sys.executable, str(ROOT / "bench" / "training_floor.py"), "--data", args.data]
    if args.training:  # the floors: the check's own training work, and the work it did when issue 22 was filed
        commands = {"training floor (this work)": floor, "training floor (issue 22's work)": [*floor, "--issue-22"]}
    else:
        commands = {"python -c 'import torch'": [sys.executable, "-c", "import torch"]}
        check.append("--no-training")
    label = "check solution" + ("" if args.training else " --no-training")
    commands[label] = check
    timed(check)  # warm the expected-data (and CIFAR-10) caches
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):  # alternated, run for run
        for name, cmd in commands.items():
            times[name].append(timed(cmd))
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name}: median {medians[name]:.2f} s over {args.runs} (min {min(t):.2f}, max {max(t):.2f})")
    for name in commands:
        if name != label:
            print(f"ratio check / {name}: {medians[label] / medians[name]:.2f}")


if __name__ == "__main__":
    main()
