"""The student release: what a course hands out, without the reference, and the checks it can run.

``python -m grader release --out DIR`` writes

- ``assignment/``: the stubs (whatever ``assignment/*.py`` holds, the experiment included);
- ``grader/``: this grader without the registrations of hidden checks, and ``labs/<lab>/``, its lab's
  names, without its known mistakes (``mutants.py``, near-reference code); plus
  ``grader/expected/expected.{npz,json}``: the expected data computed now from the reference, minus
  the probes that only hidden checks use, and ``grader/expected/manifest.json`` (how many hidden
  checks were left out);
- ``README.md`` (how to self-check, what each part asks), ``pyproject.toml`` (``pip install -e .``),
  ``.gitignore`` and ``.github/workflows/classroom.yml`` (GitHub Classroom autograding).

A check is hidden when it is declared with ``hidden=True`` or listed in the ``hidden`` setting
(``reglab.toml``: ``hidden = ["penalties.unknown_kind"]``, or ``REGLAB_HIDDEN=id,id``). Wherever
the grader runs from packaged data (a release, the Gradescope autograder) it runs exactly the
checks whose expected data it holds: :func:`select_checks`.

Before it is moved into place, the release is searched for every function body and solution region
of ``solution/`` (:func:`find_reference_code`) and its grader is imported in a fresh interpreter to
confirm that it loads, lacks the lab's known mistakes and runs every public check.

Both builds, this one (``RELEASE``) and the Gradescope autograder's (``gradescope_build.AUTOGRADER``),
are lists of small steps run over one :class:`Build`; the steps they share are here.
"""
from __future__ import annotations

import ast
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import i18n, shipping, stubgen
from .generated import template
from .packaged import MANIFEST, read_manifest
from .checks import REGISTRY, probes_for
from .checks.registry import Check
from .config import PROJECT_ROOT, Config, ConfigError
from .lab import LABS, current
from .reference import REFERENCE, Expected, save
from .results import PARTS

PACKAGE = Path(__file__).resolve().parent
EXCLUDED_DIRS = {"__pycache__", "expected"}  # caches, and packaged data rewritten for each build


class ReleaseError(Exception):
    pass


def needs_expected(check: Check) -> bool:
    """Whether the check compares with the reference's results (the training check does not)."""
    return getattr(check, "needs_expected", True)


def expected_probes(checks) -> list[str]:
    return probes_for(c for c in checks if needs_expected(c))


# ---------------------------------------------------------------- which checks run


def has_reference(config: Config) -> bool:
    return config.paths.solution is not None and (config.paths.solution / "__init__.py").is_file()


# ---------------------------------------------------------------- a build, as a pipeline of small steps
# A build (the student release here, the Gradescope autograder in gradescope_build.py) is a list of
# steps run in order over one Build: each reads what earlier ones filled in and adds its own. The steps
# both builds take are below; every file a step writes is rendered from a template.


@dataclass
class Build:
    config: Config
    checks: tuple[Check, ...]            # every check the build knows
    what: str                            # "the release", "the autograder": how messages name it
    dest: Path                           # where it ends up (a folder, a zip)
    options: dict = field(default_factory=dict)  # a build's own (the release's repo URL and stubs)
    scratch: Path | None = None          # removed when the build ends, whether it worked or not
    stage: Path | None = None            # the tree being built
    public: tuple[Check, ...] = ()       # the checks it ships to run
    hidden: tuple[Check, ...] = ()       # those left to TAs
    subset: object = None                # the training check's images, when a shipped check trains
    expected: Expected | None = None
    manifest: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    searched: int = 0                    # reference fragments looked for by the seal
    files: tuple[tuple[str, int], ...] = ()

    def built(self) -> "Built":
        return Built(self.dest, self.files, self.public, self.hidden, self.searched, tuple(self.warnings))


def run(build: Build, steps) -> Build:
    """The steps in order; the scratch folder goes in the end, and with it whatever a failed step left."""
    try:
        for step in steps:
            step(build)
        return build
    finally:
        if build.scratch is not None:
            shutil.rmtree(build.scratch, ignore_errors=True)


def needs_the_reference(b: Build) -> None:
    require_reference(b.config, b.what)


def hidden_left_to_tas(b: Build) -> None:
    b.hidden = hidden_checks(b.config, b.checks)
    b.public = tuple(c for c in b.checks if c.id not in {h.id for h in b.hidden})


