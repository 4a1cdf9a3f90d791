"""Calling the student's code so that whatever goes wrong is put down to the right place."""
from __future__ import annotations

import contextlib

from .impl import Impl
from .plain import BadReturn


class ContractError(Exception):
    """The student's object did not behave as the contract says (raised from torch, not their code)."""

    def __init__(self, message: str, location: str):
        super().__init__(message)
        self.location = location


@contextlib.contextmanager
def blame(location: str):
    """Exceptions raised here come from the student's objects, even when torch raises them."""
    try:
        yield
    except (BadReturn, NotImplementedError, ContractError):
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised with the student's location
        raise ContractError(f"{type(exc).__name__}: {exc}", location) from exc


def call(impl: Impl, module: str, name: str, *args, **kwargs):
    fn = impl.get(module, name)
    with blame(f"{module}.py:{name}"):
        return fn(*args, **kwargs)
