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
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import backends, intake, isolation, stubcheck, training
from .channel import Listener
from .checks import CORE, REGISTRY, TRAINING, expected_probes
from .checks.registry import Check
from .config import PROJECT_ROOT, Config
from .derive import Inputs
from .i18n import _
from .lab import current
from .intake import MODULE_FILES
from .reference import Expected, expected_for, expected_lazily
from .results import CheckResult, Outcome, SubmissionResult
from .limits import Limits
from .outcome import SandboxRun
from .sandbox import Job, run_probes
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


def require_data(config: Config, settings: training.Settings | None = None) -> None:
    """Raise DataMissing (with what to do) unless the training check is off or its data loads."""
    if not config.grading.training:
        return
    from .cifar import CifarDataError

    try:
        training.subset_for(config, settings or training.lab_settings())
    except CifarDataError as exc:
        raise DataMissing(f"{exc}\nGet it with `{DATA_COMMAND}`, or pass --no-training to grade without "
                          "the training check.") from None


def limits_of(config: Config) -> Limits:
    return Limits(probe_timeout=config.isolation.probe_timeout, startup_timeout=config.isolation.startup_timeout,
                  import_timeout=config.isolation.import_timeout,
                  total_timeout=config.isolation.total_timeout, memory_mb=config.isolation.memory_mb, threads=config.grading.threads,
                  warm_start=config.isolation.warm_start, sandbox_memory_mb=config.isolation.sandbox_memory_mb,
                  processes=config.isolation.sandbox_processes, scratch_mb=config.isolation.scratch_mb, cgroup=config.isolation.cgroup)


def secrets(config: Config) -> tuple[Path, ...]:
    """What the worker must not read: the project folder (the reference, the examples, the test
    fixtures: correct code in many places), the known mistakes, every copy of the expected data.

    Where Python itself is installed inside the project (a virtual environment there), hiding the
    whole folder would hide the libraries too, so only the folders that hold solutions are hidden:
    every lab's package among them (its reference, examples and known mistakes; the worker runs its own
    copy of a lab's worker side, never this folder).
    """
    project = PROJECT_ROOT.resolve()
    installed = [Path(p).resolve() for p in (sys.prefix, *site.getsitepackages())]
    if any(p == project or project in p.parents for p in installed):
        folders = [project / name for name in ("solution", "examples", "tests", "labs")]
    else:
        folders = [project]
    return tuple(p.resolve() for p in (*folders, config.paths.solution, config.paths.cache, config.paths.expected.parent,
                                       current().mutants_file) if p.exists())


def load_expected(config: Config, checks=REGISTRY, inputs: Inputs = Inputs()) -> Expected:
    """The expected data for ``inputs``: one submission's own (computed now, not cached), or inputs
    every submission shares (cached on disk, or a release's packaged file)."""
    probes = expected_probes(checks)
    if inputs.per_submission and (config.paths.solution / "__init__.py").is_file():
        return expected_lazily(config.paths.solution, probes, inputs.seeds(probes))
    return expected_for(config.paths.solution, config.paths.expected, config.paths.cache, probes, seeds=inputs.seeds(probes))


@dataclass(frozen=True)
class Submission:
    """Who is being graded: the name results go under, where it was handed in, and how the LMS knows it."""
    name: str
    path: Path
    original: str = ""  # the name as handed in (before it was made folder-safe)
    key: str = ""       # the --resume key: a hash of its content and of this grader
    not_run: dict[str, float] = dataclasses.field(default_factory=dict)  # part -> points not run (--no-training)
    started: float = dataclasses.field(default_factory=time.monotonic)


