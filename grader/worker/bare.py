"""The lab's modules under their bare names too: ``import penalties`` in ``train.py``, as a notebook
folder or Colab works, is answered with the submission's ``assignment.penalties`` (one module, not a
second copy), so that the stand-ins a re-import puts in place reach it like any other import."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys


class BareNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on ``sys.meta_path``: only a name nothing else provides is answered."""

    def __init__(self, package: str, names):
        self.package, self.names = package, frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if path is None and fullname in self.names:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{self.package}.{spec.name}")

    def exec_module(self, module):
        pass  # already imported (or being imported) as the package's module


def install(package: str, names) -> BareNames:
    finder = BareNames(package, names)
    sys.meta_path.append(finder)
    return finder


def aliases(package: str, names) -> dict[str, object]:
    """The bare names in ``sys.modules`` that are (or may become) the package's modules."""
    return {n: sys.modules.get(n) for n in names
            if sys.modules.get(n) is None or getattr(sys.modules[n], "__name__", "") == f"{package}.{n}"}