def training_images(b: Build) -> None:
    """Before the expected data: a missing CIFAR-10 copy fails fast."""
    b.subset = training_subset(b.config, b.public)


def grader_with_its_data(b: Build) -> None:
    stage_grader(b.stage, b.expected, b.manifest, b.subset)


def pyproject_file(name: str, description: str, packages: tuple[str, ...]):
    def step(b: Build) -> None:
        (b.stage / "pyproject.toml").write_text(pyproject(name, f"{current().title[1]}: {description}", packages),
                                                encoding="utf-8")
    return step


def sealed(run_ids, left_out):
    """The seal (:func:`seal`) for the checks ``run_ids(b)`` it must run, ``left_out(b)`` hidden ones aside."""
    def step(b: Build) -> None:
        b.searched = seal(b.stage, b.config, [c.id for c in run_ids(b)], left_out(b), b.what)
        b.files = listing(b.stage)
    return step


def require_reference(config: Config, what: str) -> None:
    if not has_reference(config):
        raise ReleaseError(f"no reference solution in {config.paths.solution}: {what} is built in the instructor's "
                           "repository")


def stage_grader(tree: Path, expected: Expected, manifest: dict, subset) -> None:
    """This grader and its lab's package into ``tree``, with the packaged expected data."""
    copy_grader(tree / "grader")
    write_expected(tree / "grader", expected, manifest, subset)


def seal(tree: Path, config: Config, run_ids: list[str], hidden_left_out: int, what: str) -> int:
    """What every build checks last: no course secret and no reference code anywhere in it, and its
    grader runs exactly the checks it should. Returns how many reference snippets were looked for."""
    if config.course.secret_seed and find_text(tree, config.course.secret_seed):
        raise ReleaseError(f"the course secret (secret_seed) was found in {what}: "
                           + ", ".join(find_text(tree, config.course.secret_seed)))
    leaks, searched = find_reference_code(tree, config.paths.solution)
    if leaks:
        raise ReleaseError(f"reference code found in {what}:\n  " + "\n  ".join(leaks))
    verify(tree, run_ids, hidden_left_out, config.paths.solution)
    return searched


def hidden_checks(config: Config, checks: tuple[Check, ...] = REGISTRY) -> tuple[Check, ...]:
    """The checks an instructor hid: declared ``hidden=True``, or listed in the ``hidden`` setting."""
    known = {c.id for c in checks}
    unknown = [i for i in config.course.hidden if i not in known]
    if unknown:
        raise ConfigError(f"{config.source('hidden')}: unknown check id(s) {', '.join(unknown)} in hidden "
                          f"(known: {', '.join(sorted(known))})")
    return tuple(c for c in checks if c.hidden or c.id in config.course.hidden)


@dataclass(frozen=True)
class Selection:
    checks: tuple[Check, ...]        # what this grader runs (hidden ones marked hidden=True)
    expected: Expected | None        # the packaged data; None: computed from the reference when grading
    hidden_left_out: int = 0         # hidden checks this grader cannot run: the TA runs them
    hidden_points: float = 0.0
    seeds: dict = field(default_factory=dict)  # probe -> the seed the packaged data was computed for
                                               # (none: the public seed; see grader/derive.py)

    def note(self) -> str | None:
        n = self.hidden_left_out
        if not n:
            return None
        return (f"{n} hidden check{'s' if n != 1 else ''} ({self.hidden_points:g} points) "
                f"{'are' if n != 1 else 'is'} run by your TA")


