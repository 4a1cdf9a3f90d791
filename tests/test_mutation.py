"""Mutation testing of the reference's penalties (bench/bench_mutation.py runs all four files):
every mutant mutmut makes is killed in its own part, or shown equivalent by the contract's
probes under more seeds."""
import importlib.util
import sys

import pytest

from conftest import REPO


def test_every_mutant_of_the_penalties_is_killed_in_its_own_part_or_equivalent(capsys):
    pytest.importorskip("mutmut", reason="pip install mutmut<3 (in the extra \"test\")")
    spec = importlib.util.spec_from_file_location("bench_mutation", REPO / "bench" / "bench_mutation.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclass looks its module up there
    spec.loader.exec_module(bench)
    assert bench.main(["--files", "penalties", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "surviving non-equivalent: 0" in out and "killed only elsewhere: 0" in out


def test_every_mutant_of_the_cnn_labs_batch_norm_and_model_is_killed_in_its_own_part_or_equivalent():
    """The second lab (labs/cnn) the same way, in a process of its own (the lab is chosen per process)."""
    import subprocess

    pytest.importorskip("mutmut", reason="pip install mutmut<3 (in the extra \"test\")")
    done = subprocess.run([sys.executable, str(REPO / "bench" / "bench_mutation.py"), "--lab", "cnn",
                           "--files", "batchnorm,model", "--seeds", "1"], capture_output=True, text=True, cwd=REPO,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "surviving non-equivalent: 0" in done.stdout and "killed only elsewhere: 0" in done.stdout
