"""Robustness of the training check's verdict across seeds, for the reference and for two
regularization bugs (λ ignored in train_epoch; dropout never active), on real CIFAR-10.

    python bench/bench_training.py [--data data] [--seeds 20] [--lmbd 0.1] [--drop-prob 0.3] [--epochs 40]
                                   [--eval-every 5]

Runs the worker's own training code in this process on the reference (and on the two bugs),
with the check's subset, and prints, per seed, each regularized run's margin (baseline final test
loss minus the run's, recomputed from the final weights) and the verdict against the threshold.
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
from labs.regularization.worker.experiment import run_experiment  # noqa: E402


def variants(ref):
    """``label -> (replacements, the runs that decide its verdict)``: the reference must pass every
    margin check; each bug must fail the check of the run it breaks (the baseline and that run
    are enough to show it, which halves the bench's time)."""
    train_epoch, mlp = ref.modules["train"].train_epoch, ref.modules["model"].DropoutMLP
    return {
        "reference": ({}, ("l2", "dropout")),
        "lambda ignored": ({"train_epoch": lambda *a, lmbd=0.0, **k: train_epoch(*a, lmbd=0.0, **k)}, ("l2",)),
        "dropout never active": ({"DropoutMLP": lambda drop_prob=0.0: mlp(0.0)}, ("dropout",)),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--lmbd", type=float, default=None)
    ap.add_argument("--drop-prob", type=float, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--only", default=None, help="comma list of variants (reference, lambda ignored, ...)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = ap.parse_args(argv)
    settings = training.lab_settings()
    if args.epochs:
        settings = dataclasses.replace(settings, epochs=args.epochs)
    if args.eval_every:
        settings = dataclasses.replace(settings, eval_every=args.eval_every)
    if args.lmbd is not None or args.drop_prob is not None:
        lm = settings.runs[1].lmbd if args.lmbd is None else args.lmbd
        p = settings.runs[2].drop_prob if args.drop_prob is None else args.drop_prob
        settings = dataclasses.replace(settings, runs=(training.Run("baseline", 0, 0), training.Run("l2", lm, 0),
                                                       training.Run("dropout", 0, p)))
    subset = training.load_subset(args.data, settings)
    data = subset.write(training.scratch_dir())
    ref = reference.load_reference(ROOT / "solution")
    chosen = variants(ref)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    print(f"subset {settings.n_train}/{settings.n_test}, {settings.epochs} epochs, runs "
          f"{[(r.name, r.lmbd, r.drop_prob) for r in settings.runs]}, threshold {settings.margin}", flush=True)
    for label, (patch, deciding) in chosen.items():
        runs = tuple(r for r in settings.runs if r.name in ("baseline", *deciding))
        mine = dataclasses.replace(settings, runs=runs)
        rows = []
        for seed in range(args.seeds):
            t0 = time.monotonic()
            with ref.patched(patch):
                params = dataclasses.replace(mine, seed=seed).params(data, args.device, os.cpu_count() or 1)
                values = run_experiment(ref, **params)
            a = lab.training_check().analyse(values, subset, mine)
            passed = all(a.margins[r] >= a.threshold for r in deciding)
            rows.append((a.margins, passed, time.monotonic() - t0))
            print(f"  {label:22s} seed {seed:2d} ({values['device']}): baseline {a.recomputed['baseline']:.3f}  " +
                  "  ".join(f"{k} {v:+.3f}" for k, v in a.margins.items()) +
                  f"  {'pass' if passed else 'FAIL'}  ({rows[-1][-1]:.1f} s)", flush=True)
        for run in deciding:
            m = [r[0][run] for r in rows]
            print(f"{label:22s} {run:8s} margin min {min(m):+.3f} median {statistics.median(m):+.3f} "
                  f"max {max(m):+.3f}")
        print(f"{label:22s} verdict pass {sum(r[1] for r in rows)}/{len(rows)}; seconds per seed "
              f"({len(runs)} runs) median {statistics.median(r[2] for r in rows):.1f}\n", flush=True)

if __name__ == "__main__":
    main()