def select_checks(config: Config, checks: tuple[Check, ...] = REGISTRY) -> Selection:
    """The checks to run here, and the expected data to judge them with.

    With the reference at hand (the instructor's repository) every check runs, the hidden ones
    marked as such. From packaged data (a student release, the Gradescope autograder) only the
    checks whose probes all have expected data run, and those that need none (the training check);
    the others, and the hidden checks a release left out altogether (counted in its manifest), are
    reported as run by the TA. Without training (``--no-training``) the training check is left out.
    """
    from .grading import load_expected

    manifest = read_manifest(config)
    marked_ids = set(manifest.get("hidden_ids", ()))
    if has_reference(config) or not manifest:
        marked_ids |= {c.id for c in hidden_checks(config, checks)}
    else:  # a packaged grader: ids it left out are unknown here, and that is fine
        marked_ids |= set(config.course.hidden)
    if not config.grading.training:  # as grade_submission does without explicit checks
        checks = tuple(c for c in checks if c.part != current().training)
    marked = tuple(replace(c, hidden=True) if c.id in marked_ids and not c.hidden else c for c in checks)
    if has_reference(config):
        return Selection(marked, None)
    left_n, left_points = int(manifest.get("hidden_checks", 0)), float(manifest.get("hidden_points", 0.0))
    try:
        expected = load_expected(config, tuple(c for c in marked if needs_expected(c)))
    except Exception:  # noqa: BLE001 - grading reports a missing or damaged file as the grader's error
        return Selection(marked, None, left_n, left_points)
    present = set(expected.table.get(REFERENCE, {}))
    runnable = tuple(c for c in marked if not needs_expected(c) or all(p in present for p in c.probes))
    left = [c for c in marked if c.id not in {r.id for r in runnable}]
    return Selection(runnable, expected, left_n + len(left), left_points + sum(c.points for c in left),
                     {str(k): str(v) for k, v in dict(manifest.get("seeds", {})).items()})


# ---------------------------------------------------------------- what each check reads


class _Reads(dict):
    """A probe's values that note every value read from them, whichever way: by key, ``get``,
    ``values``/``items``, a copy (``dict(...)``, ``{**d}``, ``copy``, ``|``, pickling), a comparison
    or a printout. Key names alone (``in``, iteration, ``keys``, ``len``) are not values; what a check
    decides from them is caught by judging again without the withheld values (:func:`hidden_data`)."""

    def __init__(self, values: dict, log: set, where: tuple[str, str]):
        super().__init__(values)
        self._log, self._where = log, where

    def _all(self) -> None:
        self._log.update((*self._where, k) for k in dict.keys(self))

    def __getitem__(self, key):
        self._log.add((*self._where, key))
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key in self:
            self._log.add((*self._where, key))
        return super().get(key, default)

    def pop(self, key, *default):
        if key in self:
            self._log.add((*self._where, key))
        return super().pop(key, *default)

    def setdefault(self, key, default=None):
        if key in self:
            self._log.add((*self._where, key))
        return super().setdefault(key, default)

    def __iter__(self):  # a Python-level __iter__ makes dict(d) and {**d} copy through __getitem__
        return super().__iter__()

    def values(self):
        self._all()
        return super().values()

    def items(self):
        self._all()
        return super().items()

    def popitem(self):
        self._all()
        return super().popitem()

    def copy(self):
        self._all()
        return dict(super().items())

    def __or__(self, other):
        self._all()
        return dict(super().items()) | other

    def __ror__(self, other):
        self._all()
        return other | dict(super().items())

    def __eq__(self, other):
        self._all()
        return super().__eq__(other)

    def __ne__(self, other):
        self._all()
        return super().__ne__(other)

    def __repr__(self):
        self._all()
        return super().__repr__()


def _results(check: Check, expected: Expected) -> list[dict[str, tuple[str, dict]]]:
    """What a student could hand in for the check's probes, ``probe -> (variant, values)``: the
    reference's results, its alternative's, and each known mistake's (with the reference's results on
    the probes the mistake leaves alone); only results every probe gave (a failed probe is never judged)."""
    from .reference import REFERENCE

    reference = expected.table.get(REFERENCE, {})
    found = []
    for name, rows in expected.table.items():
        if name != REFERENCE and not any(p in rows for p in check.probes):
            continue  # the reference's own results again
        picked = {p: (name, rows[p]) if p in rows else (REFERENCE, reference.get(p)) for p in check.probes}
        if all(o is not None and o.ok for _, o in picked.values()):
            found.append({p: (v, o.values) for p, (v, o) in picked.items()})
    return found


def traced_reads(check: Check, expected: Expected) -> tuple[set, set]:
    """``(variant, probe, key)`` of every value ``check`` reads when it judges the reference's own
    results, its alternative's and every known mistake's (the passing path and the failing ones,
    diagnoses included): those it compares with (read from the expected data: a release that runs
    the check must hold them) and those of the results it judges (the variant's own results, read as
    a student's: they show what the check looks at)."""
    import numpy as np

    from .checks.registry import Context

    compared: set = set()
    judged: set = set()
    if not needs_expected(check):
        return compared, judged
    traced = Expected({v: {p: replace(o, values=_Reads(o.values, compared, (v, p))) for p, o in rows.items()}
                       for v, rows in expected.table.items()}, expected.mistakes)
    for results in _results(check, expected):
        student = {p: _Reads(values, judged, (v, p)) for p, (v, values) in results.items()}
        try:
            with np.errstate(all="ignore"):
                check.judge(Context(student, traced))
        except Exception:  # noqa: BLE001, S110 - a path a mistake cannot take; what it read before still counts
            pass
    return compared, judged


