"""The lab's final experiment: CIFAR-10 with L2, dropout and normalization, alone and together.

    python -m solution.experiment                      # all five runs, 70 epochs each
    python -m solution.experiment --epochs 5 --runs baseline,all --train-limit 5000

Every run trains the same MLP from the same seed and records, per epoch, the training loss (with
the L2 penalty, when there is one), the test loss and the test accuracy. At the end it prints a
table and writes OUT/curves.svg (open it in a browser) and OUT/results.json.
Handout: "오늘 실습 내용" — apply L2, dropout and normalization together, check the test accuracy.
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from grader.cifar import CifarDataError, load_cifar10, resolve_data_root, transform_all

from .data import channel_stats, make_loaders, normalize_transform
from .model import DropoutMLP
from .train import evaluate, set_seed, train_epoch

# Which regularizers each run uses: L2 penalty, dropout, input normalization.
RUNS = {
    "baseline": dict(l2=False, dropout=False, normalize=False),
    "l2": dict(l2=True, dropout=False, normalize=False),
    "dropout": dict(l2=False, dropout=True, normalize=False),
    "normalization": dict(l2=False, dropout=False, normalize=True),
    "all": dict(l2=True, dropout=True, normalize=True),
}


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=f"python -m {__package__}.experiment",
                                description=__doc__.split("\n")[0])
    p.add_argument("--data", metavar="DIR", help="directory containing cifar-10-batches-py/ "
                   "(default: $REGLAB_DATA, else ./data)")
    p.add_argument("--download", action="store_true",
                   help="download CIFAR-10 if it is missing (needs internet)")
    p.add_argument("--epochs", type=positive_int, default=70)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=float, default=1.0, help="SGD learning rate")
    p.add_argument("--lmbd", type=float, default=0.003, help="L2 strength λ (runs with L2)")
    p.add_argument("--drop-prob", type=float, default=0.1,
                   help="dropout probability (runs with dropout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default=",".join(RUNS),
                   help=f"comma-separated, among {','.join(RUNS)} (default: all five)")
    p.add_argument("--train-limit", type=positive_int, metavar="N",
                   help="use the first N training images")
    p.add_argument("--test-limit", type=positive_int, metavar="N",
                   help="use the first N test images")
    p.add_argument("--out", type=Path, default=Path("reports/experiment"),
                   help="where curves.svg and results.json go (default: reports/experiment)")
    args = p.parse_args(argv)
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in args.runs if r not in RUNS]
    if unknown or not args.runs:
        p.error(f"--runs: unknown {', '.join(unknown) or '(empty)'}; "
                f"choose among {', '.join(RUNS)}")
    return args


def load_data(args):
    """Load both splits (a CifarDataError says what is wrong) and pick the images to use."""
    root, origin = resolve_data_root(args.data)
    print(f"data: {root} (from {origin})")
    train = load_cifar10(root, train=True, download=args.download)
    test = load_cifar10(root, train=False, download=args.download)
    for split in (train, test):
        if split.notice:  # an unofficial copy: fine, but say so
            print(f"note: {split.notice}")
    n_train = min(args.train_limit or len(train.targets), len(train.targets))
    n_test = min(args.test_limit or len(test.targets), len(test.targets))
    return train, test, n_train, n_test


def make_datasets(train, test, n_train, n_test, normalize):
    """Transform every image once (ToTensor, plus Normalize when asked) into TensorDatasets."""
    if normalize:
        mean, std = channel_stats(train.data[:n_train])  # statistics of the training images only
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # ToTensor alone
    transform = normalize_transform(mean, std)
    train_set = TensorDataset(*transform_all(train, transform, range(n_train)))
    test_set = TensorDataset(*transform_all(test, transform, range(n_test)))
    return train_set, test_set, ([float(m) for m in mean], [float(s) for s in std])


def run(name, train_set, test_set, args, device):
    """Train one configuration from scratch; return its per-epoch curves."""
    cfg = RUNS[name]
    lmbd = args.lmbd if cfg["l2"] else 0.0
    drop_prob = args.drop_prob if cfg["dropout"] else 0.0
    set_seed(args.seed)
    train_loader, test_loader = make_loaders(train_set, test_set, batch_size=args.batch_size)
    model = DropoutMLP(drop_prob).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()
    curves = {"train_loss": [], "test_loss": [], "test_acc": []}
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train_loss = train_epoch(model, train_loader, optimizer, criterion, device,
                                 lmbd=lmbd, kind="l2")
        test_loss, test_acc = evaluate(model, test_loader, criterion, device)
        for key, value in zip(curves, (train_loss, test_loss, test_acc)):
            curves[key].append(value)
        print(f"  {name:<13} epoch {epoch:>3}/{args.epochs}  train {train_loss:.4f}  "
              f"test {test_loss:.4f}  acc {100 * test_acc:5.2f}%  "
              f"{time.perf_counter() - start:6.1f}s", flush=True)
    return dict(lmbd=lmbd, drop_prob=drop_prob, **curves, seconds=time.perf_counter() - start)


def print_table(results):
    print(f"\n{'run':<14} {'final test loss':>15} {'min test loss (epoch)':>22} "
          f"{'final test acc':>15}")
    for name, r in results.items():
        losses = r["test_loss"]
        best = min(range(len(losses)), key=losses.__getitem__)
        print(f"{name:<14} {losses[-1]:>15.4f} {losses[best]:>15.4f} ({best + 1:>4}) "
              f"{100 * r['test_acc'][-1]:>14.2f}%")


def main(argv=None):
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        train, test, n_train, n_test = load_data(args)
    except CifarDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"device: {device}; {n_train} training and {n_test} test images")

    datasets, results = {}, {}
    for name in args.runs:
        normalize = RUNS[name]["normalize"]
        if normalize not in datasets:  # transformed once, shared by the runs that need it
            datasets[normalize] = make_datasets(train, test, n_train, n_test, normalize)
        train_set, test_set, (mean, std) = datasets[normalize]
        curves = run(name, train_set, test_set, args, device)
        results[name] = dict(**RUNS[name], mean=mean, std=std, **curves)

    print_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    data = dict(root=str(train.source), verified=train.verified and test.verified,
                notices=[s.notice for s in (train, test) if s.notice],
                n_train=n_train, n_test=n_test)
    (args.out / "results.json").write_text(json.dumps(
        dict(config=config, device=str(device), data=data, runs=results), indent=1))
    (args.out / "curves.svg").write_text(curves_svg(results))
    print(f"\nwrote {args.out / 'curves.svg'} and {args.out / 'results.json'}")
    return 0


# --- plotting, without matplotlib -----------------------------------------------------------

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]


def curves_svg(results, width=760, height=440):
    """A self-contained SVG of the loss curves: one colour a run, test solid, training dashed."""
    left, right, top, bottom = 60, 150, 20, 45  # margins: axis labels left, legend right
    pw, ph = width - left - right, height - top - bottom
    epochs = max(len(r["test_loss"]) for r in results.values())
    finite = [v for r in results.values() for v in r["train_loss"] + r["test_loss"]
              if math.isfinite(v)]  # a diverged run (nan) must not break the plot
    ymax = max(finite, default=1.0) * 1.05

    def x(epoch):  # epoch 1 at the left edge
        return left + pw * (epoch - 1) / max(epochs - 1, 1)

    def y(loss):
        return top + ph * (1 - loss / ymax)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>']
    for i in range(6):  # grid lines and labels: 5 steps on each axis
        loss, epoch = ymax * i / 5, round(1 + (epochs - 1) * i / 5)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(loss):.1f}" '
                     f'y2="{y(loss):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y(loss) + 4:.1f}" '
                     f'text-anchor="end">{loss:.2f}</text>')
        parts.append(f'<text x="{x(epoch):.1f}" y="{top + ph + 16}" '
                     f'text-anchor="middle">{epoch}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">epoch</text>')
    parts.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2})">loss</text>')
    for k, (name, r) in enumerate(results.items()):
        color = COLORS[k % len(COLORS)]
        for key, dash in (("train_loss", ' stroke-dasharray="6 4"'), ("test_loss", "")):
            points = " ".join(f"{x(e):.1f},{y(v):.1f}"
                              for e, v in enumerate(r[key], start=1) if math.isfinite(v))
            parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" '
                         f'stroke-width="1.8"{dash}><title>{name} {key.replace("_", " ")}'
                         '</title></polyline>')
        ly = top + 14 + 20 * k
        parts.append(f'<line x1="{left + pw + 12}" x2="{left + pw + 36}" y1="{ly - 4}" '
                     f'y2="{ly - 4}" stroke="{color}" stroke-width="2.5"/>')
        parts.append(f'<text x="{left + pw + 42}" y="{ly}">{name}</text>')
    ly = top + 14 + 20 * len(results) + 10
    parts.append(f'<text x="{left + pw + 12}" y="{ly}" fill="#555">solid: test</text>')
    parts.append(f'<text x="{left + pw + 12}" y="{ly + 16}" fill="#555">dashed: train</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())
