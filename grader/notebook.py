"""A notebook as a submission: the contract's definitions taken out of its code cells, by name.

Students finish the lab in Colab and hand in ``lab5.ipynb`` (or Colab's "Download .py"). Nothing
of it is executed here: every code cell is parsed, and only what the grader needs goes into the
four modules it already understands (``penalties.py``, ``model.py``, ``data.py``, ``train.py``):

- each contract name (:data:`CONTRACT`) goes to its module, whatever the cell order; when a cell
  defines it again, the last definition in notebook order wins (as after "Run all"), with a notice;
- with it go the imports, module-level constants and helpers it uses (followed name by name with
  :mod:`symtable`, transitively); a contract name of another module is imported from there;
- lines that are not Python (``!pip``, ``%matplotlib``, ``%%time`` headers, Colab's commented
  magics) are neutralised, ``google.colab`` imports dropped, and top-level code that trains, plots,
  mounts a drive or downloads is left out: a definition that needs a name only such code binds is
  named in a notice.

:func:`extract` writes the modules and ``provenance.json`` (which cell each definition came from,
its first line and its code, for the report) and returns the notices.
"""
from __future__ import annotations

import ast
import builtins
import functools
import json
import re
import symtable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .i18n import _
from .lab import current

MODULES = current().modules
CONTRACT = current().contract  # the names the probes reach (labs/<lab>/worker/probes.py), by module
MODULE_OF = {name: module for module, names in CONTRACT.items() for name in names}
PROVENANCE = "provenance.json"
BUILTINS = frozenset(dir(builtins)) | {"__name__", "__file__", "__doc__"}
# A cell magic whose body is Python (kept, header dropped); any other cell magic is not Python.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
DROPPED_MODULES = ("google.colab", "IPython")   # Colab's widgets and drive: nothing a definition needs
# A shell or magic line (``!pip``, ``%timeit``), or IPython's help syntax (``obj?``, ``??np.mean``): never
# Python, whether or not IPython is installed here. Colab's export comments them out ("# %matplotlib"):
# comments stay.
_IPYTHON = r"(?:[!%]|\?{1,2}[A-Za-z_][\w.]*\s*$|[A-Za-z_][\w.]*\?{1,2}\s*$)"
_MAGIC = re.compile(r"^(\s*)" + _IPYTHON)
_MAGIC_LINE = re.compile(r"^\s*" + _IPYTHON, re.MULTILINE)


class NotebookError(Exception):
    pass


@dataclass(frozen=True)
class Stmt:
    """One top-level statement of one cell."""

    cell: int              # 1-based position among the notebook's cells (a .py export: 1)
    line: int              # first line inside the cell
    node: ast.stmt
    code: str              # its source, as the student wrote it (magics neutralised)
    binds: tuple[str, ...]
    kind: str              # "def" | "import" | "assign" (may be included) | "code" (never)

    @property
    def uses(self) -> frozenset[str]:
        """The global names it reads (at definition time and when called); computed for what is taken."""
        return frozenset() if self.kind == "import" else _globals_read(self.code)

    def where(self, unit: str) -> str:
        return f"line {self.line}" if unit == "line" else f"cell {self.cell}"

    def first_line(self) -> str:
        return self.code.strip().splitlines()[0].strip() if self.code.strip() else ""


@dataclass(frozen=True)
class Extraction:
    modules: dict[str, str]                      # module name -> source
    provenance: dict[str, dict]                  # name -> {"module", "cell"|"line", "first_line", "code"}
    notices: tuple[str, ...]


@dataclass
class _Cells:
    name: str                                    # the file's name, for messages
    unit: str                                    # "cell" (a notebook) or "line" (a .py export)
    stmts: list[Stmt] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading


def read_cells(path: Path) -> list[tuple[int, str]]:
    """``(cell number, source)`` of every code cell; a ``.py`` export (Colab's, or nbconvert's with its
    ``# In[ ]:`` comments) is one cell whose line numbers are the file's."""
    path = Path(path)
    if path.suffix == ".ipynb":
        import nbformat

        try:  # not nbformat.read: its schema validation costs half the time, and a notebook that Colab
            # wrote slightly off the schema is still the student's work, to be graded
            nb = nbformat.reader.reads(path.read_text(encoding="utf-8"))
            if nb.get("nbformat") != 4:
                nb = nbformat.convert(nb, 4)
            nb.cells  # noqa: B018 - a JSON file that is not a notebook fails here
        except Exception as exc:  # a damaged notebook is the student's bad input, whatever nbformat raises
            raise NotebookError(f"{path.name} could not be read as a notebook: {type(exc).__name__}: {exc}") from exc
        return [(i, "".join(cell.source) if isinstance(cell.source, list) else cell.source)
                for i, cell in enumerate(nb.cells, start=1) if cell.get("cell_type") == "code"]
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise NotebookError(f"{path.name} could not be read: {exc}") from exc
    return [(1, text)]


