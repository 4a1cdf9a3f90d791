"""The training check on the reference beside two CPU-bound busy processes (a shared server).

    python bench/bench_busy_training.py [--data data] [--busy 2]

Runs ``python -m grader check solution`` (every check, the CIFAR-10 training check included) once on
the machine as it is and once with ``--busy`` processes spinning ``while True: pass`` beside it, and
prints for each whether the training check passed, its wall time and the whole check's. The step
limits count CPU time (isolation.StepClock) with a wall-time backstop, so the busy loops slow the
check down without failing it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["REGLAB_REUSE"] = "0"  # every check times its work: none answered from the content cache

REPO = Path(__file__).resolve().parent.parent


def check(data: str, out: Path) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")} | {"REGLAB_REUSE": "0"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "grader", "check", "solution", "--data", data, "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:])
    return took, json.loads((out / "solution" / "results.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(REPO / "data"))
    p.add_argument("--busy", type=int, default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for label, busy in (("idle", 0), (f"{args.busy} busy loops", args.busy)):
            loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
            try:
                took, result = check(args.data, Path(tmp) / label.replace(" ", "_"))
            finally:
                for loop in loops:
                    loop.kill()
                    loop.wait()
            tests = [t for t in result["tests"] if "experiment" in t["tags"]]
            if not tests or all(t["max_score"] == 0 for t in tests):
                print(f"{label:<14} training check not run: {tests[0]['output'][:200] if tests else 'no such check'}")
                continue
            passed = all(t["status"] == "passed" for t in tests) and bool(tests)
            training = result["extra_data"]["reglab"].get("extra", {}).get("training", {})
            print(f"{label:<14} training check {'passed' if passed else 'FAILED'}"
                  f" ({sum(t['score'] for t in tests):g}/{sum(t['max_score'] for t in tests):g}),"
                  f" check took {took:.1f} s, score {result['score']:g};"
                  f" training seconds: {training.get('seconds', training.get('elapsed', 'n/a'))}")
            if not passed:
                print("   ", [t["output"][:300] for t in tests if t["status"] != "passed"])


if __name__ == "__main__":
    main()
