"""One typed configuration, resolved once: command line > environment > file > default.

Every value remembers where it came from, so an error can say which setting was wrong.
"""
from __future__ import annotations

import os
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (declared in pyproject.toml with this marker)
    import tomli as tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = "reglab.toml"
ENV_PREFIX = "REGLAB_"


class ConfigError(Exception):
    pass


def _lab_reference() -> Path:
    from .lab import current

    return current().reference_folder


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reglab"


@dataclass(frozen=True)
class Paths:
    """Where things are."""
    data: Path = Path("data")                        # CIFAR-10 root (holds cifar-10-batches-py/)
    solution: Path = field(default_factory=_lab_reference)  # the lab's reference; absent in a student release
    expected: Path = Path(__file__).resolve().parent / "expected" / "expected"  # packaged expected data
    cache: Path = field(default_factory=_default_cache)


@dataclass(frozen=True)
class Grading:
    """What a command grades and how: the lab, the language, the training check, the jobs."""
    lab: str = ""                                    # the lab graded: a package under labs/ ("" = the only one, or labs.DEFAULT)
    lang: str = ""                                   # ko | en ("" = from the locale)
    training: bool = True
    device: str = "auto"                             # auto | cpu | cuda (the training check)
    gpu_memory_fraction: float | None = None         # per worker, with --device cuda (None = 1 / jobs)
    jobs: int = 1
    threads: int = 1
    fail_under: float | None = None                  # percent; below it the exit status is 1
    reuse: bool = True                               # check: a part whose files did not change is not run again
    shard: str = ""                                  # "K/N": grade only slice K of N (grader/shard.py)


@dataclass(frozen=True)
class Isolation:
    """The sandbox student code runs in, and what bounds it (grader.limits.Limits is made from these)."""
    sandbox: str = "auto"                            # auto | bwrap | unshare | uid | none (isolation backend)
    unsafe_no_sandbox: bool = False                  # grade even where no backend can isolate the worker
    warm_start: bool = True                          # Linux: fork workers from a process that imported torch once
    cgroup: bool = True                              # a cgroup per worker where the grader can make one
    probe_timeout: float = 20.0
    startup_timeout: float = 90.0
    import_timeout: float = 20.0
    total_timeout: float = 300.0
    memory_mb: int = 8192                            # address space of each of the worker's processes
    sandbox_memory_mb: int = 4096                    # memory of a worker and everything it starts, together
    sandbox_processes: int = 512                     # processes and threads of a worker and what it starts
    scratch_mb: int = 1024                           # each of the worker's scratch, /tmp and /dev/shm


@dataclass(frozen=True)
class Course:
    """A course's own: its secret, its hidden checks, its roster and its late-work policy (grader/roster.py,
    grader/late.py)."""
    secret_seed: str = ""                            # the course secret probes draw their inputs from ("" = public)
    hidden: tuple[str, ...] = ()                     # check ids run only by TAs (left out of a release)
    roster: str = ""                                 # roster CSV ("" = none)
    roster_columns: tuple[str, ...] = ()             # "field=Header" overrides, e.g. ["id=Matrikel", "name=Student"]
    due: str = ""                                    # ISO date-time, with an offset or read in `timezone` ("" = no late policy)
    timezone: str = "UTC"                            # IANA name, e.g. "Asia/Seoul": naive times (due, zip members) are read in it
    late_penalty: float | None = None                # percent of the maximum per started late_unit
    late_unit: str = "day"                           # day | hour
    late_cap: float | None = None                    # percent: the penalty never exceeds it (None = 100)
    late_grace_minutes: float | None = None          # lateness up to this is not late
    no_credit_after: str = ""                        # ISO date-time: later submissions get 0 ("" = never)


GROUPS = {"paths": Paths, "grading": Grading, "isolation": Isolation, "course": Course}
# Every setting by its one name (reglab.toml's key, REGLAB_<NAME>, the option): its group and its field.
SETTINGS = {f.name: (group, f) for group, kind in GROUPS.items() for f in fields(kind)}


@dataclass(frozen=True, init=False)
class Config:
    """Every setting, grouped by concern; a setting also reads by its own name (``config.jobs`` is
    ``config.grading.jobs``). Made from settings by name (``Config(training=False)``, and
    ``dataclasses.replace(config, jobs=2)`` as well)."""
    paths: Paths
    grading: Grading
    isolation: Isolation
    course: Course
    sources: Mapping[str, str] = field(compare=False)  # setting -> where it came from

    def __init__(self, paths: Paths | None = None, grading: Grading | None = None, isolation: Isolation | None = None,
                 course: Course | None = None, sources: Mapping[str, str] | None = None, **settings: Any):
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise TypeError(f"Config has no setting {', '.join(sorted(unknown))}")
        given = {"paths": paths, "grading": grading, "isolation": isolation, "course": course}
        for group, kind in GROUPS.items():
            mine = {name: value for name, value in settings.items() if SETTINGS[name][0] == group}
            made = given[group] if given[group] is not None else None
            object.__setattr__(self, group, replace(made, **mine) if made is not None else kind(**mine))
        object.__setattr__(self, "sources", dict(sources or {}))

    def __getattr__(self, name: str) -> Any:
        if name in SETTINGS:
            return getattr(object.__getattribute__(self, SETTINGS[name][0]), name)
        raise AttributeError(f"Config has no setting {name!r}")

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")


