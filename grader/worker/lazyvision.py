"""torchvision's heavy subpackages load on first use in the worker, not at ``import torchvision``.

``import torchvision`` (which ``from torchvision import transforms`` in the lab's data.py does) runs
every subpackage at once; ``torchvision.ops`` imports ``torch._dynamo`` on the way (about 900
modules, a second of a cold self-check) and the model zoo and datasets add their own. Here each of
them is first a stand-in module that carries the real one's name, file and path; the first attribute
read from any stand-in imports all of them for real, in an order without cycles (the model zoo
imports ``ops`` itself), and from then on every name resolves to the real module.

Not the standard library's ``LazyLoader``: a lazy module loads at any attribute read, including the
``__file__`` that ``inspect.getmodule`` reads from every module in ``sys.modules``, which torch does
while ``ops`` registers its operators: the model zoo then loads inside ``ops``'s import and fails on
the half-made ``ops``.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

DEFERRED = ("torchvision.models", "torchvision.datasets", "torchvision.io", "torchvision.ops")  # load order


# What the import system looks up on a new module before it sets it (a stand-in has no more)
_IMPORT_ATTRS = frozenset({"__name__", "__loader__", "__package__", "__spec__", "__path__", "__file__", "__cached__"})


class _StandIn(types.ModuleType):
    def __getattr__(self, attr):  # only for names the stand-in does not hold itself
        if attr in _IMPORT_ATTRS:
            raise AttributeError(attr)
        return getattr(_load_all()[self.__name__], attr)


class _Defer(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name not in DEFERRED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            spec.loader = self
        return spec

    def create_module(self, spec):
        return _StandIn(spec.name)

    def exec_module(self, module):
        pass


_FINDER = _Defer()


def install() -> None:
    """Before anything imports torchvision (subpackages already imported stay as they are)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def _load_all() -> dict[str, types.ModuleType]:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
        for name in DEFERRED:
            if isinstance(sys.modules.get(name), _StandIn):
                del sys.modules[name]
    modules = {}
    for name in DEFERRED:
        modules[name] = importlib.import_module(name)
        setattr(sys.modules["torchvision"], name.rpartition(".")[2], modules[name])
    return modules
