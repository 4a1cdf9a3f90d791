"""Sandbox v3's cost per submission and the grader's peak memory, against the grader before it (37f114a).

``python bench/bench_overhead.py [--runs 5] [--jobs 2]``: grades, in one run and alternated run for run,

- ``one``: ``grade`` of examples/typical_mistakes alone (a TA grading one late submission: every
  failing check asks for its known mistakes, so this is the worst case of per-submission inputs);
- ``class-10``, ``class-30``: ``grade --jobs J`` of a class of ten (reference, stubs, the three
  examples, known mistakes, correct variants), and of three times as many: their difference over 20 is
  the cost of one more submission, the rest the cost of starting a grade;

each by ``old`` (commit 37f114a unpacked with ``git archive``; the course seed shared by every
submission, its expected data cached on disk) and by ``new`` (the working tree: every submission's
inputs derived from the course secret, its expected data computed for them). ``--no-training``
both. Every variant's cache is warmed by an untimed round first.

Prints the median wall time of each, ``new``/``old`` per submission (wall time, and the whole machine's busy
CPU time: workers and the expected-data process included), and the peak resident memory
(VmHWM, polled) of the grader's own process and of its largest other grader-side process (the
expected-data process; workers run as the sandbox and are bounded by its limits, not counted here).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
OLD = "37f114a"

from fixtures.build import VARIANTS, build_submission  # noqa: E402
from fixtures.mutations import MUTATIONS  # noqa: E402


def make_class(folder: Path, copies: int) -> None:
    """``copies`` times ten kinds: the reference, the stubs, the three examples, three known mistakes and
    two correct variants (each copy differs by a comment: every submission has content of its own)."""
    for k in range(copies):
        build_submission(folder / f"ref-{k}")
        shutil.copytree(REPO / "assignment", folder / f"stubs-{k}", ignore=shutil.ignore_patterns("__pycache__"))
        for example in ("complete", "half_done", "typical_mistakes"):
            shutil.copytree(REPO / "examples" / example, folder / f"{example}-{k}",
                            ignore=shutil.ignore_patterns("__pycache__"))
        for m in (MUTATIONS[0], MUTATIONS[len(MUTATIONS) // 2], MUTATIONS[-1]):
            build_submission(folder / f"bug-{m.name}-{k}", mutation=m)
        for v in sorted(VARIANTS.iterdir())[:2]:
            build_submission(folder / f"ok-{v.name}-{k}", overlay=v)
    for sub in folder.iterdir():
        with open(sub / "model.py", "a", encoding="utf-8") as fh:
            fh.write(f"# {sub.name}\n")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc/*/stat's parent field)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def peak_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, owner uid) of one process, (0, -1) once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, -1
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    hwm = int(fields.get("VmHWM", "0 kB").split()[0])
    return hwm, int(fields["Uid"].split()[0])


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat: user, nice, system, irq,
    softirq): what a grade costs in CPU, workers run as other users and in other namespaces included."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float, int, int, int]:
    """(wall seconds, the machine's busy CPU seconds meanwhile, exit status, grader's peak KiB, largest
    other grader-side process's peak KiB)."""
    started, busy = time.monotonic(), busy_seconds()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    own, helper = [0], [0]
    done = threading.Event()

    def poll() -> None:
        me = os.getuid()
        while not done.is_set():
            own[0] = max(own[0], peak_kib(proc.pid)[0])
            for child in descendants(proc.pid):
                hwm, uid = peak_kib(child)
                if uid == me:
                    helper[0] = max(helper[0], hwm)
            time.sleep(0.05)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, err = proc.communicate()
    took, cpu = time.monotonic() - started, busy_seconds() - busy
    done.set()
    poller.join()
    if proc.returncode not in (0, 1):
        print(f"  exit {proc.returncode}: {err.decode(errors='replace')[-800:]}", file=sys.stderr)
    return took, cpu, proc.returncode, own[0], helper[0]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="reglab-bench-overhead-", dir="/var/tmp"))
    try:
        trees = {"old": base / "old", "new": base / "new"}
        for name, rev in (("old", OLD), ("new", None)):
            trees[name].mkdir()
            if rev is None:  # the working tree as it is, uncommitted changes included
                files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                                       capture_output=True, text=True, check=True).stdout.split()
                for f in files:
                    if (REPO / f).is_file():
                        (trees[name] / f).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(REPO / f, trees[name] / f)
            else:
                archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
                subprocess.run(["tar", "-x", "-C", str(trees[name])], input=archive, check=True)
        small, large = base / "class-10", base / "class-30"
        make_class(small, 1)
        make_class(large, 3)
        one = base / "one"
        shutil.copytree(REPO / "examples" / "typical_mistakes", one / "typical_mistakes")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGLAB_")}
        env["XDG_CACHE_HOME"] = str(base / "cache")
        env["REGLAB_SECRET_SEED"] = "bench-overhead-course-secret"
        jobs = {"one": (one, 1), "class-10": (small, args.jobs), "class-30": (large, args.jobs)}
        times = {(t, j): [] for t in trees for j in jobs}
        cpus = {(t, j): [] for t in trees for j in jobs}
        memory = {t: [0, 0] for t in trees}
        for round_ in range(args.runs + 1):  # round 0 warms every cache
            for job, (folder, j) in jobs.items():
                for tree, cwd in trees.items():
                    out = base / "out"
                    shutil.rmtree(out, ignore_errors=True)
                    cmd = [sys.executable, "-m", "grader", "grade", str(folder), "--out", str(out),
                           "--jobs", str(j), "--no-training"]
                    took, cpu, _, own, helper = timed(cmd, cwd, env)
                    if round_:
                        times[(tree, job)].append(took)
                        cpus[(tree, job)].append(cpu)
                        memory[tree] = [max(memory[tree][0], own), max(memory[tree][1], helper)]
        print(f"grade --no-training, medians of {args.runs}, alternated (os.cpu_count()={os.cpu_count()}, "
              f"load average now {os.getloadavg()[0]:.1f}):")
        med = {key: statistics.median(values) for key, values in times.items()}
        for job, (folder, j) in jobs.items():
            count = len(list(folder.iterdir()))
            old, new = med[("old", job)], med[("new", job)]
            print(f"  {job:<8} ({count} submission{'s' * (count > 1)}, --jobs {j}): old {old:6.2f} s, new {new:6.2f} s"
                  f" = {new / old:.2f}x")
            for t in trees:
                print(f"             {t}: {', '.join(f'{v:.2f}' for v in times[(t, job)])}")
        # Each grade pays a start (imports, fork server, expected data) once, then each submission: the
        # difference of the two classes is the cost of 20 submissions alone.
        per = {t: (med[(t, "class-30")] - med[(t, "class-10")]) / 20 for t in trees}
        fixed = {t: med[(t, "class-10")] - 10 * per[t] for t in trees}
        print(f"  per submission (class-30 - class-10) / 20: old {per['old']:.3f} s, new {per['new']:.3f} s "
              f"= {per['new'] / per['old']:.2f}x")
        cpu = {key: statistics.median(values) for key, values in cpus.items()}
        per_cpu = {t: (cpu[(t, "class-30")] - cpu[(t, "class-10")]) / 20 for t in trees}
        print(f"  the machine's busy CPU per submission, the same way: old {per_cpu['old']:.3f} s, "
              f"new {per_cpu['new']:.3f} s = {per_cpu['new'] / per_cpu['old']:.2f}x")
        print(f"  start of a grade (class-10 - 10 x per submission): old {fixed['old']:.2f} s, "
              f"new {fixed['new']:.2f} s")
        for t in trees:
            print(f"  peak memory, {t}: grader process {memory[t][0] / 1024:.0f} MiB, "
                  f"largest other grader-side process {memory[t][1] / 1024:.0f} MiB")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
