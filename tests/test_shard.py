"""grade --shard K/N is deterministic and stable under added files; merge of the shards equals the
unsharded batch (every class file, with the per-submission times taken out)."""
import hashlib
import re

import pytest

from grader import batch, cli, shard
from grader.config import resolve
from grader.results import CheckResult, Outcome, SubmissionResult


def fake_grade(path, config, name=None, checks=None, expected=None, **_):
    # A deterministic stand-in for the sandboxed grader: scores from the folder's content.
    n = int(hashlib.sha256((path / "penalties.py").read_bytes()).hexdigest(), 16)
    checks = tuple(CheckResult(f"{p}.x", p, "x", Outcome.PASSED if (n >> i) & 1 else Outcome.FAILED,
                               10.0 * ((n >> i) & 1), 10.0) for i, p in enumerate(("penalties", "model", "data")))
    return SubmissionResult(name=name, checks=checks, source=str(path), duration=0.5)


SECRET = {"REGLAB_SECRET_SEED": "course-secret"}  # every slice must draw the same inputs


def test_sharding_without_the_course_secret_is_refused(subs, tmp_path):
    with pytest.raises(batch.BatchError, match="secret_seed"):
        batch.grade_all(subs, tmp_path / "out", resolve({"training": False, "shard": "1/2"}, environ={}, config_file=None))


@pytest.fixture
def subs(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "grade_submission", fake_grade)
    monkeypatch.setattr(batch.reference, "prestart", lambda *args, **kwargs: None)  # grading is faked: no expected data
    root = tmp_path / "subs"
    for i in range(13):
        d = root / f"student{i:02d}"
        d.mkdir(parents=True)
        (d / "penalties.py").write_text(f"# {i}\n")
    return root


def test_shards_partition_the_batch_and_are_stable_when_files_are_added(subs):
    items = batch.discover(subs)
    slices = [shard.select(items, f"{k}/3") for k in (1, 2, 3)]
    names = sorted(e.name for s in slices for e in s)
    assert names == sorted(e.name for e in items) and all(slices)
    (subs / "latecomer").mkdir()
    (subs / "latecomer" / "penalties.py").write_text("# late\n")
    again = [shard.select(batch.discover(subs), f"{k}/3") for k in (1, 2, 3)]
    for before, after in zip(slices, again):
        assert set(before) <= set(after)                   # nobody moved to another shard
    with pytest.raises(shard.ShardError):
        shard.Shard.parse("4/3")


def _scrub(text):
    # The only differences allowed: elapsed/per-submission seconds.
    return re.sub(r"\d+\.\d+ ?s\b|time=\"[\d.]+\"|,\d+\.\d\r?$", "T", text, flags=re.M)


def test_merged_equals_unsharded(subs, tmp_path):
    whole = tmp_path / "whole"
    batch.grade_all(subs, whole, resolve({"training": False}, environ=SECRET, config_file=None))
    parts = []
    for k in (1, 2, 3, 4):
        out = tmp_path / f"part{k}"
        batch.grade_all(subs, out, resolve({"training": False, "shard": f"{k}/4"}, environ=SECRET, config_file=None))
        parts.append(out)
    merged = tmp_path / "merged"
    assert cli.main(["merge", *map(str, parts), "--out", str(merged)]) == 0
    for name in ("grades.csv", "junit.xml"):
        assert _scrub((merged / name).read_text()) == _scrub((whole / name).read_text())
    assert sorted(p.name for p in merged.iterdir()) == sorted(p.name for p in whole.iterdir() if p.name != ".reglab-secret")
    for sub in (p for p in whole.iterdir() if p.is_dir()):
        assert (merged / sub.name / "results.json").read_text() == (sub / "results.json").read_text()
    # The same submission in two folders is an error, not a silent overwrite.
    assert cli.main(["merge", str(parts[0]), str(parts[0]), "--out", str(tmp_path / "bad")]) == 2


def test_an_empty_shard_succeeds_and_merges(tmp_path, subs, monkeypatch):
    monkeypatch.setenv("REGLAB_SECRET_SEED", SECRET["REGLAB_SECRET_SEED"])
    lone = tmp_path / "lone"
    (lone / "only").mkdir(parents=True)
    (lone / "only" / "penalties.py").write_text("# 1\n")
    outs = [tmp_path / f"s{k}" for k in (1, 2, 3)]
    for k, out in enumerate(outs, 1):
        assert cli.main(["grade", str(lone), "--out", str(out), "--no-training", "--shard", f"{k}/3"]) == 0
    assert sum(1 for o in outs for _ in o.glob("*/results.json")) == 1
    assert cli.main(["merge", *map(str, outs), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "grades.csv").read_text().count("\n") == 2
