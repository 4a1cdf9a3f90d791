"""Robustness of a lab's training check across seeds, for the reference and for the lab's mistakes that
take a technique's effect away (``TRAINING_MISTAKES`` in its mutants.py), on real CIFAR-10.

    python bench/bench_training.py [--lab cnn] [--data data] [--seeds 20] [--epochs 40] [--eval-every 5]
                                   [--only reference,...]

Runs the worker's own training probe in this process on the reference (and on each mistake), with the
check's subset, and prints, per seed, every margin the lab's analysis measures (recomputed from the final
weights) and the verdict against the threshold: the reference must pass every margin, each mistake must
fail the margins it names.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import lab, reference, training  # noqa: E402
from grader.worker.probing import run  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lab", default="", help="the lab (default: the course's)")
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--only", default=None, help="comma list of variants (reference, and the lab's mistakes)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = ap.parse_args(argv)
    lab.select(args.lab)
    trained, current = lab.current().training_check(), lab.current()
    current.probes()
    settings = training.lab_settings()
    if args.epochs:
        settings = dataclasses.replace(settings, epochs=args.epochs)
    if args.eval_every:
        settings = dataclasses.replace(settings, eval_every=args.eval_every)
    subset = training.load_subset(args.data, settings)
    data = subset.write(training.scratch_dir())
    ref = reference.load_reference(current.reference_folder)
    chosen = {"reference": (lambda ref: {}, ()), **current.training_mistakes()}
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    print(f"lab {current.name}: subset {settings.n_train}/{settings.n_test}, {settings.epochs} epochs, runs "
          f"{[(r.name, *dict(r.options).values()) for r in settings.runs]}, threshold {settings.margin}", flush=True)
    for label, (build, failing) in chosen.items():
        rows = []
        for seed in range(args.seeds):
            t0 = time.monotonic()
            with ref.patched(build(ref)):
                params = dataclasses.replace(settings, seed=seed).params(data, args.device, os.cpu_count() or 1)
                values = run(ref, trained.PROBE, params=params)
            a = trained.analyse(values, subset, settings)
            right = all((a.margins[m] >= a.threshold) != (m in failing) for m in a.margins)
            rows.append((a.margins, right, time.monotonic() - t0))
            print(f"  {label:22s} seed {seed:2d} ({values['device']}): " +
                  "  ".join(f"{k} {v:+.3f}" for k, v in a.margins.items()) +
                  f"  {'as expected' if right else 'WRONG VERDICT'}  ({rows[-1][-1]:.1f} s)", flush=True)
        for margin in rows[0][0]:
            m = [r[0][margin] for r in rows]
            print(f"{label:22s} {margin:10s} margin min {min(m):+.3f} median {statistics.median(m):+.3f} "
                  f"max {max(m):+.3f}")
        print(f"{label:22s} verdicts as expected {sum(r[1] for r in rows)}/{len(rows)}; seconds per seed median "
              f"{statistics.median(r[2] for r in rows):.1f}\n", flush=True)


if __name__ == "__main__":
    main()