def neutralise(source: str) -> str:
    """The cell as Python: IPython lines become ``pass`` at their indentation (line numbers kept);
    a ``%%time``-like header is dropped, any other cell magic empties the cell."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in PYTHON_CELL_MAGICS:
            return ""
        lines[0] = ""
    out = []
    for line in lines:
        m = _MAGIC.match(line)
        out.append(f"{m.group(1)}pass" if m else line)
    return "\n".join(out) + ("\n" if source.endswith("\n") else "")


def _ipython_transform(source: str) -> str | None:
    """IPython's own reading of a cell (``obj?``, ``x = !ls``, ...), when it is installed."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:  # noqa: BLE001 - optional: the line-based neutraliser is the default
        return None
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001
        return None


def _parse(cells: _Cells, number: int, source: str) -> tuple[list[ast.stmt], str]:
    """The cell's statements and the text they were parsed from: with its IPython lines neutralised
    (tried first when it has some), as written (a ``%`` continuing an expression is an operator), or
    as IPython itself would run it. The error reported is the neutralised text's."""
    neutral = neutralise(source)
    attempts = [neutral, source] if _MAGIC_LINE.search(source) else [source, neutral]
    error = None
    for code in attempts:
        try:
            return ast.parse(code).body, code
        except SyntaxError as exc:
            if code is neutral:
                error = exc
        except (RecursionError, MemoryError) as exc:  # nested past the parser's own bounds: the cell's doing
            cells.notices.append(too_deep(f"cell {number} of {cells.name}" if cells.unit == "cell" else cells.name, exc))
            return [], neutral
    transformed = _ipython_transform(source)
    if transformed is not None:
        try:
            return ast.parse(transformed).body, transformed
        except (SyntaxError, RecursionError, MemoryError):
            pass
    if cells.unit == "line":
        return _parse_in_pieces(cells, neutral, error)
    cells.notices.append(f"cell {number} of {cells.name} is not valid Python (line {error.lineno}: "
                         f"{error.msg}): nothing in it was graded")
    return [], neutral


def too_deep(where: str, exc: BaseException) -> str:
    """A notice for code nested more deeply than Python's parser takes (it stops with RecursionError or
    MemoryError: its bounds, not the grader's memory): nothing in it was graded."""
    return _("{where} is nested too deeply for Python to read ({error}): nothing in it was graded").format(
        where=where, error=type(exc).__name__)


def _parse_in_pieces(cells: _Cells, code: str, error: SyntaxError):
    """A .py export with a broken part: blank out the top-level block around each error, keep the rest."""
    lines = code.splitlines()
    for _ in range(50):
        n = (error.lineno or 1) - 1
        start = n
        while start > 0 and not (lines[start - 1].strip() == "" and lines[start][:1] not in ("", " ", "\t")):
            start -= 1
        end = n + 1
        while end < len(lines) and not (lines[end - 1].strip() == "" and lines[end][:1] not in ("", " ", "\t", ")")):
            end += 1
        cells.notices.append(f"{cells.name}, line {error.lineno}: not valid Python ({error.msg}): lines "
                             f"{start + 1}–{end} were not graded")
        lines[start:end] = [""] * (end - start)
        try:
            text = "\n".join(lines) + "\n"
            return ast.parse(text).body, text
        except SyntaxError as again:
            error = again
        except (RecursionError, MemoryError) as exc:
            cells.notices.append(too_deep(cells.name, exc))
            return [], code
    return [], code


# ---------------------------------------------------------------- what each statement binds and uses


def _is_dropped_import(node) -> bool:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return any(n == m or n.startswith(m + ".") for n in names for m in DROPPED_MODULES)


