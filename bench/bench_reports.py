"""Time the HTML writer: 200 synthetic student reports with training curves, plus the summary.

    python bench/bench_reports.py [--n 200] [--keep DIR]
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grader.report_html import write_student, write_summary  # noqa: E402
from grader.results import CheckResult, Outcome, SubmissionResult  # noqa: E402

CHECKS = [(part, f"{part}.check_{i}") for part, n in
          (("penalties", 5), ("model", 5), ("data", 4), ("train", 4), ("experiment", 2)) for i in range(n)]
MISTAKES = ["penalised the biases", "forgot to square the weights", "dropout active in eval mode",
            "normalised with per-image statistics", "forgot optimizer.zero_grad()", None, None, None]
OUTCOMES = {Outcome.PASSED: 70, Outcome.FAILED: 15, Outcome.ERROR: 5, Outcome.TIMEOUT: 2,
            Outcome.NOT_IMPLEMENTED: 5, Outcome.SKIPPED: 2, Outcome.GRADER_ERROR: 1}
MESSAGES = {Outcome.PASSED: "matches the reference", Outcome.FAILED: "the value differs from the reference",
            Outcome.ERROR: "your code raised RuntimeError", Outcome.TIMEOUT: "ran past its 60 s limit",
            Outcome.NOT_IMPLEMENTED: "still raises NotImplementedError", Outcome.SKIPPED: "not run (--no-training)",
            Outcome.GRADER_ERROR: "the reference model could not be loaded"}
TRACEBACK = ('Traceback (most recent call last):\n  File "model.py", line 42, in forward\n'
             '    x = self.drop(x) @ self.w\nRuntimeError: mat1 and mat2 shapes cannot be multiplied (64x3072 and 512x10)')


def synthetic_check(rng: random.Random, part: str, cid: str) -> CheckResult:
    outcome = rng.choices(list(OUTCOMES), weights=list(OUTCOMES.values()))[0]
    passed = outcome is Outcome.PASSED
    return CheckResult(
        id=cid, part=part, title=f"{cid.replace('_', ' ')} behaves like the reference", outcome=outcome,
        score=2.0 if passed else rng.choice([0.0, 0.5]), max_score=2.0,
        message="the worker was killed (out of memory)" if outcome is Outcome.ERROR and rng.random() < 0.3
        else MESSAGES[outcome],
        expected=None if passed else "tensor(0.1234)", got=None if passed else f"tensor({rng.random():.4f})",
        hint=None if passed else "look at how the penalty is summed", mistake=None if passed else rng.choice(MISTAKES),
        location=f"{part}.py:{cid.split('.')[1]}", traceback=TRACEBACK if outcome is Outcome.ERROR else None,
        duration=rng.random(),
    )


def synthetic_curves(rng: random.Random) -> dict:
    epochs = rng.randint(5, 30)
    runs = {}
    for name, gain in (("baseline", 0.0), ("l2", 0.1), ("dropout", 0.15)):
        if rng.random() < 0.05:
            continue  # a run that never finished
        train = [2.3 * math.exp(-e / 8) + 0.3 + rng.gauss(0, 0.02) for e in range(epochs)]
        test = [t + 0.1 + (0.6 - gain) * e / epochs + rng.gauss(0, 0.03) for e, t in enumerate(train)]
        if rng.random() < 0.05:
            test[-1] = None  # NaN, as the training check writes it
        runs[name] = {"train_loss": train, "test_loss": test, "final_test_loss": test[-1]}
    base = runs.get("baseline", {}).get("final_test_loss")
    margins = {n: base - r["final_test_loss"] for n, r in runs.items()
               if n != "baseline" and base is not None and r["final_test_loss"] is not None}
    return {"device": "cpu", "threshold": 0.1, "runs": runs, "margins": margins}


def synthetic_result(i: int, rng: random.Random) -> SubmissionResult:
    return SubmissionResult(
        name=f"student{i:03d}", checks=tuple(synthetic_check(rng, part, cid) for part, cid in CHECKS),
        source=f"submissions/student{i:03d}.zip", duration=rng.uniform(5, 60),
        output="\n".join(f"epoch {e}: loss {rng.random():.4f}" for e in range(50)),
        environment={"device": "cpu", "torch": "2.3.0"}, extra={"training": synthetic_curves(rng)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="write here instead of a temporary directory")
    args = parser.parse_args()
    rng = random.Random(0)
    results = [synthetic_result(i, rng) for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        start = time.perf_counter()
        for r in results:
            write_student(r, out / r.name / "index.html")
        students = time.perf_counter() - start
        write_summary(results, out, elapsed=students)
        total = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.rglob("index.html"))
    print(f"{args.n} student reports + summary: {total:.2f} s total, "
          f"{1000 * students / args.n:.1f} ms per report, summary {1000 * (total - students):.0f} ms, "
          f"{size / 1e6:.1f} MB written")


if __name__ == "__main__":
    main()