def _path(raw: Any) -> Path:
    return Path(str(raw)).expanduser()


def _count(raw: Any) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _amount(raw: Any) -> float | None:
    if raw is None or raw == "":
        return None
    value = float(raw)
    if value < 0 or value != value:
        raise ValueError("must not be negative")
    return value


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("1", "true", "yes", "on"):
        return True
    if str(raw).lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _strings(raw: Any) -> tuple[str, ...]:
    """TOML: a list of strings; environment / command line: comma-separated."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ValueError("must be a list of strings such as [\"penalties.l1_value\"]")
    return tuple(dict.fromkeys(i.strip() for i in items if i.strip()))


# How a raw value (TOML, an environment variable, an option) becomes a field's type.
CONVERTERS = {"Path": _path, "int": _count, "float": _amount, "float | None": _amount, "bool": _flag,
              "tuple[str, ...]": _strings, "str": str}


def _one_of(*choices: str, empty: bool = False):
    def check(value: str) -> None:
        if value not in choices and not (empty and not value):
            raise ValueError(f"must be {', '.join(choices[:-1])} or {choices[-1]}")
    return check


def _percent(value: float | None) -> None:
    if value is not None and value > 100:
        raise ValueError("must be a percentage between 0 and 100")


def _lab_name(value: str) -> None:
    if value and not value.isidentifier():
        raise ValueError("must be the name of a package under labs/")


def _shard(value: str) -> None:
    if value:
        from .shard import Shard

        Shard.parse(value)


def _late(name: str):
    def check(value: str) -> None:
        if value:
            from .late import check_setting  # the late policy owns what its settings mean

            check_setting(name, value)
    return check


# What a setting's value must be besides its type: one small check each, raising ValueError.
VALIDATORS = {
    "fail_under": _percent,
    "device": _one_of("auto", "cpu", "cuda"),
    "sandbox": _one_of("auto", "bwrap", "unshare", "uid", "none"),
    "lang": _one_of("ko", "en", empty=True),
    "lab": _lab_name,
    "late_unit": _one_of("day", "hour"),
    "shard": _shard,
    **{name: _late(name) for name in ("due", "no_credit_after", "timezone")},
}


def _convert(name: str, raw: Any, where: str) -> Any:
    kind = SETTINGS[name][1].type
    if kind not in CONVERTERS:
        raise ConfigError(f"{where}: {name} cannot be set")
    try:
        value = CONVERTERS[kind](raw)
        VALIDATORS.get(name, lambda _value: None)(value)
        return value
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad value {raw!r} for {name}: {exc}") from None


SETTABLE = tuple(SETTINGS)


def resolve(cli: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
            config_file: Path | None = None) -> Config:
    """Build the Config. ``cli`` holds only the options given on the command line (None = not given)."""
    values, sources = _layered(cli, environ, config_file)
    return Config(**values, sources=sources)


def setting(name: str, cli: Mapping[str, Any] | None = None, config_file: Path | None = None) -> Any:
    """One setting, layered as ``resolve`` layers them all, before the others' defaults are made (the lab,
    which the reference's default depends on). Raises ConfigError for a bad value anywhere."""
    values, _sources = _layered(cli, None, config_file)
    if name in values:
        return values[name]
    default = SETTINGS[name][1]
    return default.default_factory() if default.default is MISSING else default.default


def _layered(cli: Mapping[str, Any] | None, environ: Mapping[str, str] | None,
             config_file: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, Any]]] = []
    path = config_file or Path(CONFIG_FILE)
    if path.is_file():
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        unknown = set(table) - set(SETTABLE)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
        layers.append((str(path), table))
    elif config_file is not None:
        raise ConfigError(f"--config {config_file}: no such file")
    layers.append(("environment", {n: environ[ENV_PREFIX + n.upper()] for n in SETTABLE
                                   if ENV_PREFIX + n.upper() in environ}))
    layers.append(("command line", {k: v for k, v in (cli or {}).items() if v is not None}))
    values, sources = {}, {}
    for origin, table in layers:
        for name, raw in table.items():
            where = origin if origin != "environment" else f"environment variable {ENV_PREFIX}{name.upper()}"
            values[name] = _convert(name, raw, where)
            sources[name] = where
    return values, sources
