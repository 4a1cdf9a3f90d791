"""Tensors between the worker's processes by value, where the worker may open no socket (``uid``).

torch registers reducers that send a tensor to another process (a ``DataLoader`` worker's batch, a
``multiprocessing`` queue) as a shared-memory descriptor, and a descriptor crosses processes through
``multiprocessing.resource_sharer``: a listening Unix socket. With ``socket()`` refused, the sender's
feeder thread fails and the receiver waits forever. Without torch's reducers, a tensor is pickled as
``torch.save`` writes it and crosses the queue's pipe by value: the same batches, a copy more each.
"""
from __future__ import annotations

TORCH_REDUCERS = "torch.multiprocessing.reductions"


def by_value() -> int:
    """Drop torch's descriptor-passing reducers from ``multiprocessing``'s pickler; how many were dropped."""
    import torch.multiprocessing  # noqa: F401 - registers them, if nothing has yet
    from multiprocessing.reduction import ForkingPickler

    reducers = ForkingPickler._extra_reducers
    dropped = [t for t, reduce in reducers.items() if getattr(reduce, "__module__", "") == TORCH_REDUCERS]
    for t in dropped:
        del reducers[t]
    return len(dropped)
