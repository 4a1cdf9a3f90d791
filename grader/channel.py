"""The grader's side of the data channel: frames from the worker, decoded with hard caps, accepted
only in the order the grader asked for them.

The worker writes frames (``grader/worker/frames.py``) to a pipe this process created; nothing it
leaves on disk is ever read. Every frame is checked before it is believed: magic and the run's
nonce, lengths against caps known before a byte of the body is read, JSON of bounded size and
depth, a fixed schema, arrays of numeric dtypes with bounded shapes whose bytes add up exactly.
The protocol of one worker run, in order::

    hello · jailed · (import <module>)* · ready {errors} · (start <probe> · result <probe>)*

with the probes in the order the request listed them. A ``progress`` frame (the training probe's
epochs, without arrays) may come at any time: it is only shown, never changes the run's state, and
one that comes out of turn or whose counts are not small integers is dropped. Anything else (a frame out of order, for a
probe not asked or not started, a second result, a bad header, a cap passed) is a ``ChannelError``:
the run is stopped and the step it happened in is charged with corrupting the channel.

What this guarantees: whatever a worker sends, the grader holds bounded, plain, cleaned data
(numbers, short strings, numeric arrays) for probes it asked for, and all judging happens here.
What it cannot guarantee: student code runs in the worker's process, so it can find the
descriptor and the nonce and write well-formed frames itself. Such frames are worth exactly what
that code could have returned from the functions the probe calls (it could as well patch the
probe), so they gain nothing a correct implementation would not; what stops a student from
writing back known answers is that ``grade`` uses inputs drawn from a course secret. The nonce
and the high descriptor number only keep out writes that are not aimed at this channel.
"""
from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .lab import current
from .outcome import ProbeOutcome
from .text import clean
from .worker.frames import DTYPES, HEADER, MAGIC

# What the grader's display is told: (kind, name, counts): ("import", module, {}), ("probe", name, {}),
# ("progress", probe, {run, runs, epoch, epochs}) as the worker reports them; only ever shown.
Listener = Callable[[str, str, dict], None]
WORKER_STATUSES = ("ok", "not_implemented", "raised", "bad_return", "missing", "import_error")


class ChannelError(Exception):
    """The worker sent something that is not a valid frame, or a valid frame out of turn."""


@dataclass(frozen=True)
class Caps:
    meta_bytes: int = 1 << 20           # one frame's JSON
    depth: int = 6                      # JSON nesting (the schema needs 4)
    probe_bytes: int = 16 << 20         # one probe's arrays (the reference's largest is under 1 MB)
    probe_elements: int = 4_000_000     # ... counted in elements
    submission_bytes: int = 96 << 20    # everything the worker sends for one submission, restarts included
    arrays: int = 512                   # arrays in one result
    values: int = 512                   # numbers and strings in one result
    ndim: int = 6
    key: int = 200                      # characters of a key
    string: int = 8000                  # characters of a string value
    message: int = 4000                 # characters of a message, location or traceback


@functools.cache
def _larger() -> dict[str, dict[str, int]]:
    """Probes whose results are larger than the default caps allow: the lab's training probe (it
    returns weights), with the caps its lab declares."""
    lab = current()
    return {lab.training_check().PROBE: lab.training_check().CAPS} if lab.training else {}


def caps_for(probe: str, caps: Caps) -> Caps:
    extra = _larger().get(probe)
    return Caps(**{**caps.__dict__, **extra}) if extra else caps


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')


def json_depth(data: bytes) -> int:
    """How deeply ``data`` nests arrays and objects (string contents do not count)."""
    codes = np.frombuffer(_STRINGS.sub(b'""', data), dtype=np.uint8)
    if codes.size == 0:
        return 0
    steps = np.isin(codes, (91, 123)).astype(np.int32) - np.isin(codes, (93, 125)).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