def grade_submission(path: Path, config: Config, name: str | None = None, checks: tuple[Check, ...] | None = None,
                     expected: Expected | None = None,
                     settings: training.Settings | None = None, original: str = "",
                     key: str = "", inputs: Inputs = Inputs(), listener: Listener | None = None) -> SubmissionResult:
    """Grade what was handed in at ``path`` (a folder, an archive, a notebook: see grader.intake).
    ``inputs``: where the probes' inputs are drawn from (the public seed by default, as in a release);
    ``expected`` must have been computed for the same inputs. ``listener``: told what the worker is
    doing as it does it, then ("judge", "", {}) (a display's progress lines; see channel.Listener)."""
    path = Path(path)
    # Without training its points are in neither score nor maximum: every page says so (results.not_run).
    sub = Submission(name or path.name, path, original, key,
                     not_run={} if config.grading.training else {current().training: sum(c.points for c in TRAINING)})
    checks = checks if checks is not None else (REGISTRY if config.grading.training else CORE)
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
        stages = stages_for(checks, config, settings or training.lab_settings())
        try:
            return _pipeline(sub, prepared, stages, config, checks, expected, inputs, listener)
        finally:
            for stage in stages:
                stage.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pipeline(sub: Submission, prepared: intake.Prepared, stages: list, config: Config, checks,
              expected: Expected | None, inputs: Inputs, listener: Listener | None) -> SubmissionResult:
    """Prepare every stage, run the job in sandboxed workers, let every stage judge."""
    folder = prepared.folder
    plan = Plan(Job([]), limits_of(config), list(prepared.notices))
    if not any((folder / f).is_file() for f in MODULE_FILES):
        plan.problems.append(_("none of {files} was found in what was handed in").format(files=", ".join(MODULE_FILES)))
    for stage in stages:
        stage.prepare(plan)
    job = dataclasses.replace(plan.job, seeds=inputs.seeds(plan.job.probes))
    stubs = stubcheck.untouched(folder)  # read before any student code runs: the grader's copy, as text
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The worker starts (and imports torch) while this process loads or computes the expected data.
        future = pool.submit(run_apart, folder, job, plan.limits, secrets(config), hidden_probes(checks), listener)
        try:
            expected = expected or load_expected(config, checks, inputs)
        except Exception:  # noqa: BLE001 - the grader's own failure, reported as such
            future.result()
            return broken(sub, checks, _("the expected data could not be loaded"),
                          grader_error=traceback.format_exc(limit=4))
        try:
            run = stubcheck.reclassify(future.result(), stubs)
        except Exception:  # noqa: BLE001
            return broken(sub, checks, _("the sandbox failed"), grader_error=traceback.format_exc(limit=4))
    if listener is not None:
        listener("judge", "", {})
    backend = backends.current()
    report = Report(problems=plan.problems,
                    environment={"python": platform.python_version(), "workers": str(run.starts),
                                 "sandbox": backend.label(unsafe=config.isolation.unsafe_no_sandbox),
                                 **({"bounds": isolation.bounds_label(plan.limits)} if backend.isolated else {})})
    if not backend.isolated:
        report.problems.append(_("graded without a sandbox: {why}").format(why=backends.notice(backend)))
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
                            original=sub.original, key=sub.key, not_run=sub.not_run)


def hidden_probes(checks) -> set[str]:
    """The probes only hidden checks read: their names are not to be seen before grades are published."""
    shown = {p for c in checks if not c.hidden for p in c.probes}
    return {p for c in checks if c.hidden for p in c.probes} - shown


