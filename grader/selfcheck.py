"""A student's ``check``: one run that reuses the parts whose code did not change, and ``--watch``.

Every run grades exactly as ``grading.grade_submission`` does (same sandbox, limits and blame: each
run is a fresh worker forked from the warm server); what is new here is only which checks it is
given. The parts whose content key (``partcache``) is unchanged are read back from the cache and not
run; the others run now. ``--watch`` keeps this process — its fork server, its expected data — and
does the same on every save; the training check, which takes longest, runs in a thread of its own
and is reported when it lands.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import i18n
from .checks import Check
from .config import Config
from .i18n import _
from .lab import current
from .partcache import FOLDER, WHOLE, PartCache, merged, part_keys
from .results import Outcome, SubmissionResult
from .similarity import PART_FILES

TRAINING = current().training  # the part whose checks train: it reaches every file (partcache)


@dataclass(frozen=True)
class Plan:
    """What one run is given: the checks in their order, the expected data, where the cache lives."""
    path: Path
    config: Config
    checks: tuple[Check, ...]
    expected: object = None
    cache: Path | None = None  # None: every part runs (--fresh, or nothing to key)
    name: str = ""


def salt(config: Config) -> str:
    """What every part's results depend on besides its files: the grader and the language of its words."""
    from .batch import grader_key

    catalog = i18n.LOCALE_DIR / i18n.current() / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"
    words = hashlib.sha256(catalog.read_bytes()).hexdigest() if catalog.is_file() else ""
    return f"{grader_key(config)}\0{i18n.current()}\0{words}"


def keys_for(plan: Plan, grader: str) -> dict[str, str] | None:
    parts = {c.part for c in plan.checks}
    return part_keys(plan.path, {p: PART_FILES.get(p, "") for p in parts}, grader) if plan.cache else None


def run(plan: Plan, grader: str, listener=None, parts: set[str] | None = None,
        keys: dict[str, str] | None = None) -> tuple[SubmissionResult, set[str]]:
    """The result of every check of ``plan`` (of ``parts`` only, when given), and the parts that ran
    now (the others came from the cache)."""
    from .grading import grade_submission

    wanted = tuple(c for c in plan.checks if parts is None or c.part in parts)
    keys = keys if keys is not None else keys_for(plan, grader)
    cache = PartCache(plan.cache) if plan.cache and keys else None
    cached = {}
    if cache is not None:
        if parts is None and (whole := cache.whole(keys[WHOLE])) is not None:
            # The same content checked under another name or path: the stored result, shown as this one.
            return replace(whole, name=plan.name, source=str(plan.path)), set()
        for part in {c.part for c in wanted}:
            found = cache.part(keys[part])
            if found is not None and {c.id for c in found} == {c.id for c in wanted if c.part == part}:
                cached[part] = found
    todo = tuple(c for c in wanted if c.part not in cached)
    ran = {c.part for c in todo}
    result = grade_submission(plan.path, plan.config, name=plan.name, checks=todo, expected=plan.expected,
                              listener=listener)
    result = merged(result, cached, [c.id for c in wanted])
    if cache is not None and _cacheable(result):
        cache.store(result, keys, ran)
    return result, ran


def _cacheable(result: SubmissionResult) -> bool:
    """Not kept: a run the grader failed in, one that ran out of time (a busy machine may not next
    time), one with skipped checks (no data set here)."""
    return not any(c.outcome in (Outcome.GRADER_ERROR, Outcome.TIMEOUT, Outcome.SKIPPED) for c in result.checks)


# ------------------------------------------------------------------------------------------- watch

def changes(path: Path, poll: float = 0.2) -> Iterator[None]:
    """Yields once now, then after every change of the folder's files (watchfiles where installed,
    else a look at the files' sizes and times every ``poll`` seconds)."""
    yield None
    try:
        import watchfiles
    except ImportError:
        watchfiles = None
    if watchfiles is not None:
        for _changes in watchfiles.watch(path, debounce=50, step=20, rust_timeout=0):
            yield None
        return
    seen = _snapshot(path)
    while True:
        time.sleep(poll)
        now = _snapshot(path)
        if now != seen:
            seen = now
            yield None


def _snapshot(path: Path) -> tuple:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if "__pycache__" not in p.parts)
    found = []
    for p in files:
        try:
            st = p.stat()
        except OSError:
            continue
        found.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(found)


def differences(before: SubmissionResult | None, after: SubmissionResult) -> list[str]:
    """What changed since the last run, a line per kind, in the active language."""
    if before is None:
        return []
    was = {c.id: c.outcome is Outcome.PASSED for c in before.checks}
    now = {c.id: c.outcome is Outcome.PASSED for c in after.checks}
    lines = []
    for label, ids in ((_("now passing"), [i for i in now if now[i] and was.get(i) is False]),
                       (_("now failing"), [i for i in now if not now[i] and was.get(i)]),
                       (_("still failing"), [i for i in now if not now[i] and was.get(i) is False])):
        if ids:
            lines.append(f"{label}: {', '.join(ids)}")
    return lines or [_("no check changed")]


def watch(plan: Plan, show: Callable[[SubmissionResult, list[str], str], None], listener=None,
          events: Iterable[None] | None = None) -> None:
    """Re-check on every save until interrupted (or ``events``, by default ``changes``, ends).
    ``show(result, differences, what)``: ``what`` is "check" for the parts without training,
    "training" when the training check lands."""
    grader = salt(plan.config)
    training = tuple(c for c in plan.checks if c.part == TRAINING)
    core = {c.part for c in plan.checks} - {TRAINING}
    state = {"result": None, "trained": None}
    lock = threading.Lock()
    background: list[threading.Thread] = []

    def train() -> None:
        while True:  # until it lands on the files as they are (an edit while it trained: again)
            keys = keys_for(plan, grader)
            result, _ran = run(plan, grader, parts={TRAINING}, keys=keys)
            with lock:
                if keys_for(plan, grader) != keys:
                    continue
                state["trained"] = result
                before = state["result"]
                combined = merged(before, {TRAINING: [c for c in result.checks if c.part == TRAINING]},
                                  [c.id for c in plan.checks]) if before else result
                show(combined, differences(before, combined), "training")
                state["result"] = combined
                return

    last_training_key = None
    for _ in events if events is not None else changes(plan.path):
        keys = keys_for(plan, grader)
        result, _ran = run(plan, grader, listener=listener, parts=core, keys=keys)
        with lock:
            trained = state["trained"]
            if training and trained is not None:
                result = merged(result, {TRAINING: [c for c in trained.checks if c.part == TRAINING]},
                                [c.id for c in plan.checks])
            show(result, differences(state["result"], result), "check")
            state["result"] = result
        key = (keys or {}).get(TRAINING, time.time())
        if training and key != last_training_key and not any(t.is_alive() for t in background):
            last_training_key = key  # one training at a time; a running one retrains after an edit itself
            background[:] = [threading.Thread(target=train, daemon=True)]
            background[0].start()


def plan_for(path: Path, config: Config, checks: tuple[Check, ...], expected, out: Path, fresh: bool,
             name: str) -> Plan:
    return Plan(Path(path), config, checks, expected, None if fresh or not Path(path).is_dir() else out / FOLDER, name)

