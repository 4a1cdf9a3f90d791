"""The Gradescope autograder: ``python -m grader gradescope --out autograder.zip``.

The zip (https://gradescope-autograders.readthedocs.io/en/latest/specs/) holds, at its root:

- ``setup.sh``: run once when Gradescope builds the image; makes a virtual environment in
  ``/autograder/venv`` with the Python range, PyTorch (from its CPU index, or ``$REGLAB_TORCH_INDEX``)
  and every other dependency the project's ``pyproject.toml`` names for grading
  (:mod:`grader.shipping`), and installs bubblewrap; the grader is not installed there (the sandbox
  user reads the venv);
- ``run_autograder``: run for every submission (working directory ``/autograder``), as root; makes
  ``source/``, ``submission/`` and ``results/`` private (0700), grades ``/autograder/submission/`` with
  the student's code as the sandbox user, and writes ``/autograder/results/results.json`` atomically
  once every sandbox process is dead. Without a sandbox backend it writes a 0 with the reason and
  exits 2 (``REGLAB_UNSAFE_NO_SANDBOX=1`` grades anyway). ``REGLAB_AUTOGRADER_ROOT`` replaces ``/autograder`` and ``REGLAB_PYTHON``
  the interpreter (for tests);
- ``grader/``: the grader without ``mutants.py`` and without any reference code, with the expected
  data of every check, hidden ones included (their tests are ``after_published``), and the training
  check's CIFAR-10 images (so neither the image build nor grading downloads anything);
  ``pyproject.toml``, ``README.md`` (with how to try the zip locally).

The expected data is computed at build time for seeds derived per probe (``grader/derive.py``) from the
course secret, or from a secret made for the build: the zip holds the derived seeds, never the secret.
Without reference code the autograder cannot compute data for other inputs, so every submission draws
the same inputs here (per submission only under ``grade``); a worker is sent its probes' seeds and
nothing else, and hidden probes run in a worker of their own (``grading.run_apart``).

Gradescope copies ``run_autograder`` to ``/autograder/run_autograder``, so it finds the grader in
``/autograder/source`` and never relies on its own location.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import replace
from pathlib import Path

from . import shipping, training
from .generated import template
from .checks import REGISTRY, expected_probes
from .checks.registry import Check
from .config import Config
from .derive import Inputs
from .lab import current
from .release import (Build, Built, ReleaseError, _now, expected_now, grader_with_its_data, hidden_left_to_tas,
                      install_context, needs_the_reference, pyproject_file, run, sealed, training_images)
from .safecopy import MODULE_FILES

ROOT_VAR, PYTHON_VAR = "REGLAB_AUTOGRADER_ROOT", "REGLAB_PYTHON"
EXECUTABLE = ("setup.sh", "run_autograder")


def _context() -> dict:
    """The release's install context (Python range, PyTorch's index), and what only setup.sh needs."""
    return {**install_context(), "root_var": ROOT_VAR, "python_var": PYTHON_VAR, "others": shipping.load().others,
            "subset_file": training.SUBSET_FILE, "module_files": MODULE_FILES}


def render(name: str, **values) -> str:
    """One of ``templates/gradescope/``: setup.sh, run_autograder, the TA's README."""
    return template(name, folder="gradescope").render(**_context(), **values)


def build(out: Path, config: Config, checks: tuple[Check, ...] = REGISTRY) -> Built:
    """Write the autograder zip to ``out``."""
    return run(Build(config, checks, "the autograder", Path(out).resolve()), AUTOGRADER).built()


def _a_zip(b: Build) -> None:
    if b.dest.suffix != ".zip":
        raise ReleaseError(f"{b.dest} should end in .zip")


def _every_check_runs(b: Build) -> None:
    """Hidden checks run on Gradescope too (after the grades are published): all of them ship."""
    b.public = b.checks


def _secret_data(b: Build) -> None:
    """Inputs no student can know, derived per probe from the course secret, else from one made for this
    build and then forgotten: the zip holds the derived seeds only."""
    seeds = Inputs(b.config.course.secret_seed or secrets.token_hex(16)).seeds(expected_probes(b.checks))
    b.expected = expected_now(b.config, b.checks, seeds)
    b.manifest = {"format": 1, "kind": "gradescope", "built": _now(), "hidden_checks": 0, "hidden_points": 0,
                  "hidden_ids": [c.id for c in b.hidden], "checks": [c.id for c in b.checks], "seeds": seeds}


def _staged(b: Build) -> None:
    b.scratch = Path(tempfile.mkdtemp(prefix="reglab-gradescope-"))
    b.stage = b.scratch / "autograder"


def _gradescope_files(b: Build) -> None:
    (b.stage / "setup.sh").write_text(render("setup.sh.j2"), encoding="utf-8")
    (b.stage / "run_autograder").write_text(render("run_autograder.j2"), encoding="utf-8")
    (b.stage / "README.md").write_text(render("README.md.j2", checks=b.checks, hidden=b.hidden,
                                              total=f"{sum(c.points for c in b.checks):g}"), encoding="utf-8")


def _zipped(b: Build) -> None:
    b.dest.parent.mkdir(parents=True, exist_ok=True)
    part = b.dest.with_name(f".{b.dest.name}.{os.getpid()}")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, _ in b.files:
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if rel in EXECUTABLE else 0o100644) << 16
            zf.writestr(info, (b.stage / rel).read_bytes())
    os.replace(part, b.dest)


