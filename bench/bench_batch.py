"""A TA's batch: 20 submissions (correct, stubs, buggy, hostile) graded with --jobs 2.

    python bench/bench_batch.py [--jobs 2] [--training]

Prints the batch's wall time, the time per submission, and the peak memory of the largest
worker (the grader's waited-for descendants' maximum resident set) and of the grader itself.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.build import HOSTILE, VARIANTS, build_submission  # noqa: E402
from fixtures.mutations import MUTATIONS  # noqa: E402

from grader.batch import grade_all  # noqa: E402
from grader.config import Config  # noqa: E402


def make_class(folder: Path) -> None:
    build_submission(folder / "ref")
    shutil.copytree(ROOT / "assignment", folder / "stubs", ignore=shutil.ignore_patterns("__pycache__"))
    for m in MUTATIONS[:10]:
        build_submission(folder / f"bug-{m.name}", mutation=m)
    for v in sorted(VARIANTS.iterdir())[:4]:
        build_submission(folder / f"ok-{v.name}", overlay=v)
    for h in ("import_hang", "memory_bomb", "output_flood", "sigterm_hang"):
        build_submission(folder / f"evil-{h}", overlay=HOSTILE / h)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--training", action="store_true")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="reglab-batch-"))
    make_class(work / "subs")
    config = Config(jobs=args.jobs, training=args.training, data=ROOT / "data")
    t0 = time.perf_counter()
    batch = grade_all(work / "subs", work / "out", config)
    wall = time.perf_counter() - t0
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = len(batch.results)
    print(f"{n} submissions, --jobs {args.jobs}{' with training' if args.training else ', no training'}: "
          f"wall {wall:.1f} s ({wall / n:.2f} s per submission; sum of per-submission times "
          f"{sum(r.duration for r in batch.results):.1f} s)")
    print(f"peak resident memory: largest worker {child:.0f} MiB, grader process {me:.0f} MiB")
    print("scores:", ", ".join(f"{r.name} {r.score:g}" for r in batch.results))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
