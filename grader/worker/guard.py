"""Nothing of the grader is importable from the submission.

Called once the worker has imported all it needs and before the student's first line runs: the
grader's modules leave ``sys.modules`` (the worker keeps its own references to them), and any
later import of ``grader``, ``solution`` or the reference's private package fails, as if they did
not exist. Code that tries earns nothing: the file does not import, or the function raises.
"""
from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder

BLOCKED = ("grader", "solution", "reglab_reference", "tests")
_kept: list = []  # the worker's own references, so that the modules stay alive


class _Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def install() -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in BLOCKED]:
        _kept.append(sys.modules.pop(name))
    sys.meta_path.insert(0, _Refuse())
