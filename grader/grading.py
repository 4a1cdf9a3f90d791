"""Grading one submission: run its probes in the sandbox, then judge every check here.

The only place where the sandbox's plain data meets the expected data. A failure of the
student's code becomes that check's result; a failure of the grader becomes a GRADER_ERROR
result, never an exception that would stop a batch.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import platform
import shutil
import site
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import intake, isolation, training
from .checks import CORE, REGISTRY, expected_probes
from .checks.registry import Check
from .config import PROJECT_ROOT, Config
from .i18n import _
from .intake import MODULE_FILES
from .reference import Expected, expected_for
from .results import CheckResult, Outcome, SubmissionResult
from .sandbox import Job, Limits, run_probes
from .stages import DATA_COMMAND, Plan, Report, stages_for
from .text import clean


def find_lab_folder(path: Path) -> Path:
    """The folder holding the lab's files, at any depth (``path`` itself where that is ambiguous)."""
    try:
        return intake.find_lab_folder(path) if path.is_dir() else path
    except intake.IntakeError:
        return path


def import_status(why: str) -> str:
    """A module's import trouble as a status key, from the sandbox's account of it: a hang and a dead
    process are worded by the sandbox itself ("did not finish within ...", "the process was killed by
    ..."); anything else is the exception the student's module raised."""
    if why.startswith("did not finish"):
        return "timeout"
    if why.startswith("the process"):
        return "crashed"
    return "syntax_error" if any(e in why for e in ("SyntaxError", "IndentationError", "TabError")) else \
        "import_failed"


class DataMissing(Exception):
    """CIFAR-10 is needed (the training check is on) but not there: a set-up error, not a student's zero."""


def require_data(config: Config, settings: training.Settings = training.Settings()) -> None:
    """Raise DataMissing (with what to do) unless the training check is off or its data loads."""
    if not config.training:
        return
    from .cifar import CifarDataError

    try:
        training.load_subset(config.data, settings)
    except CifarDataError as exc:
        raise DataMissing(f"{exc}\nGet it with `{DATA_COMMAND}`, or pass --no-training to grade without "
                          "the training check.") from None


def limits_of(config: Config) -> Limits:
    return Limits(probe_timeout=config.probe_timeout, startup_timeout=config.startup_timeout,
                  import_timeout=config.import_timeout,
                  total_timeout=config.total_timeout, memory_mb=config.memory_mb, threads=config.threads,
                  warm_start=config.warm_start, sandbox_memory_mb=config.sandbox_memory_mb,
                  processes=config.sandbox_processes, scratch_mb=config.scratch_mb, cgroup=config.cgroup)


def secrets(config: Config) -> tuple[Path, ...]:
    """What the worker must not read: the project folder (the reference, the examples, the test
    fixtures: correct code in many places), the known mistakes, every copy of the expected data.

    Where Python itself is installed inside the project (a virtual environment there), hiding the
    whole folder would hide the libraries too, so only the folders that hold solutions are hidden.
    """
    project = PROJECT_ROOT.resolve()
    installed = [Path(p).resolve() for p in (sys.prefix, *site.getsitepackages())]
    if any(p == project or project in p.parents for p in installed):
        folders = [project / name for name in ("solution", "examples", "tests")]
    else:
        folders = [project]
    return tuple(p.resolve() for p in (*folders, config.solution, config.cache, config.expected.parent,
                                       Path(__file__).with_name("mutants.py")) if p.exists())


def load_expected(config: Config, checks=REGISTRY, seed: str = "") -> Expected:
    return expected_for(config.solution, config.expected, config.cache, expected_probes(checks), seed=seed)


@dataclass(frozen=True)
class Submission:
    """Who is being graded: the name results go under, where it was handed in, and how the LMS knows it."""
    name: str
    path: Path
    original: str = ""  # the name as handed in (before it was made folder-safe)
    key: str = ""       # the --resume key: a hash of its content and of this grader
    started: float = dataclasses.field(default_factory=time.monotonic)


