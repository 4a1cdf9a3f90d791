"""What a lab is, as data: its parts, the file and functions of each, and what its notebook says about
them. The grader's core reads a lab's names from here and spells none of them itself; each lab is a
package under ``labs/`` (beside this grader package, in the repository and wherever it is shipped)
whose ``LAB`` is a :class:`Lab`."""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

LABS = Path(__file__).resolve().parent.parent / "labs"


@dataclass(frozen=True)
class Part:
    name: str                        # a results' part, the first Gradescope tag
    functions: tuple[str, ...] = ()  # the names the probes reach in its module (none: a stage, not a file)
    title: tuple[str, str] = ("", "")  # (Korean, English), as the handout's section

    @property
    def file(self) -> str:
        """Its module's file name ('' for a stage such as training, which has no file)."""
        return f"{self.name}.py" if self.functions else ""


@dataclass(frozen=True)
class Lab:
    name: str                        # its package under labs/
    parts: tuple[Part, ...]          # in the order reports and the notebook list them
    notebook: str                    # the student notebook's file name
    notebook_imports: tuple[str, ...] = ()  # imports the notebook adds to the stubs' own
    title: tuple[str, str] = ("", "")  # (Korean, English): what reports, gradebooks and builds call it
    # Where its reference and its generated stubs live, relative to the project's root; "" = inside its
    # own package (``labs/<lab>/solution``, ``labs/<lab>/assignment``).
    reference: str = ""
    stubs: str = ""

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts)

    @property
    def files(self) -> dict[str, str]:
        """Module -> its file, for the parts that are modules of the submission, in order."""
        return {p.name: p.file for p in self.parts if p.file}

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(self.files)

    @property
    def module_files(self) -> tuple[str, ...]:
        return tuple(self.files.values())

    @property
    def contract(self) -> dict[str, tuple[str, ...]]:
        """Module -> the names the probes reach in it."""
        return {p.name: p.functions for p in self.parts if p.file}

    @property
    def training(self) -> str:
        """The part that is a stage rather than a file: the training check ('' when the lab has none)."""
        return next((p.name for p in self.parts if not p.file), "")

    @property
    def folder(self) -> Path:
        return LABS / self.name

    @property
    def reference_folder(self) -> Path:
        return LABS.parent / self.reference if self.reference else self.folder / "solution"

    @property
    def stubs_folder(self) -> Path:
        return LABS.parent / self.stubs if self.stubs else self.folder / "assignment"

    @property
    def mutants_file(self) -> Path:
        """Its known mistakes (``Mutant`` s in ``MUTANTS``): judging-side only, never shipped to students."""
        return self.folder / "mutants.py"

    def mutants(self) -> list:
        return _import(f"{self.name}.mutants").MUTANTS

    def training_mistakes(self) -> dict:
        """Its mistakes that take a technique's effect away (``TRAINING_MISTAKES``: label -> (build, the
        training check's margins it must fail)), for measuring the training check."""
        return getattr(_import(f"{self.name}.mutants"), "TRAINING_MISTAKES", {})

    @property
    def worker_folder(self) -> Path:
        """What runs in the student's process: its ``probes.py`` registers the lab's probes
        (``grader.worker.probing``) and names the stand-ins for a module that failed to import."""
        return self.folder / "worker"

    def checks(self):
        """Its checks' package: ``CORE`` (answered by the worker's probes) and ``TRAINING`` (the training
        stage's), each a tuple of ``grader.checks.registry.Check``."""
        return _import(f"{self.name}.checks")

    def training_check(self):
        """Its training check's trusted side (``labs/<lab>/training.py``): ``SETTINGS`` (a
        ``grader.training.Settings``), ``PROBE`` (the worker's training probe) and ``analyse(values,
        subset, settings)`` (a ``grader.training.Analysis``). Only a lab with a training part has one."""
        return _import(f"{self.name}.training")

    def probes(self):
        """Its probes registered in this (the grader's) process: their module."""
        return _import(f"{self.name}.worker.probes")

    @property
    def titles(self) -> dict[str, tuple[str, str]]:
        return {p.name: p.title for p in self.parts if p.file}


def available() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in LABS.iterdir() if (p / "__init__.py").is_file())) if LABS.is_dir() else ()


def _import(name: str):
    """``labs.<name>`` from the ``labs/`` beside this grader, never another ``labs`` that comes first on
    ``sys.path`` (the current folder's, say)."""
    _import_labs()
    return importlib.import_module(f"labs.{name}")


def _import_labs():
    if "labs" not in sys.modules:
        spec = importlib.util.spec_from_file_location("labs", LABS / "__init__.py",
                                                      submodule_search_locations=[str(LABS)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["labs"] = package
        spec.loader.exec_module(package)
    if [Path(p).resolve() for p in sys.modules["labs"].__path__] != [LABS]:
        raise RuntimeError(f"another labs package ({list(sys.modules['labs'].__path__)}) was imported before {LABS}")
    return sys.modules["labs"]


class LabError(Exception):
    """No lab, an unknown one, or several and none chosen: a set-up error with what to do."""


ENV = "REGLAB_LAB"  # the configuration's name for the setting (grader.config: REGLAB_ + LAB)


def select(name: str) -> None:
    """Choose this process's lab, once, before anything reads it: the ``lab`` setting as the command line
    resolved it. Processes started from here (the expected-data process) inherit the choice."""
    if current.cache_info().currsize and name and current().name != name:
        raise LabError(f"the lab is already {current().name!r}: it cannot become {name!r} in the same process")
    if name:
        os.environ[ENV] = name


@functools.cache
def current() -> Lab:
    """The lab this grader grades: the ``lab`` setting as the command line resolved it (``--lab``,
    REGLAB_LAB, ``lab = "..."`` in reglab.toml: see ``select``) or REGLAB_LAB, else the one package under
    ``labs/``, else the course's default (``labs.DEFAULT``)."""
    found = available()
    name = os.environ.get(ENV, "")
    if not name:
        default = getattr(_import_labs(), "DEFAULT", "")
        name = found[0] if len(found) == 1 else default if default in found else ""
    if name not in found:
        raise LabError(f"no lab {name!r} under {LABS}: there are {', '.join(found) or 'none'}" if name else
                       f"{len(found)} labs under {LABS} ({', '.join(found)}): choose one with --lab, {ENV} or "
                       'lab = "..." in reglab.toml')
    lab = _import(name).LAB
    if not isinstance(lab, Lab) or lab.name != name:
        raise LabError(f"labs/{name}/__init__.py must define LAB = Lab(name={name!r}, ...)")
    return lab
