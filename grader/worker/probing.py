"""How probes are declared and run: the part of probing every lab shares.

A lab's probes (``labs/<lab>/worker/probes.py``) register themselves here with :func:`probe`. A probe
runs the same way on the student's code (in the worker) and on the reference and its mutants (in the
grader), so the two can be compared value by value; it returns a flat dict of NumPy arrays, numbers
and strings, and never judges.

Every random input is drawn from a *seed string*: "" is the public seed (the inputs whose expected
values a student release ships); ``grade`` passes each probe a seed derived from a secret the worker
never sees (``grader/derive.py``), so results written back from the release's expected data match
nothing there.
"""
from __future__ import annotations

import hashlib
import inspect
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Callable

from .impl import Impl
from .plain import type_name


class Seeds:
    """Integer seeds drawn from a seed string: the public ones for "", others for a secret."""

    def __init__(self, seed: str = ""):
        self.seed = seed

    def __call__(self, label: str, public: int) -> int:
        if not self.seed:
            return public
        digest = hashlib.sha256(f"reglab\0{self.seed}\0{label}".encode()).digest()
        return int.from_bytes(digest[:4], "little") % (2 ** 31 - 1)


@dataclass(frozen=True)
class Probe:
    name: str
    part: str
    fn: Callable[..., dict]  # fn(impl, seeds, **params)
    # The lab's stand-ins for the student's other functions, put in place around the probe (so that a
    # bug is charged once): given the implementation, a context that yields the one to probe.
    standins: Callable[[Impl], AbstractContextManager[Impl]] | None = None

    @property
    def uses_standins(self) -> bool:
        return self.standins is not None


PROBES: dict[str, Probe] = {}

# Where a long probe announces its progress: the worker's main points it at the result channel (a frame
# the grader only displays); nowhere elsewhere (the reference's and the mutants' runs).
progress: Callable[[dict], None] = lambda info: None


def probe(name: str, part: str, standins: Callable[[Impl], AbstractContextManager[Impl]] | None = None):
    def register(fn):
        PROBES[name] = Probe(name, part, fn, standins)
        return fn
    return register


def run(impl: Impl, name: str, standins_on: bool = True, params: dict | None = None, seed: str = "") -> dict:
    """``name``: a probe, or "probe/label" (an instance of it with params of its own). ``standins_on``
    False: the implementation as it is (the reference's own alternative result)."""
    spec = PROBES[name.partition("/")[0]]
    seeds = Seeds(seed)
    if spec.standins is not None and standins_on:
        with spec.standins(impl) as used:
            return spec.fn(used, seeds, **(params or {}))
    return spec.fn(impl, seeds, **(params or {}))


def defaults(fn, names: tuple[str, ...], by_position: bool = False) -> dict:
    """``default/<name>`` for the parameters whose defaults the contract states, read from the
    signature as data: a default a probe cannot see change anything (``lmbd=0.003``) still shows.
    ``by_position``: the contract's callers pass these by position, so their names are free."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {f"default/{n}": "<no signature>" for n in names}
    if by_position:
        params = dict(zip(names, params.values()))
    out = {}
    for n in names:
        value = params[n].default if n in params else "<no such parameter>"
        if value is inspect.Parameter.empty:
            value = "<no default>"
        out[f"default/{n}"] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else \
            value if isinstance(value, (str, bool)) else f"<{type_name(value)}>"
    return out
