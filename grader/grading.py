"""Grading one submission: run its probes in the sandbox, then judge every check here.

The only place where the sandbox's plain data meets the expected data. A failure of the
student's code becomes that check's result; a failure of the grader becomes a GRADER_ERROR
result, never an exception that would stop a batch.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import platform
import re
import shutil
import site
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from . import intake, training
from .checks import CORE, REGISTRY, expected_probes, probes_for
from .checks.registry import Check, Context
from .i18n import N_, _
from .config import PROJECT_ROOT, Config
from .reference import Expected, expected_for
from . import isolation
from .results import CRASH_MESSAGE, CheckResult, Outcome, SubmissionResult
from .intake import MODULE_FILES
from .sandbox import Job, Limits, ProbeOutcome, SandboxRun, run_probes
from .text import clean

STATUS_OUTCOME = {
    "not_implemented": Outcome.NOT_IMPLEMENTED, "missing": Outcome.NOT_IMPLEMENTED,
    "import_error": Outcome.ERROR, "raised": Outcome.ERROR, "bad_return": Outcome.ERROR,
    "crashed": Outcome.ERROR, "corrupted": Outcome.ERROR, "worker": Outcome.ERROR, "timeout": Outcome.TIMEOUT,
    "grader": Outcome.GRADER_ERROR,
}
STATUS_MESSAGE = {
    "import_error": N_("your file could not be imported"),
    "raised": N_("your code raised an exception"),
    "bad_return": N_("your function returned the wrong kind of value"),
    "crashed": CRASH_MESSAGE,
    "corrupted": N_("your code corrupted the grader's channel"),
    "worker": N_("the probe failed outside your functions, after your code had run in its process"),
    "timeout": N_("your code ran too long"),
    "grader": N_("the grader failed here — not your fault, tell your TA"),
}

FAILED_MESSAGE = N_("your code failed")  # a status the table above does not know

DATA_COMMAND = "python -m grader data"


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
                  total_timeout=config.total_timeout, memory_mb=config.memory_mb, threads=config.threads)


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


def training_threads(config: Config) -> int:
    """The training check's torch threads: the machine's cores shared by the submissions graded at once."""
    return max(1, (os.cpu_count() or 1) // max(1, config.jobs))


def gpu_memory_fraction(config: Config) -> float:
    """Each worker's share of one GPU: ``gpu_memory_fraction``, else an equal slice per --jobs worker
    (a little under, so that the CUDA contexts themselves fit beside the caps)."""
    return config.gpu_memory_fraction or round(0.95 / max(1, config.jobs), 4)


def grade_submission(path: Path, config: Config, name: str | None = None, checks: tuple[Check, ...] | None = None,
                     expected: Expected | None = None,
                     settings: training.Settings = training.Settings(), original: str = "",
                     key: str = "", seed: str = "") -> SubmissionResult:
    """Grade what was handed in at ``path`` (a folder, an archive, a notebook: see grader.intake).
    ``seed``: the probes' inputs are drawn from it ("" = the public seed, as in a release);
    ``expected`` must have been computed for the same seed."""
    started = time.monotonic()
    path = Path(path)
    name = name or path.name
    checks = checks if checks is not None else (REGISTRY if config.training else CORE)
    if not path.exists():
        return _broken(name, path, started, checks, _("{path} is not a folder or a file that exists").format(path=path),
                       status=intake.UNREADABLE, original=original, key=key)
    work = Path(tempfile.mkdtemp(prefix="reglab-intake-"))
    try:
        try:
            prepared = intake.prepare(path, work)
        except intake.IntakeError as exc:
            return _broken(name, path, started, checks, str(exc), status=exc.status, original=original, key=key)
        except Exception:  # noqa: BLE001 - the grader's own failure (e.g. its notebook layer), kept as a result
            return _broken(name, path, started, checks, _("the grader could not open this submission"),
                           grader_error=traceback.format_exc(limit=6), original=original, key=key)
        result = _grade_folder(prepared, path, config, name, checks, expected, settings, started, seed)
        return dataclasses.replace(result, original=original, key=key)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _grade_folder(prepared: intake.Prepared, path: Path, config: Config, name: str, checks, expected, settings,
                  started: float, seed: str = "") -> SubmissionResult:
    folder = prepared.folder
    problems = list(prepared.notices)
    if not any((folder / f).is_file() for f in MODULE_FILES):
        problems.append(_("none of {files} was found in what was handed in").format(files=", ".join(MODULE_FILES)))
    core = tuple(c for c in checks if c.part != "experiment")
    experiment = tuple(c for c in checks if c.part == "experiment")
    job, limits = Job(probes_for(core), seed=seed), limits_of(config)
    skipped: tuple[CheckResult, ...] = ()
    subset, scratch = None, None
    if experiment:
        from .cifar import CifarDataError  # imports torch: only the training check pays for it

        try:
            subset = training.load_subset(config.data, settings)
        except CifarDataError as exc:
            # The maximum never changes: the points are counted, and the student is told how to earn them.
            why = _("training check not run ({points} points): get the data with `{command}`").format(
                points=f"{sum(c.points for c in experiment):g}", command=DATA_COMMAND)
            skipped = tuple(_skip(c, why, counted=True) for c in experiment)
            problems.append(f"{why} ({str(exc).splitlines()[0]})")
            experiment = ()
        else:
            scratch = training.scratch_dir()
            data = subset.write(scratch)
            job = dataclasses.replace(job, probes=[*job.probes, "experiment.runs"], inputs=(data,))
            job.params["experiment.runs"] = settings.params(Path("inputs") / data.name, config.device,
                                                            training_threads(config))
            job.params["experiment.runs"]["gpu_memory_fraction"] = gpu_memory_fraction(config)
            job.timeouts["experiment.runs"] = settings.timeout
            limits = dataclasses.replace(limits, total_timeout=limits.total_timeout + settings.timeout,
                                         memory_mb=0 if _gpu(config) else limits.memory_mb)
    try:
        result = _grade(name, path, folder, config, core, experiment, skipped, job, limits, expected, subset,
                        settings, problems, started, dict(prepared.modules), seed)
        # A notebook's cells behind each function: the report shows the code of every failed check.
        return dataclasses.replace(result, extra={**result.extra, "notebook": prepared.provenance}) \
            if prepared.provenance else result
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _gpu(config: Config) -> bool:
    """CUDA reserves far more address space than it uses: on a GPU the memory limit cannot be RLIMIT_AS."""
    if config.device == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


def _skip(check: Check, message: str, counted: bool = False) -> CheckResult:
    """A check that did not run: worth nothing (a check that does not apply), or, ``counted``, its points
    kept in the maximum with none scored (a check that could not run here: missing data)."""
    return CheckResult(id=check.id, part=check.part, title=_(check.title), outcome=Outcome.SKIPPED, score=0.0,
                       max_score=check.points if counted else 0.0, message=_(message), location=check.location,
                       hidden=check.hidden)


def _grade(name, path, folder, config, core, experiment, skipped, job, limits, expected, subset, settings,
           problems, started, modules, seed="") -> SubmissionResult:
    checks = core + experiment
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The worker starts (and imports torch) while this process loads or computes the expected data.
        future = pool.submit(run_probes, folder, job, limits, hide=secrets(config))
        try:
            expected = expected or load_expected(config, checks, seed)
        except Exception:  # noqa: BLE001 - the grader's own failure, reported as such
            future.result()
            return _broken(name, path, started, checks, _("the expected data could not be loaded"),
                           grader_error=traceback.format_exc(limit=4))
        try:
            run = future.result()
        except Exception:  # noqa: BLE001
            return _broken(name, path, started, checks, _("the sandbox failed"),
                           grader_error=traceback.format_exc(limit=4))
    results = tuple(judge(c, run, expected) for c in core)
    backend = isolation.current()
    extra, environment = {}, {"python": platform.python_version(), "workers": str(run.starts),
                              "sandbox": backend.label(unsafe=config.unsafe_no_sandbox)}
    if not backend.isolated:
        problems.append(_("graded without a sandbox: {why}").format(why=isolation.notice(backend)))
    if experiment:
        outcome = run.outcomes.get("experiment.runs")
        analysis = training.analyse(outcome.values, subset, settings) if outcome and outcome.ok else None
        results += tuple(judge(c, run, expected, {"analysis": analysis}) for c in experiment)
        if analysis:
            extra["training"] = analysis.to_extra()
            environment["device"] = analysis.device
        if subset.notice:
            problems.append(f"CIFAR-10: {subset.notice}")
    for module, why in run.module_errors.items():
        problems.append(_("{file} could not be imported:").format(file=f"{module}.py") + "\n" + why)
        modules.setdefault(module, import_status(why))
    return SubmissionResult(name=name, checks=results + skipped, source=str(path),
                            duration=round(time.monotonic() - started, 3), output=run.output,
                            problems=tuple(clean(p, 4000) for p in (*problems, *run.problems)),
                            environment=environment, extra=extra,
                            modules=modules)


def judge(check: Check, run: SandboxRun, expected: Expected, extra: dict | None = None) -> CheckResult:
    t0 = time.monotonic()
    base = dict(id=check.id, part=check.part, title=_(check.title), max_score=check.points,
                location=check.location, hidden=check.hidden)
    for probe in check.probes:
        got: ProbeOutcome = run.outcomes.get(probe) or ProbeOutcome("grader", message=f"no result for {probe}")
        if not got.ok:
            outcome = STATUS_OUTCOME.get(got.status, Outcome.ERROR)
            message = _not_implemented(got) if outcome is Outcome.NOT_IMPLEMENTED else \
                (_(STATUS_MESSAGE.get(got.status, FAILED_MESSAGE)) + ": " + got.message).strip()
            blocked = outcome is Outcome.NOT_IMPLEMENTED and not _same_function(got.location, check.location)
            if blocked:  # a dependency is missing: this check's own hint would mislead
                message = _("not run: {why}").format(why=message)
            return CheckResult(**{**base, "location": got.location or check.location}, outcome=outcome, score=0.0,
                               message=message,
                               hint=None if outcome is Outcome.GRADER_ERROR or blocked else _(check.hint),
                               traceback=None if outcome is Outcome.NOT_IMPLEMENTED else got.traceback or None)
        want = expected.reference(probe) if check.needs_expected else ProbeOutcome("ok")
        if want is None or not want.ok:
            return CheckResult(**base, outcome=Outcome.GRADER_ERROR, score=0.0,
                               message=_("the grader has no expected result for {probe} — not your fault, tell "
                                         "your TA ({why})").format(probe=probe, why=want.message if want else "missing"))
    try:
        with np.errstate(all="ignore"):  # a student's overflowing values are judged, not warned about
            verdict = check.judge(Context({p: run.outcomes[p].values for p in check.probes}, expected, extra or {}))
    except Exception:  # noqa: BLE001 - a bug in a check is the grader's, not the student's
        return CheckResult(**base, outcome=Outcome.GRADER_ERROR, score=0.0,
                           message=_("the grader failed here — not your fault, tell your TA"),
                           traceback=traceback.format_exc(limit=3))
    if verdict.skipped:
        return _skip(check, verdict.message)
    return CheckResult(**base, outcome=Outcome.PASSED if verdict.passed else Outcome.FAILED,
                       score=check.points if verdict.passed else 0.0, message=_(verdict.message),
                       expected=verdict.expected, got=verdict.got, mistake=verdict.mistake and _(verdict.mistake),
                       hint=None if verdict.passed else _(verdict.hint or check.hint),
                       duration=round(time.monotonic() - t0, 4))


STUB_RAISES = re.compile(r"\b(?P<function>[\w.]+) in (?P<file>\w+\.py) is not implemented yet$")  # grader.stubgen's


def _not_implemented(got: ProbeOutcome) -> str:
    """A stub or a missing function, said in the active language from where it is (``got.location``:
    "penalties.py:l1_penalty", or what a generated stub raises), not with the stub's own English text;
    a NotImplementedError the student worded themselves is shown as they wrote it."""
    file, _sep, function = (got.location or "").partition(":")
    function = function.split(" ")[0]
    stub = STUB_RAISES.search(got.message.strip()) if got.status == "not_implemented" else None
    if stub:
        return _("{function} in {file} is not implemented yet").format(**stub.groupdict())
    if not (file and function):
        return got.message
    if got.status == "missing":  # the worker's two cases (grader/worker/impl.py): no file, or no such name
        return (_("{file} is missing from the submission") if "missing from" in got.message else
                _("{function} is not defined in {file}")).format(function=function, file=file)
    return _("{function} in {file} is not implemented yet").format(function=function, file=file)


def _same_function(where: str, location: str) -> bool:
    """Whether the function named by ``where`` ("data.py:channel_stats (...)") is one the check is about."""
    if not where:
        return True
    name = where.split(":")[-1].split(" ")[0].split(".")[0]
    return re.search(rf"\b{re.escape(name)}\b", location) is not None


def _broken(name: str, path: Path, started: float, checks, problem: str, grader_error: str | None = None,
            status: str = "", original: str = "", key: str = ""):
    """Every check at 0 for one reason: nothing could be graded (``status`` says why) or the grader failed."""
    outcome = Outcome.GRADER_ERROR if grader_error else Outcome.ERROR
    results = tuple(CheckResult(id=c.id, part=c.part, title=_(c.title), outcome=outcome, score=0.0,
                                max_score=c.points, message=clean(problem, 4000), location=c.location,
                                hidden=c.hidden)
                    for c in checks)
    return SubmissionResult(name=name, checks=results, source=str(path), duration=round(time.monotonic() - started, 3),
                            problems=(clean(problem, 4000),), grader_error=grader_error, intake=status,
                            original=original,
                            key=key)
