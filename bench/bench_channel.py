"""What the framed channel costs, before (files in out/, commit e072d12) and after, in the same run;
and what each channel attack costs the grader.

    python bench/bench_channel.py [--runs 5] [--batch 20] [--before e072d12] [--attacks]

- ``check solution --no-training`` in both trees, alternated, medians and their ratio (the issue
  asks for at most 1.1x);
- ``grade`` of a batch of ``--batch`` submissions (copies of solution/ and of the stubs) in both;
- ``--attacks``: the batch of tests/test_channel_attacks.py graded once, each submission's time
  and the grader process's peak memory (ru_maxrss).

The old tree is a detached ``git worktree`` of ``--before`` in a temporary folder, removed after.
Each tree warms its own expected-data cache first.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["REGLAB_REUSE"] = "0"  # every check times its work: none answered from the content cache

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def check_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "grader", "check", "solution", "--no-training", "--out", str(out)]


def batch_of(n: int, root: Path) -> Path:
    folder = root / "batch"
    for i in range(n):
        shutil.copytree(ROOT / ("solution" if i % 4 else "assignment"), folder / f"s{i:02d}",
                        ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def attacks(tmp: Path) -> None:
    spec = importlib.util.spec_from_file_location("channel_attacks", ROOT / "tests" / "test_channel_attacks.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT))
    spec.loader.exec_module(module)
    from grader.config import Config
    from grader.grading import load_expected

    expected = load_expected(Config(training=False))
    victims = tmp / "victims"
    (victims / "dir").mkdir(parents=True)
    (victims / "file.txt").write_text("victim\n")
    answers = {p: {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in expected.reference(p).values.items()}
               for p in ("pen.l1_mlp", "pen.l2_mlp", "pen.l1_other", "pen.l2_other")}
    subs = tmp / "attacks"
    subs.mkdir()
    module._build(subs, victims, answers)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", module.GRADE, str(subs), str(tmp / "attacks-out")], cwd=ROOT,
                          env={**os.environ, **module.SLOW_MACHINE},
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak = int(proc.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0]) / 1024
    print(f"attack batch ({len(module.ATTACKS) + 1} submissions, 2 at a time): {wall:.1f} s, "
          f"grader peak RSS (VmHWM) {peak:.0f} MB")
    for path in sorted((tmp / "attacks-out").glob("*/results.json")):
        res = json.loads(path.read_text())["extra_data"]["reglab"]
        score = sum(c["score"] for c in res["checks"])
        most = sum(c["max_score"] for c in res["checks"])
        print(f"  {path.parent.name:14s} {res['duration']:6.1f} s  {score:g}/{most:g}  workers={res['environment'].get('workers')}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--before", default="e072d12")
    ap.add_argument("--attacks", action="store_true")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="reglab-bench-channel-"))
    old = tmp / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(old), args.before], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        trees = {"before": old, "after": ROOT}
        for tree in trees.values():
            timed(check_cmd(tmp / "warm"), tree)  # the expected-data cache of each tree's sources
        times: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                times[name].append(timed(check_cmd(tmp / f"check-{name}"), tree))
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, v in times.items():
            print(f"check solution --no-training, {k:6s}: median {med[k]:.2f} s over {args.runs} "
                  f"(min {min(v):.2f}, max {max(v):.2f})")
        print(f"ratio after / before: {med['after'] / med['before']:.3f}")
        if args.batch:
            folder = batch_of(args.batch, tmp)
            for name, tree in trees.items():
                cmd = [sys.executable, "-m", "grader", "grade", str(folder), "--out", str(tmp / f"grade-{name}"),
                       "--no-training"]
                print(f"grade of {args.batch} submissions, {name:6s}: {timed(cmd, tree):.1f} s")
        if args.attacks:
            attacks(tmp)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
