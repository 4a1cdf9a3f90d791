"""Mutation testing of a lab's reference: every mutant of each of its modules (the regularization lab:
solution/{penalties,model,data,train}.py) is graded as a submission; each must lose points in the
mutant's own part.

    python bench/bench_mutation.py [--lab cnn] [--files penalties,model] [--seeds 2]

The mutants are mutmut's (2.x: ``mutmut.list_mutations`` / ``mutmut.mutate``, driven here because
mutmut's own runner runs a test command per mutant, and a grader run per mutant through the
sandbox would take hours on two cores). Each mutant is graded in this process against the expected
data of the public seed (tests/fixtures/inprocess.py: mutants are the reference's code, trusted).
A mutant that keeps full marks in its own part *survives*; for each survivor the contract's
probes decide whether it is equivalent: it is run with every probe under ``--seeds`` more secret
seeds and compared with the reference's results on the same inputs. Equal everywhere: equivalent
(listed with the reason the contract gives, where one is known); different anywhere: a
non-equivalent survivor, a hole in the grader.
"""
from __future__ import annotations

import argparse
import difflib
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "fixtures")]

from grader.lab import current, select  # noqa: E402

if "--lab" in sys.argv:  # chosen before anything reads the lab, as the grader's command line does
    select(sys.argv[sys.argv.index("--lab") + 1])

import inprocess  # noqa: E402
from mutmut import Context, list_mutations, mutate  # noqa: E402

from grader.checks import CORE, expected_probes, probes_for  # noqa: E402
from grader.compare import first_mismatch  # noqa: E402
from grader.reference import compute, load_reference  # noqa: E402
from grader.worker.probing import PROBES  # noqa: E402

FILES = current().modules
SOLUTION = current().reference_folder

# Why a surviving mutant is equivalent under the contract, for the mutations the probes cannot
# tell apart by design. Matched against the mutated line; every survivor must match one of these
# *and* pass the probe-equivalence test, or it is reported as non-equivalent.
REASONS = (
    (r"raise ValueError\(", "the ValueError's message text is not part of the contract (only its type)"),
    (r"torch\.zeros\(\(\)\)", "the start value of the sum: any 0-dim zero (or None replaced by 0) gives the same sum"),
    (r"dim\s*=\s*\d", "argmax over the last axis of (N, 10) logits: dim=1 and dim=-1 are the same"),
    (r"reshape\(-\d", "NumPy infers the size of any negative dimension in reshape: -2 does what -1 does"),
    (r"numel\(\) //? x\.shape\[1\]", "the elements per channel, N·H·W: a whole number, so / and // give the same count"),
)


@dataclass
class Record:
    file: str
    line: int
    diff: str
    own: tuple[float, float]
    others_full: bool
    status: str = ""      # killed | survived-equivalent | survived-NON-EQUIVALENT | killed-elsewhere-only
    reason: str = ""


def mutants(file: str):
    src = (SOLUTION / f"{file}.py").read_text(encoding="utf-8")
    for mid in list_mutations(Context(source=src, filename=f"{file}.py")):
        new, count = mutate(Context(source=src, mutation_id=mid, filename=f"{file}.py"))
        if count and new != src:
            yield mid, src, new


def graded(folder: Path, expected) -> dict[str, tuple[float, float]]:
    parts: dict[str, list[float]] = {}
    for r in inprocess.grade(folder, expected):
        got, total = parts.setdefault(r.part, [0.0, 0.0])
        parts[r.part] = [got + r.score, total + r.max_score]
    return {k: tuple(v) for k, v in parts.items()}


def equivalent(folder: Path, file: str, seeds: int, ref) -> tuple[bool, str]:
    """Every probe of the mutant's part, under ``seeds`` more seeds, against the reference."""
    impl = inprocess.load(folder)
    probes = [p for p in probes_for(CORE) if PROBES[p].part == file]
    for k in range(seeds):
        seed = f"bench-mutation-{k}"
        for probe in probes:
            got, want = inprocess.outcome(impl, probe, seed), inprocess.outcome(ref, probe, seed)
            if got.status != want.status:
                return False, f"{probe} (seed {k}): {got.status} instead of {want.status}"
            if got.ok and (miss := first_mismatch(got.values, want.values, sorted(want.values))):
                return False, f"{probe} (seed {k}): {miss[0]} is {miss[1]}"
    return True, ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lab", help="the lab whose reference is mutated (default: the course's)")
    ap.add_argument("--files", default=",".join(FILES))
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    cache = Path(tempfile.mkdtemp(prefix="reglab-mut-"))
    expected = compute(SOLUTION, expected_probes(CORE))
    ref = load_reference(SOLUTION)
    print(f"expected data computed in {time.perf_counter() - started:.1f} s")
    records: list[Record] = []
    for file in args.files.split(","):
        for mid, src, new in mutants(file):
            sub = cache / f"m{len(records)}"
            shutil.copytree(SOLUTION, sub, ignore=shutil.ignore_patterns("__pycache__"))
            (sub / f"{file}.py").write_text(new, encoding="utf-8")
            diff = "".join(l for l in difflib.unified_diff(src.splitlines(True), new.splitlines(True), n=0)
                           if l[:1] in "+-" and not l.startswith(("+++", "---"))).strip()
            parts = graded(sub, expected)
            own = parts[file]
            rec = Record(file, mid.line_number + 1, diff, own,
                         all(s == t for p, (s, t) in parts.items() if p != file))
            if own[0] < own[1]:
                rec.status = "killed"
            elif any(s < t for s, t in parts.values()):
                rec.status = "killed-elsewhere-only"
            else:
                same, why = equivalent(sub, file, args.seeds, ref)
                reason = next((r for pat, r in REASONS if re.search(pat, mid.line)), "")
                if same:
                    rec.status, rec.reason = "survived-equivalent", reason or "equal results on every probe of " \
                        f"its part under {args.seeds} more seeds (no known contract reason: look at it)"
                else:
                    rec.status, rec.reason = "survived-NON-EQUIVALENT", why
            records.append(rec)
            shutil.rmtree(sub, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    counts = {s: sum(r.status == s for r in records) for s in
              ("killed", "killed-elsewhere-only", "survived-equivalent", "survived-NON-EQUIVALENT")}
    for r in records:
        if r.status != "killed":
            print(f"\n{r.status}: {r.file}.py line {r.line}  own part {r.own[0]:g}/{r.own[1]:g}"
                  f"{'' if r.others_full else '  (other parts lost points too)'}\n  {r.diff.replace(chr(10), chr(10) + '  ')}"
                  + (f"\n  why: {r.reason}" if r.reason else ""))
    leaked = sum(1 for r in records if r.status == "killed" and not r.others_full)
    print(f"\nmutants: {len(records)}  killed in their own part: {counts['killed']} "
          f"(of which also charged elsewhere: {leaked})  killed only elsewhere: {counts['killed-elsewhere-only']}  "
          f"equivalent: {counts['survived-equivalent']}  surviving non-equivalent: {counts['survived-NON-EQUIVALENT']}"
          f"  ({time.perf_counter() - started:.0f} s)")
    return 1 if counts["survived-NON-EQUIVALENT"] or counts["killed-elsewhere-only"] else 0


if __name__ == "__main__":
    sys.exit(main())
