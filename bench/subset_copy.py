"""Write a small CIFAR-10 copy (torchvision's format) holding exactly the training check's subset.

    python bench/subset_copy.py DATA_ROOT DEST

The check picks its subset from whatever copy it is given; from this copy it picks every image,
in the same order, so a machine without the full data set (a lent GPU machine) trains on the
very images it would use with the full copy.
"""
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import training  # noqa: E402
from grader.cifar_fixture import CLASSES  # noqa: E402


def dump(path: Path, images, labels, label: str) -> None:
    batch = {"batch_label": label, "labels": [int(v) for v in labels],
             "data": images.transpose(0, 3, 1, 2).reshape(len(images), -1),
             "filenames": [f"subset_{i:05d}.png" for i in range(len(images))]}
    path.write_bytes(pickle.dumps(batch, protocol=4))


def main(root: str, dest: str) -> None:
    subset = training.load_subset(Path(root), training.Settings())
    out = Path(dest) / "cifar-10-batches-py"
    out.mkdir(parents=True, exist_ok=True)
    # Five training batches, as the format wants; the check concatenates them in order.
    n = len(subset.train_y)
    bounds = [n * k // 5 for k in range(6)]
    for k in range(5):
        sl = slice(bounds[k], bounds[k + 1])
        dump(out / f"data_batch_{k + 1}", subset.train_x[sl], subset.train_y[sl], f"training batch {k + 1} of 5")
    dump(out / "test_batch", subset.test_x, subset.test_y, "testing batch 1 of 1")
    (out / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CLASSES), "num_vis": 3072}, protocol=4))
    print(f"wrote {n} training and {len(subset.test_y)} test images to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