AUTOGRADER = (needs_the_reference, _a_zip, hidden_left_to_tas, _every_check_runs, training_images, _secret_data,
              _staged, grader_with_its_data, _gradescope_files,
              pyproject_file("reglab-autograder", "the Gradescope autograder", ("grader*", "labs*")),
              sealed(lambda b: b.checks, lambda b: 0), _zipped)


# ---------------------------------------------------------------- on Gradescope


def locate_submission(folder: Path) -> Path:
    """The folder holding the lab's files: the upload itself, its ``assignment/``, or the one folder it
    was zipped in (searched two levels deep)."""
    from .grading import find_lab_folder

    def has_files(p: Path) -> int:
        return sum((p / f).is_file() for f in MODULE_FILES)

    first = find_lab_folder(folder)
    if has_files(first):
        return first
    candidates = []
    for depth, pattern in ((1, "*"), (2, "*/*")):
        for p in sorted(folder.glob(pattern)):
            rel = p.relative_to(folder).parts
            if p.is_dir() and not p.is_symlink() and not any(x.startswith((".", "__")) for x in rel) and has_files(p):
                candidates.append((-has_files(p), depth, p.name != "assignment", str(p), p))
    return min(candidates)[-1] if candidates else folder


def _visible_only(result):
    return replace(result, checks=tuple(c for c in result.checks if not c.hidden))


def results_for(result) -> dict:
    """Gradescope's results.json for one graded submission."""
    from .writers.gradescope import first_look, to_gradescope

    data = to_gradescope(result)
    hidden = [c for c in result.checks if c.hidden]
    # The top-level output is visible at once: it must not point at a hidden check.
    text = first_look(_visible_only(result)) if hidden else first_look(result)
    if hidden:
        text += (f"\n(That counts the visible checks; {len(hidden)} more check{'s' if len(hidden) != 1 else ''}, "
                 f"{sum(c.max_score for c in hidden):g} points, {'are' if len(hidden) != 1 else 'is'} shown once "
                 "grades are published.)")
    if result.problems:
        text += "\n\n" + "\n".join(result.problems)
    data["output"] = text
    return data


def _failure(output: str, error: str) -> dict:
    """A results.json with no score and the grader's own trouble, for Gradescope to show."""
    return {"score": 0.0, "output": output, "visibility": "visible", "stdout_visibility": "hidden", "tests": [],
            "extra_data": {"grader_error": error}, "execution_time": 0.0}


def autograde(root: Path) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json``; always writes a result."""
    from . import config as configuration
    from .files import write_atomic
    from .grading import DataMissing, grade_submission, require_data
    from .release import select_checks

    from . import backends, sandboxuser
    from .grading import secrets

    os.umask(sandboxuser.PRIVATE_UMASK)  # before the autograder creates anything: its cache, its results
    started = time.monotonic()
    target = root / "results" / "results.json"
    try:
        cfg = configuration.resolve({})
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # Gradescope: the sandbox user must reach none of it
            for sub in ("source", "submission", "results"):
                if (root / sub).is_dir():
                    os.chmod(root / sub, 0o700)
        backend = backends.select(cfg.isolation.sandbox, unsafe=cfg.isolation.unsafe_no_sandbox, required=True)
        print(backends.notice(backend))
        sandboxuser.private_folders([root / "results", cfg.paths.cache], backend)
        sandboxuser.check_exposure([root / "source", root / "submission", root / "results", *secrets(cfg)], backend)
    except (backends.SandboxUnavailable, configuration.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        write_atomic(target, json.dumps(_failure("The autograder cannot grade safely on this machine — not your "
                                                 "fault: tell your TA.", str(exc)), indent=1))
        return 2
    try:
        selection = select_checks(cfg)
        if any(c.part == current().training for c in selection.checks):
            require_data(cfg)
        folder = locate_submission(root / "submission")
        result = grade_submission(folder, cfg, name="submission", checks=selection.checks,
                                  expected=selection.expected, inputs=Inputs(packaged=selection.seeds))
        data = results_for(result)
        hidden = [c for c in result.checks if c.hidden]  # counted only: stdout names no hidden check
        summary = [f"graded {folder}: {result.score:g}/{result.max_score:g} in {result.duration:.1f} s"] + [
            f"  {c.outcome.value:<15} {c.score:>4g}/{c.max_score:<4g} {c.id}" for c in result.checks if not c.hidden]
        if hidden:
            summary.append(f"  {len(hidden)} hidden: {sum(c.score for c in hidden):g}/"
                           f"{sum(c.max_score for c in hidden):g}")
    except DataMissing as exc:  # the autograder's set-up, not the student's zero
        print(f"error: {exc}", file=sys.stderr)
        write_atomic(target, json.dumps(_failure("The autograder has no CIFAR-10 data — not your fault: tell your "
                                                 "TA.", str(exc)), indent=1))
        return 2
    except Exception:  # noqa: BLE001 - Gradescope must get a results.json whatever happened
        print(traceback.format_exc(), file=sys.stderr)
        data = _failure("The autograder failed on this submission — not your fault: tell your TA.",
                        traceback.format_exc(limit=8))
        summary = []
    data["execution_time"] = round(time.monotonic() - started, 3)
    write_atomic(target, json.dumps(data, indent=1, allow_nan=False, default=str))
    try:  # after results.json: `run_autograder | head` must not cost the result
        print("\n".join(summary))
    except BrokenPipeError:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.gradescope_build")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="grade ROOT/submission into ROOT/results/results.json (run_autograder)")
    run.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_VAR, "/autograder")))
    args = p.parse_args(argv)
    return autograde(args.root)


if __name__ == "__main__":
    sys.exit(main())
