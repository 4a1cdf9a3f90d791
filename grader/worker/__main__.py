"""Worker entry point: ``python -I -m grader.worker REQUEST.json``.

Imports the submission (a private copy, as the package ``assignment``), runs the requested
probes and writes each result as ``OUT/<probe>.npz`` (arrays) plus ``OUT/<probe>.json`` (the
rest), the JSON last and atomically. Progress lines go to the status pipe so that the parent can
tell which import or probe hung or crashed.
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

# Everything the worker needs is imported before the jail hides the grader's folder.
from . import experiment, guard, jail, standins  # noqa: F401 - experiment: its probe runs after the folder is hidden
from .calls import ContractError
from .impl import MODULES, Impl, Unavailable
from .plain import BadReturn
from .probes import run


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        req = json.load(fh)
    status = os.fdopen(req["status_fd"], "w", buffering=1)

    def say(*words: str) -> None:
        status.write(" ".join(words) + "\n")
        status.flush()

    torch.set_num_threads(req["threads"])
    if req.get("jail"):
        work = req["jail"]["work_dir"]
        seen = jail.enter(work, req["jail"]["hide_dirs"], req["jail"]["hide_files"])
        for key in ("package_dir", "out_dir"):  # the same folders, now seen at their new place
            req[key] = seen + req[key][len(work):]
    os.chdir(os.path.dirname(req["out_dir"]))  # the work folder: probes' inputs/ are relative to it
    root = req["package_dir"]  # .../assignment
    sys.path.insert(0, os.path.dirname(root))
    sys.dont_write_bytecode = True
    guard.install()  # from here on, the grader's modules cannot be imported (by the student's code)
    package = importlib.import_module("assignment")

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
        """What other modules import in place of a failed one (the stand-in penalties, or nothing)."""
        mod = types.ModuleType(f"assignment.{name}")
        if name == "penalties":
            vars(mod).update(standins.ALL)
        sys.modules[mod.__name__] = mod
        setattr(package, name, mod)
        return mod

    modules, broken = {}, dict(req["blocked"])
    for name in MODULES:
        if name in broken or not os.path.exists(os.path.join(root, name + ".py")):
            standin(name)
            continue
        say("I", name)
        try:
            modules[name] = importlib.import_module(f"assignment.{name}")
        except BaseException as exc:  # noqa: BLE001 - SyntaxError, SystemExit, KeyboardInterrupt...
            broken[name] = student_traceback(exc) or f"{type(exc).__name__}: {exc}"
            standin(name)
    impl = Impl(modules, broken)
    out_dir = req["out_dir"]
    with open(os.path.join(out_dir, ".imports.json"), "w", encoding="utf-8") as fh:
        json.dump({k: v for k, v in broken.items() if k not in req["blocked"]}, fh)
    os.replace(os.path.join(out_dir, ".imports.json"), os.path.join(out_dir, "imports.json"))
    say("R")

    for name in req["probes"]:
        say("S", name)
        record = {"status": "ok"}
        arrays: dict[str, np.ndarray] = {}
        try:
            values = run(impl, name, params=req["params"].get(name), seed=req.get("seed", ""))
            record["values"] = {}
            for key, value in values.items():
                if isinstance(value, np.ndarray):
                    arrays[key] = value
                else:
                    record["values"][key] = value
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a result
            record = describe(exc, student_traceback)
        try:
            tmp = os.path.join(out_dir, f".{name}.npz")
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, os.path.join(out_dir, f"{name}.npz"))
            tmp = os.path.join(out_dir, f".{name}.json")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(record, fh, allow_nan=True)
            os.replace(tmp, os.path.join(out_dir, f"{name}.json"))
        except BaseException:  # noqa: BLE001 - e.g. the file-size limit; the parent sees no result
            pass
        say("E", name)
    status.close()
    for stream in (sys.stdout, sys.stderr):  # what the student printed without flushing
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a stream the student closed or replaced
            pass
    os._exit(0)  # skip the student's atexit handlers and finalizers


def describe(exc: BaseException, student_traceback) -> dict:
    """A failed probe as a record: whose fault it was and what to show."""
    if isinstance(exc, Unavailable):
        return {"status": exc.kind, "message": str(exc), "location": exc.location}
    cause = exc.__cause__ if isinstance(exc, ContractError) and exc.__cause__ is not None else exc
    location = getattr(exc, "location", "")
    tb = student_traceback(cause)
    if isinstance(cause, NotImplementedError):
        return {"status": "not_implemented", "message": str(cause) or "not implemented yet",
                "location": location, "traceback": tb}
    if isinstance(exc, BadReturn):
        return {"status": "bad_return", "message": str(exc), "location": location, "traceback": ""}
    if isinstance(exc, ContractError) or tb:
        return {"status": "raised", "message": f"{type(cause).__name__}: {cause}"[:2000],
                "location": location, "traceback": tb}
    return {"status": "grader", "message": "".join(traceback.format_exception(exc))[-4000:], "location": location}


if __name__ == "__main__":
    main()
