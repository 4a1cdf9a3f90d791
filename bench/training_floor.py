"""The floor of the training check's work: the same runs as a plain loop over tensors held in memory
(no DataLoader, no student code, no sandbox), as a whole process. bench/bench_check.py times it
beside `check` with the training check.

    python bench/training_floor.py [--issue-22] [--data data]

Normalizes the check's subset once, then per run: the lab's MLP (3072-256-128-10, sigmoid, dropout
p where the run has one), SGD lr 1, batches of 128 in a shuffled order, the L2 term where the run
has one (the Linear weights), and the test loss every ``eval_every`` epochs and at the last.
``--issue-22``: the work the check did when issue 22 was filed (4 runs, the fourth with both
L2 and dropout, 60 epochs, the test loss every epoch).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from grader import training  # noqa: E402


def mlp(p: float) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3072, 256), nn.Sigmoid(), nn.Dropout(p), nn.Linear(256, 128),
                         nn.Sigmoid(), nn.Dropout(p), nn.Linear(128, 10))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--issue-22", action="store_true")
    ap.add_argument("--data", type=Path, default=ROOT / "data")
    args = ap.parse_args(argv)
    settings = training.lab_settings()
    epochs, every, runs = settings.epochs, settings.eval_every, settings.runs
    if args.issue_22:
        runs = tuple(training.Run.of(name, lmbd=lm, drop_prob=p)
                     for name, lm, p in (("baseline", 0, 0), ("l2", 1, 0), ("dropout", 0, 0.3), ("both", 1, 0.3)))
        epochs, every = 60, 1
    torch.set_num_threads(2)
    s = training.load_subset(args.data, settings)
    tensor = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float().div(255)  # noqa: E731
    train_x, test_x = tensor(s.train_x), tensor(s.test_x)
    mean, std = train_x.mean((0, 2, 3), keepdim=True), train_x.std((0, 2, 3), keepdim=True)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    train_y, test_y = torch.from_numpy(s.train_y).long(), torch.from_numpy(s.test_y).long()
    loss_fn = nn.CrossEntropyLoss()
    for run in runs:
        torch.manual_seed(settings.seed)
        model = mlp(run["drop_prob"])
        opt = torch.optim.SGD(model.parameters(), lr=settings.lr)
        for epoch in range(1, epochs + 1):
            model.train()
            for idx in torch.randperm(len(train_x)).split(settings.batch_size):
                loss = loss_fn(model(train_x[idx]), train_y[idx])
                if run["lmbd"]:
                    loss = loss + run["lmbd"] * sum((m.weight ** 2).sum() for m in model if isinstance(m, nn.Linear)) / len(idx) / 2
                opt.zero_grad()
                loss.backward()
                opt.step()
            if epoch % every == 0 or epoch == epochs:
                model.eval()
                with torch.no_grad():
                    loss_fn(model(test_x), test_y).item()


if __name__ == "__main__":
    main()