def expected_reads(check: Check, expected: Expected) -> set[tuple[str, str, str]]:
    """``(variant, probe, key)`` of every value of the expected data that ``check`` reads, as the data
    it compares with or as the results it judges (:func:`traced_reads`)."""
    compared, judged = traced_reads(check, expected)
    return compared | judged


def without_values(expected: Expected, reads: set[tuple[str, str, str]]) -> Expected:
    """A copy without these ``(variant, probe, key)`` values."""
    from .outcome import ProbeOutcome

    table = {v: {p: ProbeOutcome(o.status, {k: x for k, x in o.values.items() if (v, p, k) not in reads}, o.message,
                                 o.location, o.traceback)
                 for p, o in rows.items()} for v, rows in expected.table.items()}
    return Expected(table, expected.mistakes)


def _verdicts(check: Check, expected: Expected, everything: Expected) -> list:
    """What ``check`` decides, with ``expected`` as the data it compares with, on every result that
    :func:`_results` draws from ``everything`` (a raised exception counts as its type)."""
    import numpy as np

    from .checks.registry import Context

    out = []
    for results in _results(check, everything):
        try:
            with np.errstate(all="ignore"):
                out.append(check.judge(Context({p: values for p, (_, values) in results.items()}, expected)))
        except Exception as exc:  # noqa: BLE001 - compared as such
            out.append(type(exc).__name__)
    return out


def hidden_data(expected: Expected, public: tuple[Check, ...], hidden: tuple[Check, ...]) -> set[tuple[str, str, str]]:
    """The expected values the release must not hold: every one a hidden check reads, whether it
    compares with it or judges a student's result of that key (:func:`expected_reads`). A value that
    a public check compares with cannot be withheld: the build stops and names both checks. A public
    check that decides anything differently without the withheld values (it tested a key's presence,
    or listed keys) stops the build too."""
    from .reference import REFERENCE

    public_needs = {c.id: traced_reads(c, expected)[0] for c in public}
    first = lambda read: (read[0] != REFERENCE, read)  # noqa: E731 - name the reference's value first
    withheld: set = set()
    for check in hidden:
        reads = expected_reads(check, expected)
        for other, theirs in public_needs.items():
            shared = sorted(reads & theirs, key=first)
            if shared:
                variant, probe, key = shared[0]
                raise ReleaseError(f"hidden check {check.id} reads the expected {key!r} of probe {probe} "
                                   f"({variant}), which public check {other} reads too: a release cannot hold one "
                                   "without the other — give the hidden check a probe of its own")
        probes = {p for _, p, _ in withheld | reads}
        shipped = without_values(expected, withheld | reads)
        for other in (c for c in public if probes & set(c.probes)):
            if _verdicts(other, shipped, expected) != _verdicts(other, expected, expected):
                raise ReleaseError(f"hidden check {check.id} reads values of probe(s) {', '.join(sorted(probes))} "
                                   f"that public check {other.id} needs to decide as it does: withholding them "
                                   "changes its verdicts — give the hidden check a probe of its own")
        withheld |= reads
    return withheld


# ---------------------------------------------------------------- building


@dataclass(frozen=True)
class Built:
    root: Path
    files: tuple[tuple[str, int], ...]   # (path relative to root, bytes)
    public: tuple[Check, ...]
    hidden: tuple[Check, ...]
    functions_checked: int               # reference functions searched for
    warnings: tuple[str, ...] = ()


# What of a lab's package a shipped grader runs (with its compiled catalogs), and nothing else: not its
# known mistakes, reference, stubs, examples, templates or notes.
SHIPPED_LAB_CODE = ("__init__", "training", "checks", "worker")  # modules or packages


