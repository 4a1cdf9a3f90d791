"""Results as data: frozen dataclasses with a fixed set of outcomes and a round trip to plain dicts.

Writers (terminal, Gradescope JSON, CSV, JUnit, HTML) only read these objects.
"""
from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from . import i18n
from .i18n import N_
from .lab import current
from .text import shown_name


class Outcome(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"                    # the student's code ran and gave a wrong answer
    ERROR = "error"                      # the student's code raised, crashed or was killed
    TIMEOUT = "timeout"                  # the student's code ran past its time limit
    NOT_IMPLEMENTED = "not_implemented"  # the stub still raises NotImplementedError
    SKIPPED = "skipped"                  # not run (e.g. no data set, --no-training)
    GRADER_ERROR = "grader_error"        # the grader itself failed: not the student's fault

    @property
    def student_fault(self) -> bool:
        return self in (Outcome.FAILED, Outcome.ERROR, Outcome.TIMEOUT, Outcome.NOT_IMPLEMENTED)


PARTS = current().part_names


TEXT_FIELDS = ("title", "message", "expected", "got", "hint", "mistake", "contract")  # for people: translated


def made_of(known: Mapping[str, Any], values) -> dict[str, Any]:
    """Text -> what it was made from: ``known`` and the :class:`grader.i18n.Message` s among ``values``."""
    return {**known, **{str(v): v.as_data() for v in values if isinstance(v, i18n.Message)}}


def retold(texts: Mapping[str, Any], values, lang: str) -> tuple[list, dict[str, Any]]:
    """``values`` rendered anew in ``lang`` where ``texts`` knows their making (as they are otherwise), and
    ``texts`` knowing the new texts too (so that they can be rendered again in turn)."""
    values = list(values)
    known = [isinstance(v, str) and v in texts for v in values]
    again = [i18n.render(texts[v], lang) if k else v for v, k in zip(values, known)]
    return again, {**texts, **{a: texts[v] for v, a, k in zip(values, again, known) if k}}


@dataclass(frozen=True)
class CheckResult:
    id: str                      # e.g. "penalties.l2_other_model"
    part: str                    # one of PARTS; the first Gradescope tag
    title: str                   # one line, for humans
    outcome: Outcome
    score: float
    max_score: float
    message: str = ""            # what happened, in a sentence or two
    expected: str | None = None  # what the reference gave (formatted)
    got: str | None = None       # what the submission gave (formatted)
    hint: str | None = None      # where to look
    mistake: str | None = None   # the named mistake, when the grader recognised one
    location: str | None = None  # "penalties.py:l2_penalty" (and a line when known)
    contract: str | None = None  # the contract sentence the check enforces ("train_epoch: train mode")
    traceback: str | None = None  # the student's traceback, limited to their files
    hidden: bool = False
    duration: float = 0.0
    cause: str = ""              # why it did not run to the end: the worker's status ("crashed", ...), as data
    # What its texts were made from, by the text (message ids and arguments: grader.i18n.Message.as_data),
    # for rendering them again in another language; its fields' own are added to those given.
    texts: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", made_of(self.texts, (getattr(self, f) for f in TEXT_FIELDS)))

    def translated(self, lang: str) -> "CheckResult":
        """The same result with its texts rendered in ``lang`` (those it knows the making of)."""
        values, texts = retold(self.texts, (getattr(self, f) for f in TEXT_FIELDS), lang)
        return replace(self, **dict(zip(TEXT_FIELDS, values)), texts=texts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = self.outcome.value
        d["texts"] = dict(self.texts)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CheckResult":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["outcome"] = Outcome(kw["outcome"])
        return cls(**kw)


@dataclass(frozen=True)
class SubmissionResult:
    name: str
    checks: tuple[CheckResult, ...]
    source: str = ""                 # where the submission came from
    duration: float = 0.0            # seconds spent grading it
    output: str = ""                 # what the student's code printed (capped)
    problems: tuple[str, ...] = ()   # submission-level messages (missing files, syntax errors, ...)
    grader_error: str | None = None  # set when grading itself broke down for this submission
    environment: Mapping[str, str] = field(default_factory=dict)  # device, versions
    extra: Mapping[str, Any] = field(default_factory=dict)        # e.g. training curves
    original: str = ""               # the entry's name as handed in (``name`` is its unique folder name)
    intake: str = ""                 # "unsupported" | "unreadable" when nothing could be graded
    modules: Mapping[str, str] = field(default_factory=dict)  # module -> a STATUS_LABELS key (its trouble)
    key: str = ""                    # what the result was made from (content + grader), for --resume
    not_run: Mapping[str, float] = field(default_factory=dict)  # part -> its points, left out (--no-training)
    texts: Mapping[str, Any] = field(default_factory=dict)  # as CheckResult.texts: its problems', its environment's

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", made_of(self.texts, (*self.problems, *self.environment.values())))

    def translated(self, lang: str) -> "SubmissionResult":
        """The same result with every text it knows the making of rendered in ``lang``."""
        problems, texts = retold(self.texts, self.problems, lang)
        environment, texts = retold(texts, self.environment.values(), lang)
        return replace(self, checks=tuple(c.translated(lang) for c in self.checks), problems=tuple(problems),
                       environment=dict(zip(self.environment, environment)), texts=texts)

    @property
    def display(self) -> str:
        """The name as handed in, without the escape sequences a file name can carry to a terminal."""
        return shown_name(self.original) if self.original else self.name

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 6)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 6)

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0

    def parts(self) -> dict[str, tuple[float, float]]:
        """Per-part ``(score, max_score)`` in the fixed order of PARTS."""
        out: dict[str, tuple[float, float]] = {}
        for part in PARTS:
            mine = [c for c in self.checks if c.part == part]
            if mine:
                out[part] = (round(sum(c.score for c in mine), 6), round(sum(c.max_score for c in mine), 6))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "checks": [c.to_dict() for c in self.checks],
            "source": self.source,
            "duration": self.duration,
            "output": self.output,
            "problems": list(self.problems),
            "grader_error": self.grader_error,
            "environment": dict(self.environment),
            "extra": dict(self.extra),
            "original": self.original,
            "intake": self.intake,
            "modules": dict(self.modules),
            "key": self.key,
            "not_run": dict(self.not_run),
            "texts": dict(self.texts),
            "status": status(self),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SubmissionResult":
        return cls(
            name=d["name"],
            checks=tuple(CheckResult.from_dict(c) for c in d.get("checks", ())),
            source=d.get("source", ""),
            duration=float(d.get("duration", 0.0)),
            output=d.get("output", ""),
            problems=tuple(d.get("problems", ())),
            grader_error=d.get("grader_error"),
            environment=dict(d.get("environment", {})),
            extra=dict(d.get("extra", {})),
            original=str(d.get("original", "")),
            intake=str(d.get("intake", "")),
            modules={str(k): str(v) for k, v in dict(d.get("modules", {})).items() if v in STATUS_LABELS},
            key=str(d.get("key", "")),
            not_run={str(k): float(v) for k, v in dict(d.get("not_run", {})).items() if k in NOT_RUN_LABELS},
            texts=dict(d.get("texts") or {}),
        )


