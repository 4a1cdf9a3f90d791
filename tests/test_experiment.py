"""The lab's final experiment (solution/experiment.py), two short runs on fixture data."""
import json
import xml.etree.ElementTree as ET

import pytest

from grader.cifar_fixture import write_fixture
from solution import experiment


def test_experiment_writes_table_and_curves(tmp_path, capsys):
    root = write_fixture(tmp_path / "cifar")
    out = tmp_path / "out"
    argv = ["--epochs", "2", "--data", str(root), "--runs", "baseline,all", "--out", str(out)]
    assert experiment.main(argv) == 0

    stdout = capsys.readouterr().out
    assert "min test loss (epoch)" in stdout
    rows = {line.split()[0]: line.split() for line in stdout.splitlines()
            if line.split()[:1] in (["baseline"], ["all"])}
    assert set(rows) == {"baseline", "all"}

    results = json.loads((out / "results.json").read_text())
    assert list(results["runs"]) == ["baseline", "all"]
    baseline, all_ = results["runs"]["baseline"], results["runs"]["all"]
    for r in (baseline, all_):
        assert len(r["train_loss"]) == len(r["test_loss"]) == len(r["test_acc"]) == 2
        assert all(0 <= a <= 1 for a in r["test_acc"])
    assert (baseline["lmbd"], baseline["drop_prob"]) == (0.0, 0.0)
    assert (all_["lmbd"], all_["drop_prob"]) == (0.003, 0.1)
    assert baseline["mean"] == [0.0] * 3 and baseline["std"] == [1.0] * 3
    assert all_["mean"][0] == pytest.approx(0.60, abs=0.02)  # the fixture's red mean
    assert results["data"]["n_train"] == 500 and results["data"]["verified"] is False
    assert len(results["data"]["notices"]) == 2  # one per split
    assert rows["all"][1] == f"{all_['test_loss'][-1]:.4f}"

    svg = ET.parse(out / "curves.svg").getroot()
    lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 4  # train and test, per run
    assert sum("stroke-dasharray" in line.attrib for line in lines) == 2


def test_limits_and_run_selection(tmp_path):
    root = write_fixture(tmp_path / "cifar")
    argv = ["--epochs", "1", "--data", str(root), "--runs", "l2", "--train-limit", "100",
            "--test-limit", "50", "--out", str(tmp_path / "out")]
    assert experiment.main(argv) == 0
    data = json.loads((tmp_path / "out" / "results.json").read_text())["data"]
    assert (data["n_train"], data["n_test"]) == (100, 50)
    for bad in (["--runs", "baseline,bogus"], ["--runs", ","], ["--epochs", "0"]):
        with pytest.raises(SystemExit):
            experiment.main(bad)


def test_missing_data_is_reported(tmp_path, capsys):
    assert experiment.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "--data DIR" in capsys.readouterr().err
