"""Notebook extraction time: a 200-cell Colab notebook (goal: under 0.2 s).

    python bench/bench_notebook.py [--runs 7]

The notebook is the fixture notebook of the reference (tests/fixtures/notebooks.py: Colab metadata,
outputs, !pip, drive.mount, %%time, an older wrong version first, a 70-epoch loop) padded to 200 cells
with what students add: markdown notes, plotting and printing cells, helper functions, more magics.
Prints the first run (imports nbformat) and the median of the others, wall and CPU time (on a
shared machine the wall time also counts the other processes).
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "fixtures" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(dest: Path, cells: int = 200) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell

    nb = _load("notebooks").notebook_from_files(REPO / "solution")
    i = 0
    while len(nb.cells) < cells:
        i += 1
        kind = i % 5
        if kind == 0:
            nb.cells.append(new_markdown_cell(f"### 메모 {i}\n결과를 확인하세요. Check the curve of run {i}."))
        elif kind == 1:
            nb.cells.append(new_code_cell(f"%%time\nfor epoch in range(70):\n    losses_{i} = [epoch * 0.1]\n"
                                          f"print(losses_{i})"))
        elif kind == 2:
            nb.cells.append(new_code_cell(f"def helper_{i}(x, scale={i}):\n    \"\"\"A student's helper.\"\"\"\n"
                                          f"    return [v * scale for v in x]\n\nCONSTANT_{i} = {i} * 2"))
        elif kind == 3:
            nb.cells.append(new_code_cell(f"!nvidia-smi\n%matplotlib inline\nplt.plot(range({i}))\nplt.show()"))
        else:
            nb.cells.append(new_code_cell(f"import numpy as np\nx_{i} = np.arange({i})\nprint(x_{i}.mean())"))
    path = dest / "lab5.ipynb"
    nbformat.write(nb, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp))
        from grader import notebook
        from grader.notebook import extract

        times, cpu = [], []
        for run in range(args.runs + 1):
            notebook._globals_read.cache_clear()  # each run reads the notebook from scratch
            t0, c0 = time.perf_counter(), time.process_time()
            extract(path, Path(tmp) / f"out{run}")
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        import nbformat

        n = len(nbformat.read(str(path), as_version=4).cells)
        size = path.stat().st_size
    print(f"{n} cells, {size / 1024:.0f} KiB: first run {times[0] * 1000:.0f} ms, "
          f"median of {args.runs} more {statistics.median(times[1:]) * 1000:.0f} ms wall, "
          f"{statistics.median(cpu[1:]) * 1000:.0f} ms CPU (goal < 200 ms; wall time counts the other load)")


if __name__ == "__main__":
    main()