def _bound(node) -> tuple[str, ...]:
    """The names a top-level statement binds (targets, loop variables, ``as`` names, nested blocks);
    expressions are not walked: only a walrus binds there, and a cell that needs one is not graded."""
    names: list[str] = []
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(n.name)
        elif isinstance(n, ast.Import):
            names += [(a.asname or a.name.split(".")[0]) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            names += [(a.asname or a.name) for a in n.names if a.name != "*"]
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.append(n.id)
        elif isinstance(n, (ast.Tuple, ast.List, ast.Starred)):
            todo += reversed(getattr(n, "elts", None) or [n.value])
        elif isinstance(n, ast.Assign):
            todo += reversed(n.targets)
        elif isinstance(n, (ast.AnnAssign, ast.AugAssign)):
            todo.append(n.target)
        elif isinstance(n, ast.stmt):
            todo += reversed([t for f in ("target", "body", "orelse", "finalbody", "handlers", "items")
                              for t in _as_list(getattr(n, f, None))])
        elif isinstance(n, ast.withitem) and n.optional_vars is not None:
            todo.append(n.optional_vars)
        elif isinstance(n, ast.ExceptHandler):
            names += [n.name] if n.name else []
            todo += reversed(n.body)
    return tuple(dict.fromkeys(names))


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _safe_value(node) -> bool:
    """A module-level value that computes nothing heavy: literals, names, attributes, operators, and
    calls of library functions (``torch.device(...)``) that do not load data."""
    for sub in ast.walk(node):
        if isinstance(sub, (ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
        if isinstance(sub, ast.Call):
            if any(k.arg == "download" for k in sub.keywords):
                return False
            dotted = ast.unparse(sub.func)
            if "datasets" in dotted or not isinstance(sub.func, (ast.Name, ast.Attribute)):
                return False
    return True


def _call_roots(node) -> frozenset[str]:
    """The names whose attributes or selves a module-level value calls (``torch`` in ``torch.device(...)``)."""
    roots = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            while isinstance(func, ast.Attribute):
                func = func.value
            if isinstance(func, ast.Name):
                roots.add(func.id)
    return frozenset(roots)


def _kind(node) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "def"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "code" if getattr(node, "level", 0) or _is_dropped_import(node) else "import"
    if isinstance(node, ast.Assign) and all(isinstance(t, (ast.Name, ast.Tuple)) for t in node.targets) \
            and _safe_value(node.value):
        return "assign"
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None \
            and _safe_value(node.value):
        return "assign"
    return "code"


@functools.lru_cache(maxsize=4096)
def _globals_read(code: str) -> frozenset[str]:
    """The global names ``code`` reads, at module level and inside every function and class in it."""
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except SyntaxError:
        return frozenset()
    used: set[str] = set()
    stack = [table]
    while stack:
        t = stack.pop()
        for sym in t.get_symbols():
            if not sym.is_referenced():
                continue
            if t.get_type() == "module" or sym.is_global() or (
                    t.get_type() == "class" and not sym.is_assigned() and not sym.is_local()):
                used.add(sym.get_name())
        stack.extend(t.get_children())
    return frozenset(used - BUILTINS)


def _statements(cells: _Cells, number: int, source: str) -> None:
    body, code = _parse(cells, number, source)
    lines = code.splitlines()
    for node in body:
        text = "\n".join(lines[node.lineno - 1:node.end_lineno])
        if getattr(node, "decorator_list", None):
            first = min(d.lineno for d in node.decorator_list)
            text = "\n".join(lines[first - 1:node.end_lineno])
        cells.stmts.append(Stmt(number, node.lineno, node, text, _bound(node), _kind(node)))


def parse_notebook(path: Path) -> _Cells:
    path = Path(path)
    cells = _Cells(path.name, "cell" if path.suffix == ".ipynb" else "line")
    for number, source in read_cells(path):
        _statements(cells, number, source)
    return cells


# ---------------------------------------------------------------- choosing what goes where


def read(path: Path) -> Extraction:
    """The four modules made of the notebook's definitions; nothing is executed."""
    path = Path(path)
    try:
        cells = parse_notebook(path)
    except NotebookError as exc:
        return Extraction({m: _header(path.name, ()) for m in MODULES}, {}, (str(exc),))
    notices = list(cells.notices)
    # A module-level value may call library functions (torch.device(...)), never the notebook's own
    # (model = DropoutMLP(); loaders = make_loaders(...)): that is the experiment, not a constant.
    imported = {n for s in cells.stmts if s.kind == "import" for n in s.binds}
    stmts = [replace(s, kind="code") if s.kind == "assign" and _call_roots(s.node.value) - imported else s
             for s in cells.stmts]
    last: dict[str, Stmt] = {}          # name -> the last statement that may be included and binds it
    every: dict[str, list[Stmt]] = {}   # name -> every statement that binds it
    for stmt in stmts:
        for name in stmt.binds:
            every.setdefault(name, []).append(stmt)
            if stmt.kind != "code":
                last[name] = stmt
            else:
                last.pop(name, None)  # rebound by code that is not run: the includable one no longer wins
    unit = cells.unit
    modules, provenance = {}, {}
    for module in MODULES:
        chosen: dict[int, Stmt] = {}     # id(node) -> statement
        imports: dict[str, str] = {}     # contract name of another module -> that module
        for name in CONTRACT[module]:
            stmt = _definition(name, last, every)
            if stmt is None:
                notices.append(_missing(name, every, path.name, unit))
                continue
            defs = [s for s in every[name] if s.kind == "def"]
            if len(defs) > 1:
                notices.append(f"`{name}` is defined {len(defs)} times ({', '.join(s.where(unit) for s in defs)}): "
                               f"the last one ({stmt.where(unit)}) is graded, as after Run all")
            _take(stmt, module, chosen, imports, last, every, notices, unit)
            provenance[name] = {"module": module, unit: stmt.line if unit == "line" else stmt.cell,
                                "first_line": stmt.first_line(), "code": stmt.code}
        modules[module] = _render(path.name, module, chosen, imports, unit)
    return Extraction(modules, provenance, tuple(dict.fromkeys(notices)))


def _definition(name: str, last: dict, every: dict) -> Stmt | None:
    stmt = last.get(name)
    if stmt is not None and stmt.kind == "def":
        return stmt
    defs = [s for s in every.get(name, ()) if s.kind == "def"]
    return defs[-1] if defs and stmt is None else stmt


def _missing(name: str, every: dict, filename: str, unit: str) -> str:
    others = every.get(name)
    if others:
        return (f"`{name}` is only set by top-level code ({others[-1].where(unit)}: {others[-1].first_line()!r}), "
                f"which the grader does not run: define it with `def`/`class` in a cell of {filename}")
    return f"`{name}` is not defined in any cell of {filename}"


def _take(stmt: Stmt, module: str, chosen: dict, imports: dict, last: dict, every: dict, notices: list,
          unit: str) -> None:
    todo = [stmt]
    while todo:
        s = todo.pop()
        if id(s.node) in chosen:
            continue
        chosen[id(s.node)] = s
        for name in sorted(s.uses - set(s.binds)):
            owner = MODULE_OF.get(name)
            if owner is not None and owner != module:
                if _definition(name, last, every) is not None:
                    imports[name] = owner
                continue
            dep = last.get(name)
            if dep is not None:
                todo.append(dep)
            elif name in every:
                by = every[name][-1]
                users = [n for n in s.binds] or [s.first_line()]
                notices.append(f"`{users[0]}` ({s.where(unit)}) uses `{name}`, which only top-level code sets "
                               f"({by.where(unit)}: {by.first_line()!r}); the grader does not run that code, "
                               f"so `{name}` is undefined there: pass it as an argument or define it in the function")


def _header(filename: str, names) -> str:
    what = ", ".join(names) if names else "nothing: no definition of this module was found"
    return f"# Taken from {filename} by the grader (nothing else of the notebook is run): {what}\n"


def _render(filename: str, module: str, chosen: dict, imports: dict, unit: str) -> str:
    stmts = sorted(chosen.values(), key=lambda s: (s.cell, s.line))
    out = [_header(filename, [n for n in CONTRACT[module] if any(n in s.binds for s in stmts)])]
    for owner in MODULES:
        names = sorted(n for n, m in imports.items() if m == owner)
        if names:
            out.append(f"from .{owner} import {', '.join(names)}\n")
    previous = None
    for s in stmts:
        where = s.where(unit)
        out.append(f"\n\n# {filename}, {where}\n{s.code}\n" if where != previous else f"{s.code}\n")
        previous = where
    return "".join(out)


def extract(path: Path, dest: Path) -> tuple[str, ...]:
    """Write ``dest/{penalties,model,data,train}.py`` (and ``provenance.json``) from the notebook or
    Colab ``.py`` export at ``path``; return the notices (problems and duplicate definitions)."""
    result = read(path)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for module, text in result.modules.items():
        (dest / f"{module}.py").write_text(text, encoding="utf-8")
    (dest / PROVENANCE).write_text(json.dumps(result.provenance, ensure_ascii=False, indent=1) + "\n",
                                   encoding="utf-8")
    return result.notices
