"""Real public code (tests/fixtures/realworld, sources in tests/fixtures/SOURCES.md), adapted to the
contract's signatures, graded against the reference's expected data: correct code gets full marks
in every part; a mistake costs points in its own part only, with a message naming it.

Graded in this process (tests/fixtures/inprocess.py): the fixtures are trusted code, and the
sandbox's own behaviour is tested elsewhere (test_grading, test_fixture_submissions)."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from grader.checks import CORE, expected_probes
from grader.reference import expected_for
from grader.results import Outcome

from conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"
sys.path.insert(0, str(FIXTURES))
import inprocess  # noqa: E402
from build import build_submission  # noqa: E402

REALWORLD = {p.name: p for p in sorted((FIXTURES / "realworld").iterdir()) if p.is_dir()}
CLASSES = ("observation", "exactness", "standins", "probes", "charged_once", "handout", "contract", "inline",
           "diagnosis")


@pytest.fixture(scope="session")
def public_expected(tmp_path_factory):
    return expected_for(REPO / "solution", None, tmp_path_factory.mktemp("expected"), expected_probes(CORE))


def _expect(path: Path) -> dict:
    return json.loads((path / "expect.json").read_text(encoding="utf-8"))


def test_every_class_has_at_least_two_real_world_fixtures():
    counts = Counter(_expect(p)["class"] for p in REALWORLD.values())
    assert all(counts[c] >= 2 for c in CLASSES), counts
    assert all(_expect(p).get("source") for p in REALWORLD.values())


@pytest.mark.parametrize("name", sorted(REALWORLD))
def test_real_world_code_is_graded_by_its_behaviour(name, public_expected, tmp_path):
    expect = _expect(REALWORLD[name])
    results = inprocess.grade(build_submission(tmp_path / name, overlay=REALWORLD[name]), public_expected)
    parts: dict[str, list[float]] = {}
    for r in results:
        parts.setdefault(r.part, [0.0, 0.0])
        parts[r.part][0] += r.score
        parts[r.part][1] += r.max_score
    lost = {p for p, (s, t) in parts.items() if s < t}
    described = "\n".join(f"  {r.id}: {r.outcome.value} {r.message} | {r.mistake}" for r in results if not r.score)
    if expect.get("full"):
        assert not lost, f"{name} ({expect['source']}) lost points:\n{described}"
        return
    assert lost == {expect["part"]}, f"{name}: lost points in {sorted(lost)}, not only {expect['part']}\n{described}"
    texts = [" ".join(filter(None, (r.mistake, r.hint, r.message))).lower()
             for r in results if r.part == expect["part"] and r.score < r.max_score]
    assert any(expect["keyword"] in t for t in texts), f"{name}: no failing check names {expect['keyword']!r}\n{described}"
    for check in expect.get("must_pass", ()):
        assert next(r for r in results if r.id == check).score > 0, f"{name}: {check} charged too\n{described}"
    if expect.get("not_incomplete"):  # a NotImplementedError raised on purpose is the code raising, not a stub
        assert not any(r.outcome is Outcome.NOT_IMPLEMENTED for r in results), described
