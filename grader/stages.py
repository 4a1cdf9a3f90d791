"""The stages of grading one submission: each adds what it needs to the sandbox's job, then judges
its checks from the run's plain results.

``grading.py`` runs them as a pipeline: every stage prepares the :class:`Plan` (probes, inputs,
time limits), one sandboxed worker runs the whole job, every stage then writes its results into the
:class:`Report`. A new kind of check for the next lab is a new stage, not a branch in grading.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import isolation, training
from .checks import probes_for
from .checks.registry import Check
from .config import Config
from .i18n import _
from .lab import current
from .judge import judge, skip
from .reference import Expected
from .results import CheckResult
from .limits import Limits
from .outcome import ProbeOutcome, SandboxRun
from .sandbox import Job

DATA_COMMAND = "python -m grader data"


@dataclass
class Plan:
    """What the sandbox is asked for one submission, as the stages build it up."""
    job: Job
    limits: Limits
    problems: list[str]


@dataclass
class Report:
    """What the stages found, in the order they ran."""
    results: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)


class CoreStage:
    """The functions' checks: probes on small seeded inputs, compared with the expected data."""

    def __init__(self, checks: tuple[Check, ...]):
        self.checks = checks

    def prepare(self, plan: Plan) -> None:
        plan.job = dataclasses.replace(plan.job, probes=[*plan.job.probes, *probes_for(self.checks)])

    def finish(self, run: SandboxRun, expected: Expected, report: Report) -> None:
        report.results += [judge(c, run, expected) for c in self.checks]

    def close(self) -> None:
        pass


class TrainingStage:
    """The training check: a short CIFAR-10 training in the worker, its final test losses
    recomputed here. Without the data its points stay in the maximum, unscored, with what to do."""

    def __init__(self, checks: tuple[Check, ...], config: Config, settings: training.Settings):
        self.checks, self.config, self.settings = checks, config, settings
        self.lab = current().training_check()  # its probe and its analysis
        self.subset: training.Subset | None = None
        self.skipped: list[CheckResult] = []
        self.scratch: Path | None = None
        self.probes: tuple[str, ...] = ()  # the training probe, or one instance of it a run

    def prepare(self, plan: Plan) -> None:
        from .cifar import CifarDataError

        try:
            self.subset = training.subset_for(self.config, self.settings)
        except CifarDataError as exc:
            why = _("training check not run ({points} points): get the data with `{command}`").format(
                points=f"{sum(c.points for c in self.checks):g}", command=DATA_COMMAND)
            self.skipped = [skip(c, why, counted=True) for c in self.checks]
            plan.problems.append(f"{why} ({str(exc).splitlines()[0]})")
            return
        self.scratch = training.scratch_dir()
        data = self.subset.write(self.scratch)
        # With cores to spare, each run trains in a worker of its own, beside the other probes: the
        # lab's small matrices gain ~1.2× from a second thread but ~2× from a second process. Every
        # run starts from set_seed(seed) in either case, so the runs stay paired. Only with forked
        # workers: a fresh interpreter a run would import torch again for each.
        threads, runs, gpu = training_threads(self.config), self.settings.runs, _gpu(self.config)
        apart = threads >= 2 and len(runs) > 1 and not gpu and isolation.warm(self.config.isolation.warm_start)
        groups = {f"{self.lab.PROBE}/{r.name}": (r,) for r in runs} if apart else {self.lab.PROBE: runs}
        params = {}
        for name, group in groups.items():
            settings = dataclasses.replace(self.settings, runs=group)
            params[name] = {**settings.params(Path("inputs") / data.name, self.config.grading.device,
                                              max(1, threads // len(groups))),
                            "gpu_memory_fraction": gpu_memory_fraction(self.config)}
        self.probes = tuple(groups)
        job = plan.job
        plan.job = dataclasses.replace(job, probes=[*job.probes, *groups], inputs=(*job.inputs, data),
                                       params={**job.params, **params},
                                       timeouts={**job.timeouts, **{name: self.settings.timeout for name in groups}},
                                       apart=(*job.apart, *groups) if apart else job.apart)
        plan.limits = dataclasses.replace(plan.limits, total_timeout=plan.limits.total_timeout + self.settings.timeout,
                                          memory_mb=0 if gpu else plan.limits.memory_mb)

    def finish(self, run: SandboxRun, expected: Expected, report: Report) -> None:
        if self.subset is None:
            report.results += self.skipped
            return
        outcome = joined([run.outcomes.get(name) for name in self.probes])
        run = dataclasses.replace(run, outcomes={**run.outcomes, self.lab.PROBE: outcome})  # what the checks read
        analysis = self.lab.analyse(outcome.values, self.subset, self.settings) if outcome and outcome.ok else None
        report.results += [judge(c, run, expected, {"analysis": analysis}) for c in self.checks]
        if analysis:
            report.extra["training"] = analysis.to_extra()
            report.environment["device"] = analysis.device
        if self.subset.notice:
            report.problems.append(f"CIFAR-10: {self.subset.notice}")

    def close(self) -> None:
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)


def joined(outcomes: list[ProbeOutcome | None]) -> ProbeOutcome:
    """The outcomes of the training probe's instances (one a run) as one: the first that is not ok
    (a run's failure is the training's), else every run's values (the longest time taken)."""
    for outcome in outcomes:
        if outcome is None:
            return ProbeOutcome("grader", message="no result for the training check")
        if not outcome.ok:
            return outcome
    values = {k: v for outcome in outcomes for k, v in outcome.values.items()}
    for key in ("seconds", "prepare_seconds"):
        values[key] = max((float(v) for outcome in outcomes if isinstance(v := outcome.values.get(key), (int, float))
                           and not isinstance(v, bool)), default=0.0)
    return ProbeOutcome("ok", values)


def stages_for(checks: tuple[Check, ...], config: Config, settings: training.Settings) -> list:
    """The stages that grade these checks: the core checks, then the training check if selected."""
    core = tuple(c for c in checks if c.part != current().training)
    trains = tuple(c for c in checks if c.part == current().training)
    return [CoreStage(core), *([TrainingStage(trains, config, settings)] if trains else [])]


def training_threads(config: Config) -> int:
    """The training check's torch threads: the machine's cores shared by the submissions graded at once."""
    return max(1, (os.cpu_count() or 1) // max(1, config.grading.jobs))


def gpu_memory_fraction(config: Config) -> float:
    """Each worker's share of one GPU: ``gpu_memory_fraction``, else an equal slice per --jobs worker
    (a little under, so that the CUDA contexts themselves fit beside the caps)."""
    return config.grading.gpu_memory_fraction or round(0.95 / max(1, config.grading.jobs), 4)


def _gpu(config: Config) -> bool:
    """Whether the training may run on a GPU: CUDA reserves far more address space than it uses (the
    memory limit cannot be RLIMIT_AS), and each worker would hold a CUDA context of its own. Read from
    the NVIDIA driver's device files: importing torch to ask would cost the judging process seconds."""
    if config.grading.device == "cpu":
        return False
    return config.grading.device == "cuda" or Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()