def copy_grader(dest: Path) -> None:
    """This grader package without caches or old packaged data; beside it, what a grader runs of its lab's
    package (``labs/<lab>``: ``SHIPPED_LAB_CODE`` and its compiled catalogs): never its known mistakes,
    its reference, stubs or examples (even where the lab keeps them inside its package)."""
    lab = current()
    code = sorted(p for p in (*lab.folder.rglob("*.py"), *lab.folder.glob("locale/*/LC_MESSAGES/*.mo"))
                  if "__pycache__" not in p.parts and (p.suffix == ".mo" or Path(p.relative_to(lab.folder).parts[0]).stem
                                                       in SHIPPED_LAB_CODE)
                  and not p.is_relative_to(lab.reference_folder) and not p.is_relative_to(lab.stubs_folder))
    for path in (LABS / "__init__.py", *code):
        target = dest.parent / "labs" / path.relative_to(LABS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if path.is_dir() or any(p in EXCLUDED_DIRS or p.startswith(".") for p in rel.parts):
            continue
        if path.suffix in (".pyc", ".pyo") or path.is_symlink():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / rel)


def ship_catalogs(tree: Path) -> None:
    """The release's catalogs, the grader's and the lab's, hold only the messages its own files use:
    the titles and hints of the hidden checks, whose registrations were stripped, go with them (the
    repository's full ``.po`` files would carry them)."""
    lab = tree / "labs" / current().name
    shutil.rmtree(tree / "grader" / "locale")
    i18n.compile_catalogs(tree / "grader" / "locale", i18n.message_ids(tree / "grader"))
    shutil.rmtree(lab / "locale")
    i18n.compile_catalogs(lab / "locale", i18n.message_ids(lab, templates=False), current().folder / "locale")


def strip_checks(source: str, ids: set[str], filename: str = "<checks>") -> str:
    """``source`` without the ``@checks.add("<id>", ...)`` registrations of these ids.

    Only the decorator goes: the judging function stays defined (other code may call it), unregistered.
    """
    tree = ast.parse(source, filename)
    drop: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in node.decorator_list:
            if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "add"
                    and dec.args and isinstance(dec.args[0], ast.Constant) and dec.args[0].value in ids):
                drop.update(range(dec.lineno - 1, dec.end_lineno))
    lines = source.splitlines(keepends=True)
    out = "".join(line for i, line in enumerate(lines) if i not in drop)
    ast.parse(out, filename)  # still valid Python
    return out


