"""An implementation of the lab's contract: the student's modules in the worker, the reference's
(or a mutant of it) in the grader. Probes only reach functions through this object."""
from __future__ import annotations

import contextlib
import importlib.util
import sys
from types import ModuleType

from . import bare


class Unavailable(Exception):
    """A function the probe needs cannot be had: its module failed to import or lacks it."""

    def __init__(self, message: str, kind: str, location: str):
        super().__init__(message)
        self.kind = kind          # "missing" | "import_error"
        self.location = location  # "penalties.py:l2_penalty"


class Impl:
    def __init__(self, modules: dict[str, ModuleType], broken: dict[str, str] | None = None, trusted: bool = False):
        self.modules = modules
        # The reference, in the grader: a probe may read what its layers receive instead of observing it.
        self.trusted = trusted
        self.broken = broken or {}  # module -> why it could not be imported
        self._overrides: list[dict[str, object]] = []  # what patched() has put in place, innermost last
        self._originals: dict[tuple[str, str], object] = {}  # (module, name) -> what patched() replaced

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
        """Replace these names in every module that defines them (for code that looks a name up
        when it runs; code that bound the name at import is reached by :meth:`reimported`)."""
        saved = []
        self._overrides.append(replacements)
        try:
            for key, mod in self.modules.items():
                for name, value in replacements.items():
                    if name in vars(mod):
                        saved.append((mod, name, vars(mod)[name]))
                        self._originals.setdefault((key, name), vars(mod)[name])
                        setattr(mod, name, value)
            yield self
        finally:
            self._overrides.pop()
            for mod, name, value in reversed(saved):
                setattr(mod, name, value)
            if not self._overrides:
                self._originals.clear()

    def original(self, module: str, name: str):
        """The function itself, also while :meth:`patched` has a stand-in in its place."""
        return self._originals.get((module, name)) or self.get(module, name)

    def reimported(self, module: str, standins: dict[str, ModuleType]) -> "Impl":
        """This implementation with ``module`` imported afresh while ``standins`` (sibling module
        name -> module) take the place of its siblings, so that however the file refers to them —
        ``from .penalties import f as g``, a table or closure built at import, ``import pkg.x`` —
        it holds the stand-ins. Helper modules of the package are imported afresh with it.
        The names :meth:`patched` has in place are put on the fresh module too (the mutants')."""
        mod = self.modules.get(module)
        if mod is None or module in self.broken or not getattr(mod, "__file__", None):
            return self
        package_name = mod.__name__.rpartition(".")[0]
        package = sys.modules[package_name]
        prefix = package_name + "."
        saved_modules = {k: v for k, v in sys.modules.items() if k.startswith(prefix)}
        saved_attrs = {k: vars(package)[k] for k in list(vars(package))
                       if isinstance(vars(package)[k], ModuleType) and vars(package)[k].__name__.startswith(prefix)}
        spec = importlib.util.spec_from_file_location(mod.__name__, mod.__file__)
        fresh = importlib.util.module_from_spec(spec)
        bare_names = bare.aliases(package_name, standins)  # ``import penalties`` reaches the stand-in too
        try:
            for name in bare_names:
                sys.modules[name] = standins[name]
            for name in saved_modules:
                del sys.modules[name]
            for name in saved_attrs:
                delattr(package, name)
            for name, standin in standins.items():
                sys.modules[prefix + name] = standin
                setattr(package, name, standin)
            sys.modules[mod.__name__] = fresh
            spec.loader.exec_module(fresh)
        finally:
            for name, value in bare_names.items():
                if value is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = value
            for name in [k for k in sys.modules if k.startswith(prefix)]:
                del sys.modules[name]
            sys.modules.update(saved_modules)
            for name in [k for k in list(vars(package)) if isinstance(vars(package)[k], ModuleType)
                         and vars(package)[k].__name__.startswith(prefix)]:
                delattr(package, name)
            for name, value in saved_attrs.items():
                setattr(package, name, value)
        for replacements in self._overrides:
            for name, value in replacements.items():
                if name in vars(fresh):
                    setattr(fresh, name, value)
        return Impl({**self.modules, module: fresh}, self.broken, self.trusted)