def grade_submission(path: Path, config: Config, name: str | None = None, checks: tuple[Check, ...] | None = None,
                     expected: Expected | None = None,
                     settings: training.Settings = training.Settings(), original: str = "",
                     key: str = "", seed: str = "") -> SubmissionResult:
    """Grade what was handed in at ``path`` (a folder, an archive, a notebook: see grader.intake).
    ``seed``: the probes' inputs are drawn from it ("" = the public seed, as in a release);
    ``expected`` must have been computed for the same seed."""
    path = Path(path)
    sub = Submission(name or path.name, path, original, key)
    checks = checks if checks is not None else (REGISTRY if config.training else CORE)
    if not path.exists():
        return broken(sub, checks, _("{path} is not a folder or a file that exists").format(path=path),
                      status=intake.UNREADABLE)
    work = Path(tempfile.mkdtemp(prefix="reglab-intake-"))
    try:
        try:
            prepared = intake.prepare(path, work)
        except intake.IntakeError as exc:
            return broken(sub, checks, str(exc), status=exc.status)
        except Exception:  # noqa: BLE001 - the grader's own failure (e.g. its notebook layer), kept as a result
            return broken(sub, checks, _("the grader could not open this submission"),
                          grader_error=traceback.format_exc(limit=6))
        stages = stages_for(checks, config, settings)
        try:
            return _pipeline(sub, prepared, stages, config, checks, expected, seed)
        finally:
            for stage in stages:
                stage.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pipeline(sub: Submission, prepared: intake.Prepared, stages: list, config: Config, checks,
              expected: Expected | None, seed: str) -> SubmissionResult:
    """Prepare every stage, run the whole job in one sandboxed worker, let every stage judge."""
    folder = prepared.folder
    plan = Plan(Job([], seed=seed), limits_of(config), list(prepared.notices))
    if not any((folder / f).is_file() for f in MODULE_FILES):
        plan.problems.append(_("none of {files} was found in what was handed in").format(files=", ".join(MODULE_FILES)))
    for stage in stages:
        stage.prepare(plan)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The worker starts (and imports torch) while this process loads or computes the expected data.
        future = pool.submit(run_probes, folder, plan.job, plan.limits, hide=secrets(config))
        try:
            expected = expected or load_expected(config, checks, seed)
        except Exception:  # noqa: BLE001 - the grader's own failure, reported as such
            future.result()
            return broken(sub, checks, _("the expected data could not be loaded"),
                          grader_error=traceback.format_exc(limit=4))
        try:
            run = future.result()
        except Exception:  # noqa: BLE001
            return broken(sub, checks, _("the sandbox failed"), grader_error=traceback.format_exc(limit=4))
    backend = isolation.current()
    report = Report(problems=plan.problems,
                    environment={"python": platform.python_version(), "workers": str(run.starts),
                                 "sandbox": backend.label(unsafe=config.unsafe_no_sandbox),
                                 **({"bounds": isolation.bounds_label(plan.limits)} if backend.isolated else {})})
    if not backend.isolated:
        report.problems.append(_("graded without a sandbox: {why}").format(why=isolation.notice(backend)))
    for stage in stages:
        stage.finish(run, expected, report)
    modules = dict(prepared.modules)
    for module, why in run.module_errors.items():
        report.problems.append(_("{file} could not be imported:").format(file=f"{module}.py") + "\n" + why)
        modules.setdefault(module, import_status(why))
    if prepared.provenance:  # a notebook's cells behind each function: the report shows the code of every failed check
        report.extra["notebook"] = prepared.provenance
    return SubmissionResult(name=sub.name, checks=tuple(report.results), source=str(sub.path),
                            duration=round(time.monotonic() - sub.started, 3), output=run.output,
                            problems=tuple(clean(p, 4000) for p in (*report.problems, *run.problems)),
                            environment=report.environment, extra=report.extra, modules=modules,
                            original=sub.original, key=sub.key)


def broken(sub: Submission, checks, problem: str, grader_error: str | None = None,
           status: str = "") -> SubmissionResult:
    """Every check at 0 for one reason: nothing could be graded (``status`` says why) or the grader failed."""
    outcome = Outcome.GRADER_ERROR if grader_error else Outcome.ERROR
    results = tuple(CheckResult(id=c.id, part=c.part, title=_(c.title), outcome=outcome, score=0.0,
                                max_score=c.points, message=clean(problem, 4000), location=c.location,
                                hidden=c.hidden)
                    for c in checks)
    return SubmissionResult(name=sub.name, checks=results, source=str(sub.path),
                            duration=round(time.monotonic() - sub.started, 3), problems=(clean(problem, 4000),),
                            grader_error=grader_error, intake=status, original=sub.original, key=sub.key)
