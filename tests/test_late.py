"""Late-penalty arithmetic: a due date in Seoul, submission times in UTC, an extension from the
roster, per-day and per-hour units, the cap, the grace period and "no credit after"; and where the
submission time comes from (Gradescope metadata, the LMS marker, the zip's newest member)."""
import datetime as dt
import json
import zipfile

import pytest

from grader.config import ConfigError, resolve
from grader.late import Policy, SubmittedAt, assess, parse_time, submitted_at, zone_of

SEOUL = zone_of("Asia/Seoul")
UTC = dt.timezone.utc


def policy(**kw):
    base = dict(due="2026-12-01T23:59", timezone="Asia/Seoul", late_penalty=10, late_unit="day")
    cfg = resolve({**base, **kw}, environ={}, config_file=None)
    return Policy.from_config(cfg)


def at(text):
    return SubmittedAt(parse_time(text, UTC), "gradescope")


def test_the_due_date_is_read_in_the_course_time_zone():
    p = policy()
    assert p.due == dt.datetime(2026, 12, 1, 14, 59, tzinfo=UTC)  # 23:59 KST = 14:59 UTC
    # 15:30 UTC is 00:30 KST the next day: 31 minutes late, one started day, 10% of 80 = 8 points.
    late = assess(p, at("2026-12-01T15:30:00Z"), raw=60, max_score=80)
    assert (late.units, late.percent, late.penalty, late.final) == (1, 10, 8, 52)
    assert late.submitted == "2026-12-02T00:30+09:00" and "0.5 h late" in late.rule
    # 14:00 UTC is 23:00 KST: on time, though it is "Dec 1" in both zones.
    assert assess(p, at("2026-12-01T14:00:00Z"), raw=60, max_score=80).penalty == 0


def test_an_extension_moves_the_due_date_and_the_cutoff():
    p = policy(no_credit_after="2026-12-03T23:59")
    t = at("2026-12-03T16:00:00Z")                            # 01:00 KST on Dec 4
    assert assess(p, t, raw=80, max_score=80).final == 0      # after the cutoff: no credit
    ext = assess(p, t, raw=80, max_score=80, extension="2d")  # due Dec 3 23:59 KST, cutoff Dec 5
    assert (ext.due, ext.units, ext.penalty, ext.final) == ("2026-12-03T23:59+09:00", 1, 8, 72)
    assert "extended from 2026-12-01T23:59+09:00" in ext.rule
    new_date = assess(p, t, raw=80, max_score=80, extension="2026-12-04T12:00")
    assert new_date.penalty == 0 and new_date.due == "2026-12-04T12:00+09:00"
    assert assess(p, t, raw=80, max_score=80, extension="36시간").due == "2026-12-03T11:59+09:00"


def test_per_hour_cap_grace_and_never_below_zero():
    p = policy(late_unit="hour", late_penalty=5, late_cap=30, late_grace_minutes=10)
    assert assess(p, at("2026-12-01T15:08:00Z"), 80, 80).penalty == 0             # 9 min: grace
    assert assess(p, at("2026-12-01T15:20:00Z"), 80, 80).units == 1               # 21 min - 10 grace
    three = assess(p, at("2026-12-01T17:30:00Z"), 80, 80)                          # 2.5 h after due
    assert (three.units, three.percent, three.penalty) == (3, 15, 12)
    capped = assess(p, at("2026-12-02T14:59:00Z"), 80, 80)                        # 24 h: 120% → 30%
    assert (capped.percent, capped.penalty, capped.final) == (30, 24, 56) and "(capped)" in capped.rule
    assert assess(p, at("2026-12-02T14:59:00Z"), raw=10, max_score=80).final == 0  # 24 > 10 earned


def test_the_lms_marker_without_a_time_costs_one_unit_and_an_unknown_time_nothing():
    p = policy()
    marked = assess(p, SubmittedAt(None, "lms-marker", marked_late=True), 80, 80)
    assert (marked.units, marked.penalty) == (1, 8) and "marked this submission late" in marked.rule
    assert assess(p, SubmittedAt(None, "unknown"), 80, 80).penalty == 0
    # An extension granted outside the LMS overrides its marker.
    assert assess(p, SubmittedAt(None, "lms-marker", marked_late=True), 80, 80, extension="1d").penalty == 0


def test_where_the_time_comes_from(tmp_path):
    folder = tmp_path / "submission_1"
    folder.mkdir()
    (folder / "submission_metadata.json").write_text(json.dumps({"created_at": "2026-12-01T15:30:00+00:00"}))
    assert submitted_at(folder, SEOUL).source == "gradescope"
    bare = tmp_path / "bare"
    bare.mkdir()
    assert submitted_at(bare, SEOUL, root_metadata={"bare": {":created_at": "2026-12-01T10:00:00Z"}}).time == \
        dt.datetime(2026, 12, 1, 10, tzinfo=UTC)
    z = tmp_path / "lab.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name, stamp in (("a/penalties.py", (2026, 12, 1, 23, 0, 0)), ("a/model.py", (2026, 12, 2, 1, 30, 0))):
            zf.writestr(zipfile.ZipInfo(name, stamp), "x = 1\n")
    got = submitted_at(z, SEOUL)
    assert (got.source, got.time) == ("zip", dt.datetime(2026, 12, 2, 1, 30, tzinfo=SEOUL))
    assert assess(policy(), got, 80, 80).units == 1
    assert submitted_at(bare, SEOUL).source == "unknown"


def test_bad_settings_say_which():
    with pytest.raises(ConfigError, match="timezone.*unknown time zone"):
        resolve({"timezone": "Mars/Olympus"}, environ={}, config_file=None)
    with pytest.raises(ConfigError, match="due.*not an ISO date-time"):
        resolve({"due": "next friday"}, environ={}, config_file=None)
    with pytest.raises(ConfigError, match="late_unit"):
        resolve({"late_unit": "week"}, environ={}, config_file=None)
