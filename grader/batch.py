"""A TA's batch: every top-level entry inside SUBMISSIONS is one submission (see grader.intake).

A pipeline: discover → choose what to grade (--only, --resume) → grade each → write each → class
files. Each result is written as soon as it is ready, atomically, so a batch stopped half-way (even
by ``kill -9``) keeps what it did, and one broken submission never stops the others. The class
files are rebuilt from every result in the output folder, so grading one student into an existing
folder updates that student's row and keeps everyone else's.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import derive, reference, report_html, shard
from .checks import CORE, REGISTRY
from .config import SETTINGS, Config
from .course import Course
from .derive import Inputs
from .grading import Submission, broken, grade_submission
from .reference import course_seed
from .intake import Entry, content_key, discover, look_alikes
from .results import SubmissionResult
from .writers import gradescope, tables

PACKAGE = Path(__file__).resolve().parent
# Settings that change no grade: left out of the key, so changing them does not force a re-grade.
NOT_GRADING = {"jobs", "fail_under", "sources", "lang", "sandbox", "unsafe_no_sandbox", "cache", "reuse"}


class BatchError(Exception):
    """A usage problem of the batch itself (an unknown --only name)."""


@dataclass(frozen=True)
class Batch:
    results: list[SubmissionResult]   # this run's entries (graded now or kept by --resume), in order
    elapsed: float
    graded: tuple[str, ...] = ()      # names graded in this run
    kept: tuple[str, ...] = ()        # names whose earlier result was kept (--resume)
    everyone: tuple[SubmissionResult, ...] = ()  # every result in the output folder: the class files
    course: Course | None = None   # the roster matching and late policy it was graded under


def grader_key(config: Config, extra: str = "") -> str:
    """What a result depends on besides the submission: the grader's code, the reference and its
    expected data, and the settings that change grades (``extra``: e.g. the course secret's id)."""
    h = hashlib.sha256(extra.encode())
    for root, pattern in ((PACKAGE, "*.py"), (config.paths.solution, "*"), (config.paths.expected.parent, "*")):
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    settings = {name: getattr(config, name) for name in SETTINGS if name not in NOT_GRADING}
    h.update(repr(sorted((k, str(v)) for k, v in settings.items())).encode())
    return h.hexdigest()


def entry_key(content: str, grader: str) -> str:
    """The --resume key: the entry's content key (``intake.content_key``) and the grader's key."""
    return hashlib.sha256(f"{content}:{grader}".encode()).hexdigest()


def select(entries: list[Entry], only: tuple[str, ...] = ()) -> list[Entry]:
    """The entries named by --only (by folder name or as handed in), all of them without it."""
    if not only:
        return entries
    wanted = set(only)
    chosen = [e for e in entries if e.name in wanted or e.original in wanted]
    unknown = wanted - {e.name for e in chosen} - {e.original for e in chosen}
    if unknown:
        names = ", ".join(e.name for e in entries[:20]) + (" ..." if len(entries) > 20 else "")
        raise BatchError(f"--only: no submission called {', '.join(sorted(unknown))} (there are: {names})")
    return chosen


def earlier(out: Path, entry: Entry) -> SubmissionResult | None:
    path = out / entry.name / gradescope.RESULTS_FILE
    try:
        return gradescope.read(path) if path.is_file() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def grade_one(entry: Entry, config: Config, checks, key: str, inputs: Inputs) -> SubmissionResult:
    try:
        return grade_submission(entry.path, config, name=entry.name, checks=checks, original=entry.original,
                                key=key, inputs=inputs)
    except Exception:  # noqa: BLE001 - the grader's own failure, kept as that submission's result
        return broken(Submission(entry.name, entry.path, entry.original, key), checks, "grading failed",
                      grader_error=traceback.format_exc(limit=6))


def write_one(result: SubmissionResult, out: Path) -> None:
    gradescope.write(result, out / result.name)   # first: --resume trusts a folder with a results.json
    write_report(result, out / result.name)


def collect(out: Path) -> list[SubmissionResult]:
    """Every result in the output folder, by name (the class files list them all)."""
    found = []
    for path in sorted(out.glob(f"*/{gradescope.RESULTS_FILE}")):
        try:
            found.append(gradescope.read(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"skipped {path}: not a reglab result ({exc})", file=sys.stderr)
    return sorted(found, key=lambda r: r.name)


def grade_all(root: Path, out: Path, config: Config,
              on_result: Callable[[SubmissionResult, int, int], None] = lambda r, i, n: None, *,
              only: tuple[str, ...] = (), resume: bool = False) -> Batch:
    started = time.monotonic()
    if config.grading.shard and not config.course.secret_seed:  # each slice would draw a secret (and inputs) of its own
        raise BatchError("--shard needs the course secret (secret_seed in reglab.toml, or REGLAB_SECRET_SEED), "
                         "so that every slice draws the same inputs")
    everything = discover(root, skip=(out,))
    entries = select(shard.select(everything, config.grading.shard), only)
    course = Course.load(config, root, [e.path.name for e in everything])
    alike = look_alikes(everything)
    checks = REGISTRY if config.grading.training else CORE
    out.mkdir(parents=True, exist_ok=True)
    seed = course_seed(config.course.secret_seed, out)  # inputs no release has the expected values of
    key = grader_key(config, extra=hashlib.sha256(f"{derive.VERSION}:{seed}".encode()).hexdigest())
    # Each submission's inputs are derived from the secret and its content (grader/derive.py): the
    # same on every shard, and for the same content again under --resume.
    contents = {e.name: content_key(e.path) for e in entries}
    keys = {e.name: entry_key(contents[e.name], key) for e in entries}
    results: dict[str, SubmissionResult] = {}
    todo = []
    for entry in entries:
        before = earlier(out, entry) if resume else None
        if before is not None and before.key == keys[entry.name]:
            results[entry.name] = before
            write_report(before, out / entry.name)  # a batch killed between the two files
        else:
            todo.append(entry)
    kept = tuple(results)
    if todo and (config.paths.solution / "__init__.py").is_file():
        reference.prestart(config.paths.solution, config.grading.jobs)  # every submission's expected data is computed for its own inputs
    lock = threading.Lock()

    def one(entry: Entry) -> None:
        inputs = Inputs(seed, scope=contents[entry.name])
        result = course.annotate(grade_one(entry, config, checks, keys[entry.name], inputs), entry.path)
        if entry.name in alike:  # last: the first problem of an ungradable entry is why (results.troubles)
            result = dataclasses.replace(result, problems=(*result.problems, alike[entry.name]))
        write_one(result, out)
        with lock:
            results[entry.name] = result
            on_result(result, len(results), len(entries))

    with concurrent.futures.ThreadPoolExecutor(max(1, config.grading.jobs)) as pool:
        for future in [pool.submit(one, e) for e in todo]:
            future.result()
    elapsed = round(time.monotonic() - started, 3)
    everyone = tuple(collect(out))
    write_class_files(list(everyone), out, elapsed)
    return Batch([results[e.name] for e in entries], elapsed, tuple(e.name for e in todo), kept, everyone, course)


def write_report(result: SubmissionResult, folder: Path) -> None:
    report_html.write_student(result, folder / "index.html")


def write_class_files(results: list[SubmissionResult], out: Path, elapsed: float) -> None:
    tables.write(results, out)
    report_html.write_summary(results, out, elapsed)


def progress_printer(stream=None) -> Callable[[SubmissionResult, int, int], None]:
    """The batch's progress display (grader/progress.py)."""
    from . import progress

    return progress.printer(stream)
