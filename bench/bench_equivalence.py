"""Equivalence testing of the reference: every rule of tests/equivalence_rules.py applied alone,
and seeded random combinations of the rules expected to keep full marks, each graded as a
submission in this process (tests/fixtures/inprocess.py: the forms are the reference's code).

    python bench/bench_equivalence.py [--combinations 200] [--seed 0] [--show-source RULE]

Prints the number of rules, forms graded, how many got full marks, and every exception: a rule
non-equivalent under the contract (the sentence it breaks) or one today's grader gets wrong (the
check and why), with the checks that failed. Exit status 1 when a form's result is not the one
the table expects (a new grader bug, or a fixed one whose rule should be flipped).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "fixtures"), str(REPO / "tests")]

import inprocess  # noqa: E402
from equivalence import SOLUTION, combinations, form_of, write  # noqa: E402
from equivalence_rules import RULES  # noqa: E402

from grader.checks import CORE, expected_probes  # noqa: E402
from grader.reference import compute  # noqa: E402


def failures(form, expected, cache: Path) -> list[str]:
    """``check id: message`` of every check that lost points."""
    folder = write(form, cache / f"f{abs(hash(form.name))}")
    try:
        return [f"{r.id}: {r.message}" for r in inprocess.grade(folder, expected) if r.score < r.max_score]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--combinations", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show-source", metavar="RULE", help="print RULE's rewritten file(s) and stop")
    args = ap.parse_args(argv)
    if args.show_source:
        form = form_of([r for r in RULES if r.name == args.show_source])
        for file, src in (form.sources if form else {}).items():
            print(f"# ---- {file}.py\n{src}")
        return 0 if form else 1
    started = time.perf_counter()
    expected = compute(SOLUTION, expected_probes(CORE))
    cache = Path(tempfile.mkdtemp(prefix="reglab-eq-"))
    singles = [(rule, form_of([rule])) for rule in RULES]
    combos = combinations([r for r in RULES if r.expected_full and not r.grader_bug], args.combinations, args.seed)
    full, surprises, exceptions = 0, [], []
    for rule, form in singles:
        if form is None:
            surprises.append(f"{rule.name}: does not apply to the reference")
            continue
        lost = failures(form, expected, cache)
        full += not lost
        got = "full marks" if not lost else "loses points"
        if not rule.expected_full or rule.grader_bug:
            why = "".join(f"\n    {label}: {text}" for label, text in
                          (("non-equivalent", rule.non_equivalent), ("grader bug", rule.grader_bug)) if text)
            exceptions.append(f"{rule.name}: {got}{why}" + "".join(f"\n    {m}" for m in lost))
        if (not lost) != rule.graded_full:
            surprises.append(f"{rule.name}: {got}, the table expects the opposite"
                             + "".join(f"\n    {m}" for m in lost))
    combo_full = 0
    for form in combos:
        lost = failures(form, expected, cache)
        combo_full += not lost
        if lost:
            surprises.append(f"combination {form.name}: lost points\n    " + "\n    ".join(lost))
    shutil.rmtree(cache, ignore_errors=True)
    for line in exceptions:
        print(f"\nexception {line}")
    for line in surprises:
        print(f"\nUNEXPECTED {line}")
    forms = sum(f is not None for _, f in singles) + len(combos)
    print(f"\nrules: {len(RULES)}  forms generated: {forms} ({len(RULES)} single, {len(combos)} combinations "
          f"of 2-6 rules, seed {args.seed})  full marks: {full + combo_full} ({full} single, {combo_full} "
          f"combinations)  exceptions: {len(exceptions)}  unexpected: {len(surprises)}"
          f"  ({time.perf_counter() - started:.0f} s)")
    return 1 if surprises else 0


if __name__ == "__main__":
    sys.exit(main())
