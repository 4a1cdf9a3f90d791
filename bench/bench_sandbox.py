"""The sandbox's overhead per submission, per backend, against the sandbox before v2 (commit e072d12).

``python bench/bench_sandbox.py [--runs 3]``: times ``python -m grader check solution --no-training``
(the reference, every core check, one worker) in one run, interleaved:

- ``old``: the grader of commit e072d12 (``unshare`` with mounts over the secrets, as root),
  unpacked with ``git archive`` into a temporary folder;
- ``bwrap``: this grader with bubblewrap;
- ``unshare``, ``uid``: this grader on the simulated machine of tests/simulate_machine.py (a Python
  readable by other users; for ``uid`` no namespaces), which is what they need;
- ``none``: this grader without a sandbox.

Prints the median wall time of each and its ratio to ``old``. Every variant shares one expected-data
cache (warmed first), so only the grading is timed.
"""
from __future__ import annotations

import argparse
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

REPO = Path(__file__).resolve().parent.parent
OLD = "e072d12"
SIM = ["unshare", "--mount", "--propagation", "private", sys.executable, str(REPO / "tests/simulate_machine.py"),
       "--python-readable", "--private", str(REPO)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="reglab-bench-sandbox-", dir="/var/tmp"))
    try:
        old = base / "old"
        old.mkdir()
        archive = subprocess.run(["git", "archive", OLD], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")} | {"REGLAB_REUSE": "0"}
        env["XDG_CACHE_HOME"] = str(base / "cache")
        check = [sys.executable, "-m", "grader", "check", "solution", "--no-training", "--out", str(base / "out")]
        variants = {
            "old": (old, [], {}),
            "bwrap": (REPO, [], {"REGLAB_SANDBOX": "bwrap"}),
            "unshare": (REPO, [*SIM, "--"], {"REGLAB_SANDBOX": "unshare"}),
            "uid": (REPO, [*SIM, "--no-namespaces", "--"], {"REGLAB_SANDBOX": "uid"}),
            "none": (REPO, [], {"REGLAB_SANDBOX": "none"}),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        failures: dict[str, int] = {}
        for round_ in range(args.runs + 1):  # round 0 warms the caches
            for name, (cwd, prefix, extra) in variants.items():
                started = time.monotonic()
                proc = subprocess.run([*prefix, *check], cwd=cwd, env={**env, **extra}, capture_output=True, text=True)
                took = time.monotonic() - started
                result = json.loads((base / "out" / "solution" / "results.json").read_text())
                full = result["score"] == sum(t["max_score"] for t in result["tests"])
                if proc.returncode != 0 or not full:  # e.g. the old wall-time limits on a busy machine
                    lost = [t["name"].split(":")[0] for t in result["tests"] if t["score"] < t["max_score"]]
                    print(f"{name}: exit {proc.returncode}, {result['score']:g} points (lost {', '.join(lost) or 'none'})"
                          f"{proc.stderr[-600:]}")
                    failures[name] = failures.get(name, 0) + 1
                if round_:
                    times[name].append(took)
        ref = statistics.median(times["old"]) if times["old"] else float("nan")
        print(f"check solution --no-training, median of {args.runs} (2-core machine; os.cpu_count()={os.cpu_count()}):")
        for name, values in times.items():
            if values:
                med = statistics.median(values)
                note = f"  [{failures[name]} run(s) without full marks]" if name in failures else ""
                print(f"  {name:<8} {med:6.2f} s  {med / ref:5.2f}x old   ({', '.join(f'{v:.2f}' for v in values)}){note}")
            else:
                print(f"  {name:<8} not available here")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
