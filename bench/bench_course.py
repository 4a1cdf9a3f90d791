"""A class-sized batch: N submissions (copies of examples/ and solution/, half of them as .zip
files, as an LMS download has them), graded with --jobs J, optionally with the training check.

    python bench/bench_course.py --n 100                       # no training (goal: ≤ 3 min on 2 cores)
    python bench/bench_course.py --n 20 --training --data data # with the CIFAR-10 training check
    python bench/bench_course.py --n 16 --training --device cuda --jobs 4   # one GPU, 4 workers

Prints the wall time, the time per submission (wall / N) and the median of the per-submission
grading times, and with CUDA the GPU's peak memory as nvidia-smi saw it.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.batch import grade_all  # noqa: E402
from grader.config import resolve  # noqa: E402

SOURCES = ("examples/complete", "examples/half_done", "examples/typical_mistakes", "solution")
FILES = ("penalties.py", "model.py", "data.py", "train.py")


def make_class(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        src = ROOT / SOURCES[i % len(SOURCES)]
        name = f"{Path(SOURCES[i % len(SOURCES)]).name}-{i:03d}"
        if i % 2:
            with zipfile.ZipFile(folder / f"{name}.zip", "w") as zf:
                for f in FILES:
                    zf.write(src / f, f"{name}/{f}")
        else:
            (folder / name).mkdir()
            for f in FILES:
                shutil.copy(src / f, folder / name / f)


def gpu_peak(stop: threading.Event, peak: list[int]) -> None:
    while not stop.wait(0.5):
        try:
            used = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=5).stdout.split()
            peak[0] = max(peak[0], max(int(u) for u in used))
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--training", action="store_true")
    ap.add_argument("--data", default=str(ROOT / "data"))
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="reglab-course-"))
    make_class(work / "subs", args.n)
    config = resolve({"jobs": args.jobs, "training": args.training, "data": args.data, "device": args.device},
                     environ={}, config_file=None)
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=gpu_peak, args=(stop, peak), daemon=True)
    if args.device == "cuda":
        watcher.start()
    t0 = time.perf_counter()
    batch = grade_all(work / "subs", work / "out", config)
    wall = time.perf_counter() - t0
    stop.set()
    durations = [r.duration for r in batch.results]
    print(f"{len(durations)} submissions, --jobs {args.jobs}, device {args.device}, "
          f"{'with' if args.training else 'no'} training: wall {wall:.1f} s = {wall / len(durations):.2f} s per "
          f"submission; per-submission grading time median {statistics.median(durations):.1f} s "
          f"(min {min(durations):.1f}, max {max(durations):.1f})")
    devices = sorted({r.environment.get("device", "-") for r in batch.results})
    print(f"training device(s) reported: {', '.join(devices)}; scores: "
          f"{sorted({r.score for r in batch.results})}")
    if args.device == "cuda":
        print(f"GPU memory peak (nvidia-smi, all processes): {peak[0]} MiB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
