"""The course secret never enters the sandbox; each submission draws inputs of its own.

A hostile submission (``tests/fixtures/hostile/search_everything``) searches everything it can reach
(frames, ``gc``, the environment, ``/proc/self``, files in view) for the secret it is graded with and
for the probes it was asked to run, and shows what it found in every visible message. Graded through
``python -m grader grade`` with ``REGLAB_SECRET_SEED`` set. The Gradescope path (hidden checks in a
worker of their own) is in test_gradescope_build.py.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from grader.derive import Inputs, derive

REPO = Path(__file__).resolve().parent.parent
HOSTILE = REPO / "tests" / "fixtures" / "hostile" / "search_everything"
REPORT = re.compile(r"HOSTILE-SEARCH secret=\[(?P<secret>[^\]]*)\] requested=\[(?P<requested>[^\]]*)\] "
                    r"seeds=(?P<seeds>[0-9a-f]+)/(?P<n>\d+)")
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
from build import build_submission  # noqa: E402


def hostile_submission(dest: Path, needle: str, extra: str = "") -> Path:
    """The hostile fixture over the reference, looking for ``needle`` (written reversed into it)."""
    build_submission(dest, overlay=HOSTILE)
    path = dest / "penalties.py"
    path.write_text(path.read_text().replace("__REGLAB_NEEDLE_REVERSED__", needle[::-1]) + extra)
    return dest


def reports(text: str) -> list[re.Match]:
    return list(REPORT.finditer(text))


def test_derived_seeds_depend_on_secret_content_and_probe():
    probes = ["pen.l1_mlp", "train.epoch"]
    a, b = Inputs("s", scope="content-a").seeds(probes), Inputs("s", scope="content-b").seeds(probes)
    assert a.keys() == b.keys() == set(probes)
    assert all(a[p] != b[p] for p in probes) and a["pen.l1_mlp"] != a["train.epoch"]
    assert Inputs("other", scope="content-a").seeds(probes) != a
    assert Inputs("s", scope="content-a").seeds(probes) == a  # the same on every shard, and again
    assert a["pen.l1_mlp"] == derive("s", "content-a", "pen.l1_mlp") and len(a["pen.l1_mlp"]) == 32
    assert Inputs().seeds(probes) == {}  # no secret: the public seed, as a release's expected data
    assert Inputs(packaged={"pen.l1_mlp": "x"}).seeds(probes) == {"pen.l1_mlp": "x"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("secret-inputs")
    needle = f"course-secret-{uuid.uuid4().hex}"
    subs = root / "subs"
    hostile_submission(subs / "first", needle)
    hostile_submission(subs / "second", needle, extra="# the same code, other content: other inputs\n")
    # A control: the same search finds the secret where it is in view (a file of the submission).
    hostile_submission(subs / "planted", needle)
    (subs / "planted" / "notes.py").write_text(f"# {needle}\n")
    out = root / "out"
    env = {**os.environ, "REGLAB_SECRET_SEED": needle, "REGLAB_IMPORT_TIMEOUT": "60"}
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out), "--no-training"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = {p.relative_to(out).as_posix(): p.read_bytes().decode("utf-8", "replace")
             for p in out.rglob("*") if p.is_file()}
    return {"needle": needle, "terminal": proc.stdout + proc.stderr, "files": files,
            "results": {n: json.loads(files[f"{n}/results.json"]) for n in ("first", "second", "planted")}}


def test_a_hostile_submission_finds_no_secret(graded):
    needle = graded["needle"]
    for name in ("first", "second"):
        found = reports(json.dumps(graded["results"][name]))
        assert found, f"{name}: the search did not report"
        for m in found:
            assert m["secret"] == "", f"{name}: the secret was found in {m['secret']}"
            assert "'pen.l1_mlp'" in m["requested"]  # it did find what the worker was asked (the search works)
            assert int(m["n"]) > 0
    assert needle not in graded["terminal"]
    assert not [f for f, text in graded["files"].items() if needle in text]
    planted = reports(json.dumps(graded["results"]["planted"]))
    assert planted and all("files" in m["secret"] for m in planted), "the control did not find the planted secret"


def test_two_submissions_draw_different_inputs(graded):
    seeds = {name: {m["seeds"] for m in reports(json.dumps(graded["results"][name]))} for name in ("first", "second")}
    assert len(seeds["first"]) == len(seeds["second"]) == 1
    assert seeds["first"] != seeds["second"]


def test_every_shard_derives_the_same_inputs(tmp_path, monkeypatch):
    """grade --shard K/N and one unsharded grade send each submission the same derived seeds."""
    from grader import batch
    from grader.config import resolve
    from grader.results import SubmissionResult

    seen: dict[str, dict[str, str]] = {}

    def record(path, config, name=None, inputs=Inputs(), **_):
        seen.setdefault(config.shard or "all", {})[name] = json.dumps(inputs.seeds(["pen.l1_mlp", "data.stats_a"]))
        return SubmissionResult(name=name, checks=(), source=str(path))
    monkeypatch.setattr(batch, "grade_submission", record)
    monkeypatch.setattr(batch.reference, "prestart", lambda *args, **kwargs: None)
    subs = tmp_path / "subs"
    for i in range(6):
        (subs / f"s{i}").mkdir(parents=True)
        (subs / f"s{i}" / "penalties.py").write_text(f"# {i}\n")
    env = {"REGLAB_SECRET_SEED": "course-secret"}
    for shard in ("", "1/2", "2/2"):
        config = resolve({"training": False, **({"shard": shard} if shard else {})}, environ=env, config_file=None)
        batch.grade_all(subs, tmp_path / f"out{shard.replace('/', '-')}", config)
    merged = {}
    for key, got in seen.items():
        if key != "all":
            merged.update(got)
    assert merged == seen["all"] and len(set(merged.values())) == 6
