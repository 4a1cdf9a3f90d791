"""The student's notebook, ``lab5_regularization.ipynb``: the same stubs as ``assignment/``, as Colab cells.

Made from the one source of the stubs (:func:`grader.stubgen.generate` of ``solution/``): one cell
per function or class, with its docstring and ``raise NotImplementedError``, in the handout's order
(overfitting, L1/L2, dropout, normalization), Korean and English text, the lab's experiment cells,
and a last cell that installs the grader from the course's repository, fetches CIFAR-10 and grades
the notebook itself. The text lives in the lab's ``templates/release/lab_notebook.py.j2`` (jupytext's
"percent" format: ``# %%`` starts a code cell, ``# %% [markdown]`` a text cell).
"""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from . import stubgen
from .checks import TRAINING
from .generated import template
from .lab import current
from .notebook import CONTRACT, MODULES

NOTEBOOK = current().notebook
TITLES = current().titles  # (Korean, English), as the handout's sections


def _parts(solution: Path) -> tuple[list[str], list[dict]]:
    """The stubs' imports (the lab's own relative imports left out: one namespace in a notebook)
    and, per module, its docstring and the source of each top-level definition."""
    stubs = stubgen.generate(solution)
    imports: list[str] = []
    parts = []
    for number, module in enumerate(MODULES, start=1):
        text = stubs[f"{module}.py"]
        tree, lines = ast.parse(text), text.splitlines()
        functions = []
        for node in tree.body:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            source = "\n".join(lines[start - 1:node.end_lineno])
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if not getattr(node, "level", 0) and source not in imports:
                    imports.append(source)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                functions.append(source)
        doc = (ast.get_docstring(tree) or "").splitlines()
        parts.append({"number": number, "module": module, "title_ko": TITLES[module][0],
                      "title_en": TITLES[module][1], "headline": doc, "functions": functions})
    return imports + [i for i in current().notebook_imports if i not in imports], parts


def percent_to_cells(text: str) -> list:
    """Cells from jupytext's percent format (the subset the template uses)."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines())
            cells.append(new_markdown_cell(body))
        else:
            cells.append(new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    flush()
    return cells


def render(solution: Path, repo_url: str | None) -> nbformat.NotebookNode:
    imports, parts = _parts(solution)
    text = template("lab_notebook.py.j2").render(imports="\n".join(imports), parts=parts, repo_url=repo_url or "",
                                                 notebook=NOTEBOOK,
                                                 training_points=f"{sum(c.points for c in TRAINING):g}")
    cells = percent_to_cells(text)
    for i, cell in enumerate(cells):  # fixed ids: the same source gives the same file (no drift from nbformat's random ones)
        cell.id = cell.metadata["id"] = f"reglab-{i:02d}"
    nb = new_notebook(cells=cells, metadata={
        "colab": {"provenance": [], "toc_visible": True},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "language_info": {"name": "python"},
        "accelerator": "GPU",
    })
    nbformat.validate(nb)
    return nb


def function_cells(nb: nbformat.NotebookNode) -> dict[str, int]:
    """Contract name -> the index of the cell that defines it."""
    names = {n for ns in CONTRACT.values() for n in ns}
    found = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            found.update({n.name: i for n in tree.body
                          if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names})
    return found


def write(dest: Path, solution: Path, repo_url: str | None) -> Path:
    path = Path(dest) / NOTEBOOK
    nbformat.write(render(solution, repo_url), str(path))
    return path