def write_expected(grader_dir: Path, expected: Expected, manifest: dict, subset=None) -> None:
    """The packaged data: expected values, the training check's images when given (so grading needs no
    download), and the manifest that describes them."""
    from . import training

    folder = grader_dir / "expected"
    save(expected, folder / "expected")
    if subset is not None:
        manifest = {**manifest, "training_subset": training.package_subset(subset, training.lab_settings(), folder)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def training_subset(config: Config, checks: tuple[Check, ...]):
    """The training check's images to ship, or None when no shipped check trains. Raises ReleaseError
    when one does and the CIFAR-10 copy is missing."""
    from . import training
    from .cifar import CifarDataError
    from .grading import DATA_COMMAND

    if not any(c.part == current().training for c in checks):
        return None
    try:
        return training.load_subset(config.paths.data, training.lab_settings())
    except CifarDataError as exc:
        raise ReleaseError(f"the training check ships its CIFAR-10 images, and none are at {config.paths.data} "
                           f"({str(exc).splitlines()[0]}): get them with `{DATA_COMMAND}` or pass --data") from None


def listing(root: Path) -> tuple[tuple[str, int], ...]:
    return tuple((p.relative_to(root).as_posix(), p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file())


def staging(dest: Path) -> Path:
    dest = Path(dest).resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ReleaseError(f"{dest} exists and is not an empty folder: choose a new one")
    ours = (PROJECT_ROOT / "grader", current().folder, current().reference_folder, current().stubs_folder)
    if dest == PROJECT_ROOT or any(dest.is_relative_to(d) for d in ours):
        raise ReleaseError(f"{dest} is part of this repository: choose a folder outside it")
    tmp = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def finish(tmp: Path, dest: Path) -> None:
    dest = Path(dest).resolve()
    if dest.is_dir():
        dest.rmdir()  # empty, checked by staging()
    os.replace(tmp, dest)


def build(dest: Path, config: Config, checks: tuple[Check, ...] = REGISTRY,
          assignment: Path | None = None, repo_url: str | None = None) -> Built:
    """Write the student release into ``dest`` (a new or empty folder); ``repo_url`` is the course
    repository the notebook's self-check installs the grader from."""
    b = Build(config, checks, "the release", Path(dest).resolve(),
              {"assignment": assignment or current().stubs_folder, "repo_url": repo_url})
    return run(b, RELEASE).built()


def _stubs_there(b: Build) -> None:
    if not sorted(b.options["assignment"].glob("*.py")):
        raise ReleaseError(f"{b.options['assignment']} holds no stubs: run python -m grader stubs")


def _something_public(b: Build) -> None:
    if not b.public:
        raise ReleaseError("every check is hidden: a release needs at least one public check")
    if not b.options["repo_url"]:
        b.warnings.append("no --repo-url: the notebook's self-check cell cannot install the grader (students are "
                          "told to ask their TA)")
    stale = stubgen.drift(b.config.paths.solution, b.options["assignment"])
    if stale:
        b.warnings.append(f"assignment/ is out of date with solution/ ({', '.join(stale)}): the release copies "
                          "assignment/ as it is — run python -m grader stubs first to refresh it")


def _staged(b: Build) -> None:
    """Refuses a bad destination before the expected data is computed."""
    b.stage = b.scratch = staging(b.dest)


def _public_data(b: Build) -> None:
    """The reference's results on the public inputs, less what only hidden checks read (the training
    check compares with no stored data)."""
    everything = expected_now(b.config, b.checks)
    only_hidden = set(expected_probes(b.hidden)) - set(expected_probes(b.public))
    b.expected = without_values(everything.without(only_hidden), hidden_data(everything, b.public, b.hidden))
    b.manifest = {"format": 1, "kind": "student release", "built": _now(), "hidden_checks": len(b.hidden),
                  "hidden_points": sum(c.points for c in b.hidden), "checks": [c.id for c in b.public]}


def _stubs(b: Build) -> None:
    (b.stage / "assignment").mkdir()
    for path in sorted(b.options["assignment"].glob("*.py")):
        shutil.copyfile(path, b.stage / "assignment" / path.name)


def _without_hidden_checks(b: Build) -> None:
    ids = {c.id for c in b.hidden}
    for path in sorted((b.stage / "labs" / current().name / "checks").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        stripped = strip_checks(text, ids, str(path))
        if stripped != text:
            path.write_text(stripped, encoding="utf-8")


def _catalogs(b: Build) -> None:
    ship_catalogs(b.stage)


def _student_texts(b: Build) -> None:
    from . import lab_notebook

    (b.stage / "README.md").write_text(readme(b.config.paths.solution, b.public, b.hidden,
                                              assignment=b.stage / "assignment", repo_url=b.options["repo_url"]),
                                       encoding="utf-8")
    lab_notebook.write(b.stage, b.config.paths.solution, b.options["repo_url"])
    (b.stage / ".gitignore").write_text(template("gitignore.j2").render(), encoding="utf-8")
    (b.stage / ".github" / "workflows").mkdir(parents=True)
    (b.stage / ".github" / "workflows" / "classroom.yml").write_text(
        template("classroom.yml.j2").render(**install_context()), encoding="utf-8")


def _moved_into_place(b: Build) -> None:
    finish(b.stage, b.dest)


RELEASE = (needs_the_reference, _stubs_there, hidden_left_to_tas, _something_public, _staged, training_images,
           _public_data, _stubs, grader_with_its_data, _without_hidden_checks, _catalogs, _student_texts,
           pyproject_file("reglab-lab", "your code and its self-check", ("grader*", "labs*", "assignment*")),
           sealed(lambda b: b.public, lambda b: len(b.hidden)), _moved_into_place)


def verify(root: Path, run_ids: list[str], hidden_n: int, solution: Path) -> None:
    """Import the built grader in a fresh interpreter (only ``root`` on its path, nothing installed
    in the way), check that it runs exactly ``run_ids``, and grade the reference with it: every check
    that compares with stored data must pass (a stale or damaged expected file fails here, not in
    front of the students)."""
    script = textwrap.dedent(f"""
        import importlib.util, json, sys
        from pathlib import Path
        sys.path.insert(0, {str(root)!r})
        # As on a student's machine: an editable install of the instructor's repository would answer
        # for any grader module the release lacks (its finder ignores the package's __path__).
        sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
        import grader
        from grader.config import resolve
        from grader.grading import grade_submission
        from grader.release import select_checks
        sel = select_checks(resolve({{}}, environ={{}}))
        cfg = resolve({{"training": False}}, environ={{}})
        core = select_checks(cfg)
        from grader.derive import Inputs
        result = grade_submission(Path({str(solution)!r}), cfg, checks=core.checks, expected=core.expected,
                                  inputs=Inputs(packaged=core.seeds))
        print(json.dumps({{"file": grader.__file__, "mutants": importlib.util.find_spec({f"labs.{current().name}.mutants"!r}) is not None,
                          "solution": importlib.util.find_spec("solution") is not None,
                          "checks": [c.id for c in sel.checks], "hidden": sel.hidden_left_out,
                          "failed": [f"{{c.id}} ({{c.outcome.value}}: {{c.message[:200]}})" for c in result.checks
                                     if c.outcome.value != "passed"]}}))
    """)
    proc = subprocess.run([sys.executable, "-I", "-B", "-c", script], cwd=root, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise ReleaseError(f"the built grader does not work:\n{proc.stderr[-2000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    problems = []
    if not Path(got["file"]).resolve().is_relative_to(root.resolve()):
        problems.append(f"grader was imported from {got['file']}, not from the build")
    if got["mutants"] or got["solution"]:
        problems.append("the lab's known mistakes or the solution are importable from the build")
    if got["checks"] != run_ids:
        problems.append(f"it runs {got['checks']}, not {run_ids}")
    if got["hidden"] != hidden_n:
        problems.append(f"it counts {got['hidden']} hidden checks left out, not {hidden_n}")
    if got["failed"]:
        problems.append("the reference does not pass its checks with the built grader (stale expected data?): "
                        + "; ".join(got["failed"]))
    if problems:
        raise ReleaseError("the built grader is not right: " + "; ".join(problems))
    for cache in sorted(root.rglob("__pycache__"), reverse=True):  # the worker (-I) writes bytecode
        shutil.rmtree(cache, ignore_errors=True)


def find_text(root: Path, text: str) -> list[str]:
    """The files under ``root`` that hold ``text`` (as UTF-8 bytes)."""
    needle = text.encode("utf-8")
    return [p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.is_file() and needle in p.read_bytes()]


def expected_now(config: Config, checks: tuple[Check, ...], seeds: dict[str, str] | None = None) -> Expected:
    """The expected data computed now, in this process, from the reference (never from a cache), for
    ``seeds`` (probe -> seed): none, the public seed, for a release (the course secret stays with the
    TA, and the Gradescope autograder gets derived seeds only: the release never sees either)."""
    from .reference import compute

    return compute(config.paths.solution, expected_probes(checks), seeds or {})


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------- no reference code inside


def _body(node) -> list:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body


def reference_fragments(solution: Path) -> list[tuple[str, list[str], str]]:
    """``(where, statements as ast dumps, code with whitespace removed)`` for every function of the
    reference that holds a solution region (its body without the docstring) and every region."""
    found = []
    for path in sorted(solution.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            segment = lines[node.lineno - 1:node.end_lineno]
            if not any(line.strip() == stubgen.BEGIN for line in segment):
                continue
            body = _body(node)
            code = "\n".join(lines[body[0].lineno - 1:body[-1].end_lineno]) if body else ""
            found.append((f"solution/{path.name}:{node.name}", [ast.dump(s) for s in body], _squash(code)))
        for start, end in _regions(lines):
            code = textwrap.dedent("\n".join(lines[start + 1:end]))
            try:
                stmts = ast.parse(code).body
            except SyntaxError:  # a region inside an expression: text search only
                stmts = []
            found.append((f"solution/{path.name}:{start + 1} (solution region)", [ast.dump(s) for s in stmts],
                          _squash(code)))
    return found


def _regions(lines: list[str]):
    start = None
    for i, line in enumerate(lines):
        if line.strip() == stubgen.BEGIN:
            start = i
        elif line.strip() == stubgen.END and start is not None:
            yield start, i
            start = None


def _squash(code: str) -> str:
    code = "\n".join(line.split("#", 1)[0] if "#" in line and "'" not in line and '"' not in line else line
                     for line in code.splitlines())
    return re.sub(r"\s+", "", code)


def _blocks(tree) -> list[list[str]]:
    out = []
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                out.append([ast.dump(s) for s in block])
    return out


def _contains(block: list[str], seq: list[str]) -> bool:
    n = len(seq)
    return any(block[i:i + n] == seq for i in range(len(block) - n + 1))


def find_reference_code(root: Path, solution: Path) -> tuple[list[str], int]:
    """Where the reference's function bodies or solution regions appear under ``root``.

    Python files are compared statement by statement (``ast.dump``: layout, comments and
    docstrings do not matter); every other text file by its code with whitespace removed.
    Returns the findings and how many fragments were searched for.
    """
    fragments = reference_fragments(solution)
    leaks = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".py":
            try:
                blocks = _blocks(ast.parse(path.read_text(encoding="utf-8", errors="replace")))
            except SyntaxError:
                leaks.append(f"{rel}: not valid Python, cannot be checked")
                continue
            leaks += [f"{rel}: {where}" for where, stmts, _ in fragments
                      if stmts and any(_contains(b, stmts) for b in blocks)]
        elif path.suffix not in (".npz", ".png", ".jpg", ".zip"):
            text = _squash(path.read_text(encoding="utf-8", errors="replace"))
            leaks += [f"{rel}: {where}" for where, _, code in fragments if len(code) >= 40 and code in text]
    return sorted(set(leaks)), len(fragments)


# ---------------------------------------------------------------- the release's own files


def _first_line(node) -> str:
    doc = ast.get_docstring(node) if node is not None else None
    return doc.strip().splitlines()[0].strip() if doc else ""


def _contract(path: Path) -> tuple[str, list[tuple[str, str]]]:
    """A module's docstring's first line and, per public function or class, its docstring's first line."""
    if not path.is_file():
        return "", []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    items = [(n.name, _first_line(n)) for n in tree.body
             if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")]
    return _first_line(tree), items


def colab_url(repo_url: str | None, notebook: str) -> str | None:
    """Colab's "open from GitHub" address of the notebook in the course repository (GitHub only)."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url or "")
    return f"https://colab.research.google.com/github/{m.group(1)}/{m.group(2)}/blob/main/{notebook}" if m else None


def readme(solution: Path, public: tuple[Check, ...], hidden: tuple[Check, ...], assignment: Path,
           repo_url: str | None = None) -> str:
    from .lab_notebook import NOTEBOOK

    parts, titles = [], {p.name: p.title for p in current().parts}
    for number, part in enumerate(PARTS, start=1):
        mine = [c for c in public if c.part == part]
        training = part == current().training
        headline, items = _contract(solution / f"{part}.py")
        if not mine and not headline:
            continue
        parts.append({
            "number": number, "module": part, "headline": headline, "items": items,
            "title": titles[part][1] if training else f"`{part}.py`",
            "points": f"{sum(c.points for c in mine):g}" if mine else None,
            "training": training, "training_file": (assignment / f"{part}.py").is_file(),
            "checks": [(c.title.replace("|", "/"), f"{c.points:g}") for c in mine]})
    extra = sorted(p.name for p in assignment.glob("*.py") if p.stem not in PARTS and p.name != "__init__.py")
    return template("README.md.j2").render(
        notebook=NOTEBOOK, repo_url=repo_url, colab_url=colab_url(repo_url, NOTEBOOK), **install_context(),
        public_count=len(public), total=f"{sum(c.points for c in public):g}", hidden_count=len(hidden),
        hidden_points=f"{sum(c.points for c in hidden):g}", parts=parts,
        extra=", ".join(f"`{n}`" for n in extra))


def install_context() -> dict:
    """What the templates say about installing: the Python range, and PyTorch from its CPU index
    (or the index in ``$REGLAB_TORCH_INDEX``) before the rest, which the package's metadata brings."""
    req = shipping.load()
    context = {"min_python": req.min_python, "pytorch": req.pytorch, "cpu_index": shipping.CPU_INDEX,
               "torch_index_var": shipping.TORCH_INDEX_VAR}
    return {**context, "install": template("_install.sh.j2").render(**context).strip()}


def pyproject(name: str, description: str, packages: tuple[str, ...]) -> str:
    req = shipping.load()
    return template("pyproject.toml.j2").render(name=name, version=req.version, description=description,
                                                requires_python=req.requires_python, dependencies=req.dependencies,
                                                packages=packages, package_data=req.package_data)
