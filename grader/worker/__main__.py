"""Worker entry point: ``python -I -m grader.worker REQUEST_FD RESULT_FD``, or ``main`` in a child of
the fork server (``zygote.py``), which has imported all of this already.

Reads the request (JSON) from the inherited descriptor REQUEST_FD to its end, takes RESULT_FD for
itself before any student code runs, imports the submission (a private copy, as the package
``assignment``) and runs the requested probes. Everything it tells the grader goes as frames on
RESULT_FD (``frames.py``): hello, jailed (it is the sandbox user and about to import the submission's
package: from here on a failure is the student's), each import as it starts, the import errors, each
probe as it starts and its result; the grader knows from them which step hung or crashed. It writes
no file.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
import types

import numpy as np
import torch

# Everything the worker needs is imported before the jail hides the grader's folder: the lab's probes
# (``lab``: the lab's worker folder, copied in by the grader) import all of theirs.
from . import bare, guard, jail, lazyvision, probing
from .calls import ContractError
from .frames import Writer
from .impl import Impl, Unavailable
from .lab import probes as lab
from .plain import BadReturn
from .probing import run

lazyvision.install()  # here, so that the fork server (which imports this module) defers them too


def main(request_fd: int, result_fd: int) -> None:
    chunks = []
    while chunk := os.read(request_fd, 1 << 16):
        chunks.append(chunk)
    os.close(request_fd)
    req = json.loads(b"".join(chunks))
    channel = Writer.take(result_fd, bytes.fromhex(req["nonce"]))
    channel.send({"kind": "hello"})
    probing.progress = lambda info: channel.send({"kind": "progress", **info})

    torch.set_num_threads(req["threads"])
    jail.enter()  # the sandbox user, no capabilities, secrets hidden: before any student code
    os.chdir(req["work_dir"])  # probes' inputs/ are relative to it
    root = req["package_dir"]  # .../assignment
    sys.path.insert(0, os.path.dirname(root))
    sys.dont_write_bytecode = True
    guard.install()  # from here on, the grader's modules cannot be imported (by the student's code)
    # The grader's part ends here: whatever fails from now on happens where student code may run.
    channel.send({"kind": "jailed"})
    package = importlib.import_module("assignment")
    bare.install("assignment", req["modules"])  # ``import penalties`` in train.py, as in a notebook folder

    def student_traceback(exc: BaseException) -> str:
        """The traceback cut to the student's own files ('' when none of their code is in it)."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root)]
        if not frames and not (isinstance(exc, SyntaxError) and str(exc.filename).startswith(root)):
            return ""
        lines = [f'  {os.path.relpath(f.filename, root)}, line {f.lineno}, in {f.name}\n    {f.line or ""}'
                 for f in frames[-8:]]
        last = "".join(traceback.format_exception_only(type(exc), exc)).strip().replace(root + os.sep, "")
        return "\n".join(lines + [last])[:4000]

    def standin(name: str) -> types.ModuleType:
        """What other modules import in place of a failed one (the lab's stand-ins for it, or nothing)."""
        mod = types.ModuleType(f"assignment.{name}")
        vars(mod).update(lab.FAILED_IMPORT.get(name, {}))
        sys.modules[mod.__name__] = mod
        setattr(package, name, mod)
        return mod

    modules, broken = {}, dict(req["blocked"])
    for name in req["modules"]:
        if name in broken or not os.path.exists(os.path.join(root, name + ".py")):
            standin(name)
            continue
        channel.send({"kind": "import", "module": name})
        try:
            modules[name] = importlib.import_module(f"assignment.{name}")
        except BaseException as exc:  # noqa: BLE001 - SyntaxError, SystemExit, KeyboardInterrupt...
            broken[name] = student_traceback(exc) or f"{type(exc).__name__}: {exc}"[:4000]
            standin(name)
    impl = Impl(modules, broken)
    channel.send({"kind": "ready", "errors": {k: v for k, v in broken.items() if k not in req["blocked"]}})

    for name in req["probes"]:
        channel.send({"kind": "start", "probe": name})
        record = {"kind": "result", "probe": name, "status": "ok", "values": {}}
        arrays: dict[str, np.ndarray] = {}
        try:
            for key, value in run(impl, name, params=req["params"].get(name), seed=req["seeds"].get(name, "")).items():
                if isinstance(value, np.ndarray):
                    arrays[key] = value
                else:  # text is cut to what the channel carries (its caps are the grader's: channel.Caps)
                    record["values"][key] = value[:8000] if isinstance(value, str) else value
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a result
            record = {"kind": "result", "probe": name, **describe(exc, student_traceback)}
            arrays = {}
        channel.send(record, arrays)
    for stream in (sys.stdout, sys.stderr):  # what the student printed without flushing
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a stream the student closed or replaced
            pass
    os._exit(0)  # skip the student's atexit handlers and finalizers


def describe(exc: BaseException, student_traceback) -> dict:
    """A failed probe as a record: whose fault it was and what to show."""
    if isinstance(exc, Unavailable):
        return {"status": exc.kind, "message": str(exc)[:4000], "location": exc.location}
    cause = exc.__cause__ if isinstance(exc, ContractError) and exc.__cause__ is not None else exc
    location = getattr(exc, "location", "")
    tb = student_traceback(cause)
    if isinstance(cause, NotImplementedError):
        return {"status": "not_implemented", "message": str(cause)[:4000] or "not implemented yet",
                "location": location, "traceback": tb}
    if isinstance(exc, BadReturn):
        return {"status": "bad_return", "message": str(exc)[:4000], "location": location, "traceback": ""}
    if isinstance(exc, ContractError) or tb:
        return {"status": "raised", "message": f"{type(cause).__name__}: {cause}"[:2000],
                "location": location, "traceback": tb}
    return {"status": "grader", "message": "".join(traceback.format_exception(exc))[-4000:], "location": location}


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
