"""An implementation of the lab's contract: the student's modules in the worker, the reference's
(or a mutant of it) in the grader. Probes only reach functions through this object."""
from __future__ import annotations

import contextlib
from types import ModuleType

MODULES = ("penalties", "model", "data", "train")


class Unavailable(Exception):
    """A function the probe needs cannot be had: its module failed to import or lacks it."""

    def __init__(self, message: str, kind: str, location: str):
        super().__init__(message)
        self.kind = kind          # "missing" | "import_error"
        self.location = location  # "penalties.py:l2_penalty"


class Impl:
    def __init__(self, modules: dict[str, ModuleType], broken: dict[str, str] | None = None):
        self.modules = modules
        self.broken = broken or {}  # module -> why it could not be imported

    def get(self, module: str, name: str):
        where = f"{module}.py:{name}"
        if module in self.broken:
            raise Unavailable(f"{module}.py could not be imported: {self.broken[module]}", "import_error", where)
        mod = self.modules.get(module)
        if mod is None:
            raise Unavailable(f"{module}.py is missing from the submission", "missing", where)
        fn = getattr(mod, name, None)
        if fn is None:
            raise Unavailable(f"{name} is not defined in {module}.py", "missing", where)
        return fn

    @contextlib.contextmanager
    def patched(self, replacements: dict[str, object]):
        """Replace these names in every module that defines them (so ``from .x import f`` sees it too)."""
        saved = []
        try:
            for mod in self.modules.values():
                for name, value in replacements.items():
                    if name in vars(mod):
                        saved.append((mod, name, vars(mod)[name]))
                        setattr(mod, name, value)
            yield self
        finally:
            for mod, name, value in reversed(saved):
                setattr(mod, name, value)
