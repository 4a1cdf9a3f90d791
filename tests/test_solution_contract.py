"""The reference honours the student contract (README's table), checked directly against torch/NumPy."""
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from solution import data, model, penalties, train


class NotTheLabModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.ReLU())
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 2, bias=False)})
        self.conv = nn.Conv1d(1, 1, 2)


def test_penalties_on_a_model_that_is_not_dropoutmlp():
    net = NotTheLabModel()
    weights = [net.encoder[0].weight, net.heads["a"].weight]
    assert torch.isclose(penalties.l1_penalty(net), sum(w.abs().sum() for w in weights))
    assert torch.isclose(penalties.l2_penalty(net), sum((w ** 2).sum() for w in weights))
    assert penalties.l2_penalty(net).ndim == 0


def test_penalty_gradients_reach_linear_weights_only():
    net = model.DropoutMLP(0.1)
    penalties.l2_penalty(net).backward()
    assert torch.allclose(net.linear2.weight.grad, 2 * net.linear2.weight)
    assert net.linear2.bias.grad is None
    net.zero_grad()
    penalties.l1_penalty(net).backward()
    assert torch.allclose(net.linear1.weight.grad, torch.sign(net.linear1.weight))


def test_penalized_loss_formula_and_unknown_kind():
    net = NotTheLabModel()
    loss = torch.tensor(0.5)
    assert torch.isclose(penalties.penalized_loss(loss, net, 0.3, 7, kind="l1"),
                         loss + 0.3 * penalties.l1_penalty(net) / 7 / 2)
    assert torch.isclose(penalties.penalized_loss(loss, net, 0.3, 7), loss + 0.3 * penalties.l2_penalty(net) / 14)
    with pytest.raises(ValueError):
        penalties.penalized_loss(loss, net, 0.3, 7, kind="l3")


def test_dropout_statistics_in_train_mode_and_determinism_in_eval_mode():
    torch.manual_seed(0)
    net = model.DropoutMLP(0.4)
    x = torch.rand(64, 3, 32, 32)
    seen = {}

    def record(module, args, out):
        seen["in"] = args[0]
    net.linear2.register_forward_hook(record)
    net.train()
    net(x)
    kept = seen["in"] != 0
    assert abs(1 - kept.float().mean().item() - 0.4) < 0.03
    a1 = torch.sigmoid(net.linear1(x.reshape(64, -1)))
    assert torch.allclose(seen["in"][kept], (a1 / 0.6)[kept], atol=1e-6)
    net.eval()
    assert torch.equal(net(x), net(x))
    assert torch.allclose(net(x), net(x.reshape(64, 3072)))
    assert net(x).shape == (64, 10)


def test_channel_stats_matches_numpy_population_stats():
    images = np.random.default_rng(0).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    mean, std = data.channel_stats(images)
    pixels = images.reshape(-1, 3) / 255.0
    assert np.allclose(mean, pixels.mean(0)) and np.allclose(std, pixels.std(0))
    assert len(mean) == len(std) == 3


def test_normalize_transform_on_a_pil_image():
    arr = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = data.normalize_transform((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))(Image.fromarray(arr))
    expected = (torch.from_numpy(arr).permute(2, 0, 1) / 255.0 - torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1)) \
        / torch.tensor([0.5, 0.25, 2.0]).view(3, 1, 1)
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    assert torch.allclose(out, expected, atol=1e-6)


def _ids(n):
    return TensorDataset(torch.zeros(n, 1), torch.arange(n))


def test_make_loaders_shuffles_train_keeps_test_order_drops_nothing():
    torch.manual_seed(0)
    train_loader, test_loader = data.make_loaders(_ids(50), _ids(23), batch_size=16)
    epochs = [torch.cat([y for _, y in train_loader]) for _ in range(2)]
    assert sorted(epochs[0].tolist()) == list(range(50)) and not torch.equal(epochs[0], epochs[1])
    assert torch.cat([y for _, y in test_loader]).tolist() == list(range(23))
    assert [len(y) for _, y in test_loader] == [16, 7]


def test_set_seed_reproduces_random_numpy_and_torch():
    def draws():
        return random.random(), np.random.rand(), torch.rand(1).item()
    train.set_seed(5)
    first = draws()
    train.set_seed(5)
    assert draws() == first
    train.set_seed(6)
    assert all(a != b for a, b in zip(draws(), first))


def _loader(n=45, batch=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
    return torch.utils.data.DataLoader(TensorDataset(x, y), batch_size=batch)


def test_evaluate_is_exact_with_a_short_last_batch():
    torch.manual_seed(0)
    net, loader = model.DropoutMLP(0.5), _loader()
    net.train()
    before = [p.clone() for p in net.parameters()]
    loss, acc = train.evaluate(net, loader, nn.CrossEntropyLoss(), "cpu")
    x, y = loader.dataset.tensors
    with torch.no_grad():
        logits = net(x)
    assert isinstance(loss, float) and isinstance(acc, float)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())


def test_train_epoch_returns_the_per_sample_average_and_switches_to_train_mode():
    torch.manual_seed(0)
    net, loader = model.DropoutMLP(0.0), _loader()
    net.eval()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)  # lr 0: every batch sees the same weights
    avg = train.train_epoch(net, loader, opt, nn.CrossEntropyLoss(), "cpu", lmbd=0.1, kind="l1")
    assert net.training and isinstance(avg, float)
    x, y = loader.dataset.tensors
    with torch.no_grad():
        losses = [(nn.functional.cross_entropy(net(xb), yb) + 0.1 * penalties.l1_penalty(net) / len(xb) / 2).item()
                  * len(xb) for xb, yb in zip(x.split(16), y.split(16))]
    assert avg == pytest.approx(sum(losses) / 45, rel=1e-5)


def test_train_epoch_updates_like_plain_sgd_on_the_penalized_loss():
    torch.manual_seed(0)
    net, loader = model.DropoutMLP(0.0), _loader(n=16)
    twin = model.DropoutMLP(0.0)
    twin.load_state_dict(net.state_dict())
    train.train_epoch(net, loader, torch.optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), "cpu", lmbd=0.5)
    x, y = loader.dataset.tensors
    loss = nn.functional.cross_entropy(twin(x), y) + 0.5 * penalties.l2_penalty(twin) / 16 / 2
    loss.backward()
    with torch.no_grad():
        for p in twin.parameters():
            p -= 0.1 * p.grad
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(net.parameters(), twin.parameters()))