class Decoder:
    """Cuts the byte stream of one worker run into frames and hands each to the protocol at once,
    refusing any frame whose lengths pass a cap before reading its body: the array bytes a frame
    may announce are what the protocol allows at that point (none outside a probe's result)."""

    def __init__(self, nonce: bytes, protocol: Protocol, budget: list[int]):
        self.nonce, self.protocol, self.caps = nonce, protocol, protocol.caps
        self.budget = budget  # [bytes the submission may still send], shared by its worker runs
        self.buffer = bytearray()
        self._sizes: tuple[int, int] | None = None

    def feed(self, data: bytes) -> None:
        self.budget[0] -= len(data)
        if self.budget[0] < 0:
            raise ChannelError(f"the worker sent more than {self.caps.submission_bytes >> 20} MB in all")
        self.buffer += data
        while True:
            if self._sizes is None:
                if len(self.buffer) < HEADER.size:
                    return
                magic, nonce, meta_len, blob_len = HEADER.unpack_from(self.buffer)
                if magic != MAGIC or nonce != self.nonce:
                    raise ChannelError("bytes that are not a frame of this run")
                if meta_len > self.caps.meta_bytes:
                    raise ChannelError(f"a frame's metadata of {meta_len} bytes (at most {self.caps.meta_bytes})")
                allowed = self.protocol.blob_cap()
                if blob_len > allowed:
                    raise ChannelError(f"a frame announcing {blob_len} bytes of arrays (at most {allowed} here)")
                self._sizes = (meta_len, blob_len)
            meta_len, blob_len = self._sizes
            end = HEADER.size + meta_len + blob_len
            if len(self.buffer) < end:
                return
            head = bytes(self.buffer[HEADER.size:HEADER.size + meta_len])
            blob = bytes(self.buffer[HEADER.size + meta_len:end])
            del self.buffer[:end]
            self._sizes = None
            self.protocol.handle(parse_meta(head, self.caps), blob)


def parse_meta(head: bytes, caps: Caps) -> dict:
    if json_depth(head) > caps.depth:
        raise ChannelError(f"a frame's JSON nests deeper than {caps.depth} levels")
    try:
        meta = json.loads(head.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ChannelError(f"a frame's metadata is not JSON ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("kind"), str):
        raise ChannelError("a frame without a kind")
    return meta


def _string(value, cap: int, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ChannelError(f"{what} is not text")
    return clean(value, cap)


def parse_result(meta: dict, blob: bytes, caps: Caps):
    """A result frame as a ``ProbeOutcome``: plain, bounded, cleaned."""
    status = meta.get("status")
    message = _string(meta.get("message"), caps.message, "the message")
    location = _string(meta.get("location"), caps.message, "the location")
    tb = _string(meta.get("traceback"), caps.message, "the traceback")
    if status == "grader":
        # The worker thinks the failure is not the student's. It cannot know: student code ran in
        # the same process. The grader alone decides "grader error"; this is the student's result.
        return ProbeOutcome("worker", message=message, location=location, traceback=tb)
    if status not in WORKER_STATUSES:
        raise ChannelError("a result with an unknown status")
    if status != "ok":
        if blob:
            raise ChannelError("a failed result that carries arrays")
        return ProbeOutcome(status, message=message, location=location, traceback=tb)
    values = meta.get("values", {})
    listing = meta.get("arrays", [])
    if not isinstance(values, dict) or not isinstance(listing, list):
        raise ChannelError("a result whose values are not a record")
    if len(values) > caps.values or len(listing) > caps.arrays:
        raise ChannelError(f"a result with {len(values)} values and {len(listing)} arrays "
                           f"(at most {caps.values} and {caps.arrays})")
    out: dict = {}
    for key, value in values.items():
        key = _key(key, caps)
        if isinstance(value, str):
            value = clean(value, caps.string)
        elif not (value is None or isinstance(value, (bool, int, float))):
            raise ChannelError(f"the value {key!r} is not a number or text")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1 << 63:
            raise ChannelError(f"the value {key!r} is too large an integer")
        out[key] = value
    offset, elements = 0, 0
    for entry in listing:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[2], list)):
            raise ChannelError("an array described wrongly")
        key, dtype, shape = _key(entry[0], caps), entry[1], entry[2]
        if dtype not in DTYPES:
            raise ChannelError(f"the array {key!r} has dtype {clean(dtype, 40)!r} (only bool, integers and floats)")
        if len(shape) > caps.ndim or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape):
            raise ChannelError(f"the array {key!r} has a bad shape")
        count = math.prod(shape)
        elements += count
        if elements > caps.probe_elements:
            raise ChannelError(f"the arrays hold more than {caps.probe_elements} elements")
        size = count * np.dtype(dtype).itemsize
        if key in out or offset + size > len(blob):
            raise ChannelError(f"the array {key!r} is repeated or its bytes are missing")
        out[key] = np.frombuffer(blob, dtype=dtype, count=count, offset=offset).reshape(shape).copy()
        offset += size
    if offset != len(blob):
        raise ChannelError("a result with bytes no array accounts for")
    return ProbeOutcome("ok", values=out)


