"""What every artifact we hand over installs, read from the project's own ``pyproject.toml``.

The student release's ``pyproject.toml`` and README, its Classroom workflow, the notebook's install
cell and the Gradescope autograder's ``setup.sh`` all take their dependencies, Python range and
package data from :func:`load`: nothing lists a dependency by hand twice. What only a TA's commands
import (similarity, the batch's progress bar, catalog maintenance) is named once, with its reason,
in ``[tool.reglab.ta-only]`` and left out of what students and Gradescope install.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .config import PROJECT_ROOT, tomllib

# PyTorch's own projects come from PyTorch's CPU index (a laptop or an autograder image needs no
# 5 GB of CUDA libraries); everything else from the ordinary index.
PYTORCH = ("torch", "torchvision")
# Data the builders write into the shipped grader package beside what the project ships.
BUILT_DATA = ("expected/*",)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_INDEX_VAR = "REGLAB_TORCH_INDEX"  # another index for PyTorch (a mirror; tests use this machine's wheels)


def name_of(requirement: str) -> str:
    """A requirement's project name, normalised as PEP 503 does (``Babel`` and ``babel`` are one)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


@dataclass(frozen=True)
class Requirements:
    version: str
    requires_python: str            # as pyproject.toml says it, e.g. ">=3.10"
    min_python: str                 # its lower bound, e.g. "3.10"
    pytorch: tuple[str, ...]        # torch and torchvision, from PyTorch's index
    others: tuple[str, ...]         # every other requirement a student's check or the autograder needs
    ta_only: tuple[str, ...]        # left out, by name (the reasons stay in pyproject.toml)
    package_data: dict[str, tuple[str, ...]]  # package -> its data files, as globs (the grader's: the built data too)

    @property
    def dependencies(self) -> tuple[str, ...]:
        return self.pytorch + self.others


def load(root: Path = PROJECT_ROOT) -> Requirements:
    """The shipped requirements, from ``root/pyproject.toml``."""
    project_file = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = project_file["project"]
    ta_only = tuple(name_of(n) for n in project_file.get("tool", {}).get("reglab", {}).get("ta-only", {}))
    runtime = [r for r in project["dependencies"] if name_of(r) not in ta_only]
    unknown = set(ta_only) - {name_of(r) for r in project["dependencies"]}
    if unknown:
        raise ValueError(f"[tool.reglab.ta-only] names {', '.join(sorted(unknown))}, not a dependency")
    requires = project["requires-python"]
    lower = re.search(r">=\s*(\d+\.\d+)", requires)
    if not lower:
        raise ValueError(f"requires-python {requires!r} has no lower bound (>=3.X)")
    data = {package: tuple(globs) for package, globs in project_file["tool"]["setuptools"]["package-data"].items()}
    data["grader"] = tuple(dict.fromkeys([*data.get("grader", ()), *BUILT_DATA]))
    return Requirements(
        version=project["version"], requires_python=requires, min_python=lower.group(1),
        pytorch=tuple(r for r in runtime if name_of(r) in PYTORCH),
        others=tuple(r for r in runtime if name_of(r) not in PYTORCH),
        ta_only=ta_only, package_data=data)
