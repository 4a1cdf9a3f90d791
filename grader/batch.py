"""A TA's batch: every folder or .zip directly inside SUBMISSIONS is one submission.

Each result is written as soon as it is ready, so a batch stopped half-way keeps what it did,
and one broken submission never stops the others.
"""
from __future__ import annotations

import concurrent.futures
import shutil
import tempfile
import threading
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import report_html, shard
from .checks import CORE, REGISTRY
from .config import Config
from .course import Course
from .files import safe_name
from .grading import _broken, grade_submission, load_expected
from .results import SubmissionResult
from .writers import gradescope, tables

MAX_UNPACKED = 64 << 20
MAX_MEMBERS = 2000


class UnpackError(Exception):
    pass


def discover(root: Path) -> list[tuple[str, Path]]:
    """``(name, path)`` for each submission, sorted; names made unique and safe for folders."""
    found, seen = [], set()
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not (path.is_dir() or path.suffix.lower() == ".zip"):
            continue
        name, n = safe_name(path.stem if path.suffix.lower() == ".zip" else path.name), 1
        while name in seen:
            n += 1
            name = f"{safe_name(path.stem)}-{n}"
        seen.add(name)
        found.append((name, path))
    return found


def unpack(archive: Path, dest: Path) -> Path:
    """Extract a zip safely (no absolute or '..' paths, no links, bounded size); returns its lab folder."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_MEMBERS:
                raise UnpackError(f"{archive.name} holds {len(members)} files (at most {MAX_MEMBERS})")
            if sum(m.file_size for m in members) > MAX_UNPACKED:
                raise UnpackError(f"{archive.name} unpacks to more than {MAX_UNPACKED >> 20} MB")
            for m in members:
                parts = Path(m.filename).parts
                if m.filename.startswith("/") or ".." in parts or (m.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UnpackError(f"{archive.name}: unsafe entry {m.filename!r}")
            zf.extractall(dest)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnpackError(f"{archive.name} is not a readable zip file ({exc})") from None
    entries = [p for p in dest.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


@dataclass(frozen=True)
class Batch:
    results: list[SubmissionResult]
    elapsed: float
    course: Course | None = None   # the roster matching and late policy it was graded under


def grade_all(root: Path, out: Path, config: Config,
              on_result: Callable[[SubmissionResult, int, int], None] = lambda r, i, n: None) -> Batch:
    started = time.monotonic()
    everything = discover(root)
    subs = shard.select(everything, config.shard)
    course = Course.load(config, root, [p.name for _, p in everything])
    expected = load_expected(config)  # once, shared by every submission
    checks = REGISTRY if config.training else CORE
    results: dict[str, SubmissionResult] = {}
    lock = threading.Lock()

    def one(name: str, path: Path) -> SubmissionResult:
        tmp, entry = None, path
        try:
            if path.is_file():
                tmp = Path(tempfile.mkdtemp(prefix="reglab-zip-"))
                path = unpack(path, tmp)
            result = grade_submission(path, config, name=name, checks=checks, expected=expected)
        except UnpackError as exc:
            result = _broken(name, path, time.monotonic(), checks, str(exc))
        except Exception:  # noqa: BLE001 - the grader's own failure, kept as that submission's result
            result = _broken(name, path, time.monotonic(), checks, "grading failed",
                             grader_error=traceback.format_exc(limit=6))
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        result = course.annotate(result, entry)
        gradescope.write(result, out / name)
        write_report(result, out / name)
        with lock:
            results[name] = result
            on_result(result, len(results), len(subs))
        return result

    out.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max(1, config.jobs)) as pool:
        for future in [pool.submit(one, n, p) for n, p in subs]:
            future.result()
    ordered = [results[n] for n, _ in subs]
    batch = Batch(ordered, round(time.monotonic() - started, 3), course)
    write_class_files(batch, out)
    return batch


def write_report(result: SubmissionResult, folder: Path) -> None:
    report_html.write_student(result, folder / "index.html")


def write_class_files(batch: Batch, out: Path) -> None:
    tables.write(batch.results, out)
    report_html.write_summary(batch.results, out, batch.elapsed)


def progress_printer(stream=None) -> Callable[[SubmissionResult, int, int], None]:
    """The batch's progress display (grader/progress.py)."""
    from . import progress

    return progress.printer(stream)
