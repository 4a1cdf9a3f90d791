"""The uid backend before and after its sideways leaks were closed (sockets refused, Landlock, private
folders made before the exposure check), on the simulated machine without namespaces.

``python bench/bench_uid.py [--runs 5]`` (as root): times ``python -m grader check solution --no-training``
(the reference, every core check, one worker) under ``REGLAB_SANDBOX=uid``, interleaved:

- ``before``: the grader of commit 37f114a, unpacked with ``git archive`` into ``build/`` (inside this
  checkout, which the simulated machine keeps private);
- ``landlock``: this grader, where the kernel has Landlock (``uid+landlock``);
- ``no-landlock``: this grader on a simulated kernel without Landlock (``uid``).

Prints the median wall time of each and its ratio to ``before``. One expected-data cache for all
(warmed first), so only the grading is timed.
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
BEFORE = "37f114a"
SIM = ["unshare", "--mount", "--propagation", "private", sys.executable, str(REPO / "tests/simulate_machine.py"),
       "--python-readable", "--private", str(REPO), "--fresh-tmp", "--no-namespaces"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="reglab-bench-uid-", dir="/var/tmp"))
    old = REPO / "build" / f"bench-uid-{BEFORE}"
    try:
        shutil.rmtree(old, ignore_errors=True)
        old.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", BEFORE], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")} | {"REGLAB_REUSE": "0"}
        env.update(XDG_CACHE_HOME=str(base / "cache"), REGLAB_SANDBOX="uid")
        variants = {"before": (old, []), "landlock": (REPO, []), "no-landlock": (REPO, ["--no-landlock"])}
        times: dict[str, list[float]] = {name: [] for name in variants}
        labels: dict[str, str] = {}
        for round_ in range(args.runs + 1):  # round 0 warms the caches
            for name, (cwd, flags) in variants.items():
                command = (f"cd {cwd} && exec {sys.executable} -m grader check solution --no-training "
                           f"--out {base / 'out'}")
                started = time.monotonic()
                proc = subprocess.run([*SIM, *flags, "--", "sh", "-c", command], env=env, capture_output=True,
                                      text=True)
                elapsed = time.monotonic() - started
                if proc.returncode != 0:
                    sys.exit(f"{name}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
                result = json.loads((base / "out" / "solution" / "results.json").read_text(encoding="utf-8"))
                labels[name] = result["extra_data"]["reglab"]["environment"]["sandbox"]
                if round_:
                    times[name].append(elapsed)
        before = statistics.median(times["before"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:12} {median:6.2f} s  {median / before:5.2f}x  ({labels[name]}; runs "
                  f"{', '.join(f'{v:.2f}' for v in values)})")
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    main()
