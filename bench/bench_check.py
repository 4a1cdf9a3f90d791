"""Wall time of a student's self-check, against the cost of importing torch, in the same run.

    python bench/bench_check.py [--runs 5] [--training] [--data data]

Prints the median of `python -m grader check solution --no-training` (or with the training check)
and of `python -c "import torch"`, and their ratio. The expected-data cache is warmed first, as
it is for a student's second and later self-checks.
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
    if not args.training:
        check.append("--no-training")
    timed(check)  # warm the expected-data (and CIFAR-10) caches
    imports = [timed([sys.executable, "-c", "import torch"]) for _ in range(args.runs)]
    checks = [timed(check) for _ in range(args.runs)]
    mi, mc = statistics.median(imports), statistics.median(checks)
    label = "check solution" + ("" if args.training else " --no-training")
    print(f"python -c 'import torch': median {mi:.2f} s over {args.runs} (min {min(imports):.2f})")
    print(f"{label}: median {mc:.2f} s over {args.runs} (min {min(checks):.2f}, max {max(checks):.2f})")
    print(f"ratio check / import torch: {mc / mi:.2f}")


if __name__ == "__main__":
    main()
