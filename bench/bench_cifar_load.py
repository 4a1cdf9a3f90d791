"""How long loading CIFAR-10 takes: the first load (decode the pickles, write the cache) vs later
loads (memory-map the cache).

    python bench/bench_cifar_load.py [ROOT]

ROOT defaults to the real copy in ./data when there is one, else a generated 50,000 + 10,000
image fixture in a temporary directory. The cache under ROOT is deleted first (it is only a
cache), so that the first load is really cold.
"""
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere
from grader.cifar import BATCHES_DIR, load_cifar10  # noqa: E402
from grader.cifar_fixture import write_fixture  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def bench(root: Path) -> None:
    shutil.rmtree(root / BATCHES_DIR / ".reglab-cache", ignore_errors=True)
    print(f"{'split':<6} {'images':>7} {'first load':>11} {'cached load':>12} "
          f"{'+ read all pixels':>18}")
    for train in (True, False):
        split, cold = timed(lambda: load_cifar10(root, train=train))
        split, warm = timed(lambda: load_cifar10(root, train=train))
        _, scan = timed(lambda: np.asarray(split.data).sum(dtype=np.uint64))  # pages in the memmap
        print(f"{'train' if train else 'test':<6} {len(split.targets):>7} {cold:>10.3f}s "
              f"{warm:>11.4f}s {scan:>17.3f}s")


def main() -> None:
    if len(sys.argv) > 1:
        root = Path(sys.argv[1])
    elif (Path("data") / BATCHES_DIR).is_dir():
        root = Path("data")
    else:
        tmp = tempfile.TemporaryDirectory()
        root, made = timed(lambda: write_fixture(Path(tmp.name), n_train=50000, n_test=10000))
        print(f"no ./data/{BATCHES_DIR}: generated a 60,000-image fixture in {made:.1f}s")
    print(f"root: {root}")
    bench(root)


if __name__ == "__main__":
    main()