PROGRESS_FIELDS = ("run", "runs", "epoch", "epochs")


def parse_progress(meta: dict) -> dict[str, int] | None:
    """A progress frame's counts, or None: small non-negative integers only (display, never a grade)."""
    values = {k: meta.get(k) for k in PROGRESS_FIELDS}
    if all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1_000_000 for v in values.values()):
        return values
    return None


def _key(key, caps: Caps) -> str:
    if not isinstance(key, str) or not key or len(key) > caps.key or clean(key, caps.key) != key:
        raise ChannelError("a result key that is not a short plain name")
    return key


@dataclass
class Protocol:
    """The order of frames in one worker run, and what they amount to.

    ``step`` is what the worker is doing as far as the grader knows: ("startup", "") until it
    says hello, ("jail", "") until it says it is jailed, ("import", module), ("probe", name), or
    None between steps. ``student`` becomes true with "jailed", sent once the worker is the sandbox
    user and just before it imports the submission's package: from then on, whatever goes wrong
    may be the student's doing, and is charged to the student.
    """
    probes: list[str]
    modules: tuple[str, ...]            # the modules the worker may import in this run
    caps: Caps
    listener: Listener | None = None  # told each step as it begins and each progress frame
    step: tuple[str, str] | None = ("startup", "")
    last: tuple[str, str] | None = None  # the last step the worker was in
    student: bool = False
    ready: bool = False
    imported: list[str] = field(default_factory=list)
    import_errors: dict[str, str] = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    done: bool = False

    @property
    def next_probe(self) -> str | None:
        return self.probes[len(self.results)] if len(self.results) < len(self.probes) else None

    def blob_cap(self) -> int:
        """How many bytes of arrays the next frame may carry."""
        if self.step and self.step[0] == "probe":
            return caps_for(self.step[1], self.caps).probe_bytes
        return 0

    def handle(self, meta: dict, blob: bytes) -> None:
        kind = meta["kind"]
        if kind == "progress" and not blob:  # display only: dropped unless a probe is running and it is well formed
            counts = parse_progress(meta)
            if counts and self.step and self.step[0] == "probe" and not self.done:
                self._tell("progress", self.step[1], counts)
            return
        if blob and kind != "result":
            raise ChannelError(f"a {clean(kind, 40)!r} frame that carries arrays")
        if self.done:
            raise ChannelError(f"a {clean(kind, 40)!r} frame after the last result")
        if self.step == ("startup", ""):
            if kind != "hello":
                raise ChannelError(f"a {clean(kind, 40)!r} frame before the worker started")
            self.step = ("jail", "")
        elif self.step == ("jail", ""):
            if kind != "jailed":
                raise ChannelError(f"a {clean(kind, 40)!r} frame before the worker was jailed")
            self.step, self.student = None, True
        elif kind == "import" and not self.ready and (self.step is None or self.step[0] == "import"):
            module = meta.get("module")
            if module not in self.modules or module in self.imported:
                raise ChannelError("an import of a module not asked for, or twice")
            self.imported.append(module)
            self.step = self.last = ("import", module)
            self.student = True
            self._tell("import", module, {})
        elif kind == "ready" and not self.ready:
            errors = meta.get("errors")
            if not isinstance(errors, dict) or not set(errors) <= set(self.imported):
                raise ChannelError("import errors for modules that were not imported")
            self.import_errors = {m: _string(why, self.caps.message, "an import error") for m, why in errors.items()}
            self.ready, self.step = True, None
            self.done = self.next_probe is None
        elif kind == "start" and self.ready and self.step is None and meta.get("probe") == self.next_probe \
                and self.next_probe is not None:
            self.step = self.last = ("probe", self.next_probe)
            self.student = True
            self._tell("probe", self.next_probe, {})
        elif kind == "result" and self.step and self.step[0] == "probe" and meta.get("probe") == self.step[1]:
            self.results[self.step[1]] = parse_result(meta, blob, caps_for(self.step[1], self.caps))
            self.step = None
            self.done = self.next_probe is None
        else:
            where = "before any step" if self.step is None else f"during {self.step[0]} {self.step[1]}"
            raise ChannelError(f"a {clean(kind, 40)!r} frame out of turn ({where})")

    def _tell(self, kind: str, name: str, counts: dict) -> None:
        if self.listener is not None:
            self.listener(kind, name, counts)
