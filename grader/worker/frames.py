"""The worker's side of the data channel: length-prefixed frames on a pipe the grader created.

A frame is a fixed header, JSON metadata, then the raw bytes of its arrays::

    magic b"RGLF" | nonce (8 bytes, from the request) | metadata length (u32) | array bytes (u64)

The metadata names each array's key, dtype and shape; the bytes follow in that order, C order,
little-endian. No pickle, no npz, nothing compressed: what the grader reads is what was sent,
and it knows how much before it reads it (``grader/channel.py`` decodes and bounds it).
This module only writes; it decides nothing about what a result is worth.
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np

MAGIC = b"RGLF"
HEADER = struct.Struct(">4s8sIQ")
# dtypes that may cross the channel (bool, ints, floats), little-endian; anything else is refused.
DTYPES = ("|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8")


def encode(nonce: bytes, meta: dict, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """One frame. ``meta`` gets an ``arrays`` list of (key, dtype, shape) when there are arrays."""
    blobs, listing = [], []
    for key, value in (arrays or {}).items():
        arr = np.asarray(value)
        if arr.dtype.kind == "b":
            arr = arr.astype("|b1")
        elif arr.dtype.kind in "iuf":
            arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        else:
            raise TypeError(f"{key}: dtype {arr.dtype} cannot cross the channel")
        arr = np.ascontiguousarray(arr)
        listing.append([str(key), arr.dtype.str, list(arr.shape)])
        blobs.append(arr.tobytes())
    if listing:
        meta = {**meta, "arrays": listing}
    head = json.dumps(meta, allow_nan=True).encode("utf-8")
    body = b"".join(blobs)
    return HEADER.pack(MAGIC, nonce, len(head), len(body)) + head + body


class Writer:
    """Writes frames to the result descriptor, which it first moves out of the way (see ``take``)."""

    def __init__(self, fd: int, nonce: bytes):
        self.fd, self.nonce = fd, nonce

    def send(self, meta: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
        data = memoryview(encode(self.nonce, meta, arrays))
        while data:
            data = data[os.write(self.fd, data):]

    @classmethod
    def take(cls, fd: int, nonce: bytes) -> Writer:
        """Move the descriptor to a high, close-on-exec number and close the original.

        This only keeps it away from code that writes to descriptors by habit (``os.write(3, ...)``,
        a spray over the first few hundred, a child started with ``subprocess``); code in this
        process can still find it. What such code could send is bounded by the grader, and worth
        no more than what that code could return from the functions themselves.
        """
        import fcntl
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        floor = 1000 if soft == resource.RLIM_INFINITY else max(3, min(1000, soft - 16))
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
        os.close(fd)
        return cls(high, nonce)
