"""check's content cache and --watch: a re-check after an edit gives exactly what a fresh check of the
same files gives, only the edited part runs again, and hostile code in an edit is contained as in a
single check."""
import dataclasses
import queue
import shutil
import threading

from grader import selfcheck
from grader.checks import CORE
from grader.grading import grade_submission
from grader.partcache import part_keys
from grader.results import Outcome

from conftest import REPO
from fixtures.build import HOSTILE

SEEN = ("id", "outcome", "score", "max_score", "message", "expected", "got", "mistake", "hint", "location")


def same(a, b) -> list:
    """Every check's verdict and words, as a comparable list."""
    return [tuple(getattr(c, f) for f in SEEN) for c in a.checks] == [tuple(getattr(c, f) for f in SEEN)
                                                                       for c in b.checks] or \
        [(x.id, [f for f in SEEN if getattr(x, f) != getattr(y, f)]) for x, y in zip(a.checks, b.checks)]


def fresh(path, config, expected):
    return grade_submission(path, config, name=path.name, checks=CORE, expected=expected)


def _copy(tmp_path, example="typical_mistakes"):
    sub = tmp_path / "sub"
    shutil.copytree(REPO / "examples" / example, sub, ignore=shutil.ignore_patterns("__pycache__"))
    return sub


def _fix_penalties(sub):
    shutil.copyfile(REPO / "solution" / "penalties.py", sub / "penalties.py")


class Watching:
    """``selfcheck.watch`` in a thread, driven by hand: ``save()`` is a save, ``next()`` its result."""

    def __init__(self, plan):
        self.events, self.results = queue.Queue(), queue.Queue()

        def events():
            while (item := self.events.get()) is not None:
                yield item
        self.thread = threading.Thread(
            target=selfcheck.watch, args=(plan, lambda r, d, what: self.results.put((r, d, what))),
            kwargs={"events": events()}, daemon=True)
        self.thread.start()

    def save(self):
        self.events.put(1)
        return self.next()

    def next(self):
        return self.results.get(timeout=300)

    def stop(self):
        self.events.put(None)
        self.thread.join(timeout=60)


def test_a_watched_recheck_after_each_edit_is_exactly_a_fresh_check(tmp_path, config, expected):
    sub = _copy(tmp_path)
    plan = selfcheck.plan_for(sub, config, CORE, expected, tmp_path / "out", fresh=False, name="sub")
    watching = Watching(plan)
    try:
        watching.events.put(1)
        first, changes, what = watching.next()
        assert what == "check" and changes == [] and same(first, fresh(sub, config, expected)) is True

        _fix_penalties(sub)  # an edit of one part
        second, changes, _ = watching.save()
        assert same(second, fresh(sub, config, expected)) is True
        assert any("now passing" in line and "penalties.l1_value" in line for line in changes)
        assert second.parts()["penalties"][0] > first.parts()["penalties"][0]

        # Hostile code in the next edit: os._exit at import of data.py, as tests/fixtures/hostile has it.
        shutil.copyfile(HOSTILE / "import_os_exit" / "data.py", sub / "data.py")
        third, changes, _ = watching.save()
        assert same(third, fresh(sub, config, expected)) is True
        assert third.parts()["data"][0] == 0 and third.parts()["penalties"] == second.parts()["penalties"]
        assert not [c for c in third.checks if c.outcome is Outcome.GRADER_ERROR]

        shutil.copyfile(REPO / "examples" / "typical_mistakes" / "data.py", sub / "data.py")  # and back
        fourth, _, _ = watching.save()
        assert same(fourth, second) is True
    finally:
        watching.stop()


def test_a_plain_check_runs_only_the_parts_whose_files_changed(tmp_path, config, expected):
    sub = _copy(tmp_path)
    plan = selfcheck.plan_for(sub, config, CORE, expected, tmp_path / "out", fresh=False, name="sub")
    grader = selfcheck.salt(config)
    first, ran = selfcheck.run(plan, grader)
    assert ran == {"penalties", "model", "data", "train"}
    again, ran = selfcheck.run(plan, grader)
    assert ran == set() and same(again, first) is True
    shutil.copytree(sub, tmp_path / "elsewhere")  # the same content under another name: its own name shown
    renamed, ran = selfcheck.run(dataclasses.replace(plan, name="copy", path=tmp_path / "elsewhere"), grader)
    assert ran == set() and renamed.name == "copy" and renamed.source == str(tmp_path / "elsewhere")
    _fix_penalties(sub)
    edited, ran = selfcheck.run(plan, grader)
    # train.py imports penalized_loss from penalties.py: it runs again too; model and data do not.
    assert ran == {"penalties", "train"} and same(edited, fresh(sub, config, expected)) is True
    forced, ran = selfcheck.run(selfcheck.plan_for(sub, config, CORE, expected, tmp_path / "out", fresh=True,
                                                   name="sub"), grader)
    assert ran == {"penalties", "model", "data", "train"} and same(forced, edited) is True


def test_a_part_is_keyed_by_every_file_its_code_can_reach(tmp_path):
    parts = {"penalties": "penalties.py", "model": "model.py", "train": "train.py", "experiment": ""}
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "penalties.py").write_text("def l1_penalty(m): return 0\n")
    (sub / "model.py").write_text("import torch\n")
    (sub / "train.py").write_text("from .penalties import l1_penalty\n")
    before = part_keys(sub, parts, "grader")

    (sub / "penalties.py").write_text("def l1_penalty(m): return 1\n")
    after = part_keys(sub, parts, "grader")
    changed = {p for p in parts if before[p] != after[p]}
    assert changed == {"penalties", "train", "experiment"}  # train imports it; the training check runs it all

    (sub / "helper.py").write_text("X = 1\n")  # a file no lab module is: any module may load it
    assert all(after[p] != part_keys(sub, parts, "grader")[p] for p in parts)
    again = part_keys(sub, parts, "grader")
    (sub / "model.py").write_text("import importlib\nimportlib.import_module('.penalties', __package__)\n")
    dynamic = part_keys(sub, parts, "grader")
    (sub / "penalties.py").write_text("def l1_penalty(m): return 2\n")
    assert part_keys(sub, parts, "grader")["model"] != dynamic["model"] != again["model"]
    assert part_keys(sub, parts, "other grader") != part_keys(sub, parts, "grader")


def test_the_cache_keeps_only_its_newest_files(tmp_path, monkeypatch):
    from grader import partcache
    from grader.results import SubmissionResult

    monkeypatch.setattr(partcache, "KEEP", 3)
    cache = partcache.PartCache(tmp_path / "cache")
    result = SubmissionResult(name="x", checks=())
    for k in range(5):
        cache.store(result, {"*": f"whole{k}"}, ())
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["whole2.json", "whole3.json", "whole4.json"]
    assert cache.whole("whole4") is not None and cache.whole("whole0") is None