def run_apart(folder: Path, job: Job, limits: Limits, hide: tuple[Path, ...], hidden: set[str],
              listener: Listener | None = None) -> SandboxRun:
    """The job's probes in workers: the probes of ``job.apart`` each in a worker of its own, beside the
    first worker (the training runs: a machine's cores do more as separate processes than as threads
    of one); the hidden ones in a worker of their own that starts after the others have ended. The
    first worker is never told a hidden probe's name or seed; of the last, only its probes' outcomes
    are kept (for the hidden checks): what student code printed there, its import errors and its
    restarts reach no output a student sees before publication (nor its steps the ``listener``, which
    hears the first worker, and the progress of those apart as one)."""
    def part(probes: list[str]) -> Job:
        wanted = set(probes)
        pick = lambda d: {p: v for p, v in d.items() if p in wanted}  # noqa: E731
        return Job(probes, pick(job.params), pick(job.timeouts),
                   job.inputs if wanted & set(job.params) else (), pick(job.seeds))

    secret = lambda p: p in hidden or p.partition("/")[0] in hidden  # noqa: E731 - an instance of a hidden probe too
    shown = [p for p in job.probes if not secret(p)]
    apart = [p for p in shown if p in job.apart]
    first = [p for p in shown if p not in job.apart]
    if apart:
        told = _Progress(listener, len(apart)) if listener is not None else None
        with concurrent.futures.ThreadPoolExecutor(len(apart)) as pool:
            futures = [pool.submit(run_probes, folder, part([p]), limits, hide=hide,
                                   listener=told.of(i) if told else None) for i, p in enumerate(apart)]
            runs = [run_probes(folder, part(first), limits, hide=hide, listener=listener)] if first else []
            if listener is not None:
                listener("probe", apart[0], {})  # the part they belong to, now the only one left
            runs += [f.result() for f in futures]
        run = _together(runs, limits.output_kb * 1024)
    else:
        run = run_probes(folder, part(first), limits, hide=hide, listener=listener)
    rest = [p for p in job.probes if secret(p)]
    if not rest:
        return run
    more = run_probes(folder, part(rest), limits, hide=hide)
    return dataclasses.replace(run, outcomes={**run.outcomes, **more.outcomes}, elapsed=run.elapsed + more.elapsed)


def _together(runs: list[SandboxRun], cap: int) -> SandboxRun:
    """Runs made at the same time, as one: every outcome, import error (the first worker's first),
    problem and output (capped as one worker's), the workers added up, the longest time."""
    errors: dict[str, str] = {}
    for run in runs:
        for module, why in run.module_errors.items():
            errors.setdefault(module, why)
    return dataclasses.replace(runs[0], outcomes={p: o for run in runs for p, o in run.outcomes.items()},
                               module_errors=errors, output=clean("\n".join(r.output for r in runs if r.output), cap),
                               starts=sum(r.starts for r in runs), elapsed=max(r.elapsed for r in runs),
                               problems=tuple(dict.fromkeys(p for r in runs for p in r.problems)))


class _Progress:
    """The progress of workers running at the same time (channel.PROGRESS_FIELDS: run, runs, epoch,
    epochs), told to the listener as one sequence: epochs done by all of them, in runs of ``epochs``."""

    def __init__(self, listener: Listener, workers: int):
        self.listener, self.lock = listener, threading.Lock()
        self.done, self.total = [0] * workers, [0] * workers

    def of(self, worker: int) -> Listener:
        def told(kind: str, name: str, counts: dict) -> None:
            if kind == "progress":
                self._tell(worker, name, counts)
        return told

    def _tell(self, worker: int, name: str, counts: dict) -> None:
        epochs = max(1, counts["epochs"])
        with self.lock:
            self.done[worker] = counts["run"] * epochs + counts["epoch"]
            self.total[worker] = max(1, counts["runs"]) * epochs
            done, runs = sum(self.done), max(len(self.total), sum(self.total) // epochs)
            run = min(max(0, (done - 1) // epochs), runs - 1)
            self.listener("progress", name, {"run": run, "runs": runs, "epoch": done - run * epochs, "epochs": epochs})


def broken(sub: Submission, checks, problem: str, grader_error: str | None = None,
           status: str = "") -> SubmissionResult:
    """Every check at 0 for one reason: nothing could be graded (``status`` says why) or the grader failed."""
    outcome = Outcome.GRADER_ERROR if grader_error else Outcome.ERROR
    results = tuple(CheckResult(id=c.id, part=c.part, title=_(c.title), outcome=outcome, score=0.0,
                                max_score=c.points, message=clean(problem, 4000), location=c.location,
                                contract=_(c.contract), hidden=c.hidden)
                    for c in checks)
    return SubmissionResult(name=sub.name, checks=results, source=str(sub.path),
                            duration=round(time.monotonic() - sub.started, 3), problems=(clean(problem, 4000),),
                            grader_error=grader_error, intake=status, original=sub.original, key=sub.key,
                            not_run=sub.not_run)