# One vocabulary for a submission's status, worst first: the terminal, grades.csv, the HTML summary,
# junit.xml and results.json all show these labels. "ok" means graded to the end (the score says how
# well); "incomplete": some functions are still stubs or missing.
STATUS_LABELS = {
    "grader_error": N_("grader error"),    # the grader broke down: not the student's fault
    "unsupported": N_("unsupported"),      # a kind of file the grader cannot open (.rar, .7z, ...)
    "unreadable": N_("unreadable"),        # a damaged archive, an ambiguous layout, a file in no known encoding
    "crashed": N_("crashed"),              # the student's code killed its process
    "timeout": N_("timed out"),            # an import or a function ran past its limit
    "syntax_error": N_("syntax error"),
    "import_failed": N_("import failed"),  # a module raised while being imported
    "incomplete": N_("incomplete"),
    "ok": N_("ok"),
}
CRASH_MESSAGE = N_("your code crashed the process")
CRASHED = "crashed"  # a CheckResult's cause when the student's code killed its process
# A part left out of grading altogether (its points in neither the score nor the maximum), as every
# page that shows a score says it (writers/notes.py).
NOT_RUN_LABELS = {current().training: N_("training check not run ({points} points)")}  # how judge.judge words a crashed probe


def troubles(result: SubmissionResult) -> list[tuple[str, str]]:
    """(status key, description) for everything that kept the submission from being graded normally."""
    found = [("grader_error", result.grader_error)] if result.grader_error else []
    if result.intake in STATUS_LABELS:
        found.append((result.intake, result.problems[0] if result.problems else result.intake))
    for module, key in result.modules.items():
        found.append((key, f"{module}.py: {STATUS_LABELS.get(key, key)}"))
    for c in result.checks:
        if c.outcome is Outcome.GRADER_ERROR:
            found.append(("grader_error", f"{c.id}: {c.message}"))
        elif c.outcome is Outcome.TIMEOUT:
            found.append(("timeout", f"{c.id}: {c.message}"))
        elif c.outcome is Outcome.ERROR and c.cause == CRASHED:  # the cause, not its wording (any language)
            found.append(("crashed", f"{c.id}: {c.message}"))
    if any(c.outcome is Outcome.NOT_IMPLEMENTED for c in result.checks):
        found.append(("incomplete", "functions not implemented yet or files missing"))
    return found


def worst(found: list[tuple[str, str]]) -> str:
    keys = {key for key, _ in found}
    return next(k for k in STATUS_LABELS if k in keys or k == "ok")


def status(result: SubmissionResult) -> str:
    """The worst of the submission's troubles (a key of STATUS_LABELS), "ok" when there are none."""
    return worst(troubles(result))


def status_label(result: SubmissionResult) -> str:
    return STATUS_LABELS[status(result)]
