"""Late work: when a submission came in, how late that was for its student, and what it costs.

The policy comes from reglab.toml (``due``, ``timezone``, ``late_penalty`` per ``late_unit``,
``late_cap``, ``late_grace_minutes``, ``no_credit_after``); a student's extension comes from the
roster. The penalty is a percentage of the assignment's maximum per started unit (Canvas's late
policy works the same way), never more than the points earned. The raw score is never changed:
the penalty is a separate record (``SubmissionResult.extra["late"]``) that the tables, the exports
and the student's report show beside it.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # config validates late-policy settings with check_setting below: no import back at run time
    from .config import Config

UNITS = {"day": dt.timedelta(days=1), "hour": dt.timedelta(hours=1)}


def check_setting(name: str, value: str) -> None:
    """Raise ValueError when a late-policy setting cannot mean anything (called by config)."""
    if name == "timezone":
        zone_of(value)
    else:
        parse_time(value, dt.timezone.utc)


def zone_of(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only with a late policy: the tz database

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Seoul)") from None


def parse_time(text: str, zone: dt.tzinfo) -> dt.datetime:
    """An ISO 8601 date-time; without an offset it is read in ``zone``. A bare date means its end (23:59:59)."""
    text = text.strip().replace("Z", "+00:00")
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            value = dt.datetime.fromisoformat(text + "T23:59:59")
        else:
            value = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date-time such as 2026-12-01T23:59+09:00") from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|day|days|h|hour|hours|일|시간)?\s*$", re.IGNORECASE)


def parse_extension(text: str, due: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """A roster's extension: a span ("2d", "36h", "3" = days, "2일", "12시간") or a new due date-time."""
    m = _SPAN.match(text)
    if m:
        unit = (m.group(2) or "d").lower()
        hours = unit.startswith("h") or unit == "시간"
        return due + (dt.timedelta(hours=float(m.group(1))) if hours else dt.timedelta(days=float(m.group(1))))
    return parse_time(text, zone)


@dataclass(frozen=True)
class Policy:
    due: dt.datetime
    zone: str
    penalty: float = 0.0          # percent of the maximum per started unit
    unit: str = "day"
    cap: float = 100.0            # percent
    grace: dt.timedelta = dt.timedelta(0)
    no_credit_after: dt.datetime | None = None

    @classmethod
    def from_config(cls, config: Config) -> "Policy | None":
        if not config.course.due:
            return None
        zone = zone_of(config.course.timezone)
        return cls(due=parse_time(config.course.due, zone), zone=config.course.timezone,
                   penalty=config.course.late_penalty or 0.0, unit=config.course.late_unit,
                   cap=100.0 if config.course.late_cap is None else min(100.0, config.course.late_cap),
                   grace=dt.timedelta(minutes=config.course.late_grace_minutes or 0.0),
                   no_credit_after=parse_time(config.course.no_credit_after, zone) if config.course.no_credit_after else None)


@dataclass(frozen=True)
class SubmittedAt:
    time: dt.datetime | None
    source: str                   # "gradescope", "zip", "lms-marker", "unknown"
    marked_late: bool = False     # the LMS's file name says late (Canvas's "_late_")


@dataclass(frozen=True)
class Late:
    """How late one submission was and what it cost; plain data for results.extra["late"]."""
    submitted: str | None         # ISO, in the policy's time zone
    source: str
    due: str                      # the student's own due date (extension applied)
    extension: str | None
    late_seconds: float
    units: int
    percent: float                # of the maximum
    raw: float
    penalty: float                # points taken off (never more than raw)
    final: float
    rule: str                     # how it was computed, one sentence for the student

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Late":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def _fmt(t: dt.datetime, zone: dt.tzinfo) -> str:
    return t.astimezone(zone).isoformat(timespec="minutes")


def assess(policy: Policy, submitted: SubmittedAt, raw: float, max_score: float,
           extension: str = "") -> Late:
    """The penalty arithmetic: units = ceil((submitted - due - grace) / unit), percent = min(cap, units × rate)."""
    zone = zone_of(policy.zone)
    due = parse_extension(extension, policy.due, zone) if extension else policy.due
    shift = due - policy.due
    cutoff = policy.no_credit_after + shift if policy.no_credit_after else None
    ext_note = f" (extended from {_fmt(policy.due, zone)})" if extension else ""
    # The LMS's marker counts when no time says otherwise after the due date; an extension granted
    # outside the LMS overrides it (the LMS measured against the old due date).
    by_marker = submitted.marked_late and not extension and (
        submitted.time is None or submitted.time - due <= policy.grace)
    if submitted.time is None or by_marker:
        if by_marker:
            units, late_s = 1, 0.0
            rule = (f"The LMS marked this submission late and no time says by how much: charged one "
                    f"{policy.unit}, {policy.penalty:g}% of {max_score:g} points")
        else:
            return Late(None, submitted.source, _fmt(due, zone), extension or None, 0.0, 0, 0.0,
                        raw, 0.0, raw, "The submission time is unknown: no late penalty.")
    else:
        late = submitted.time - due
        late_s = late.total_seconds()
        if cutoff is not None and submitted.time > cutoff:
            return Late(_fmt(submitted.time, zone), submitted.source, _fmt(due, zone), extension or None,
                        late_s, 0, 100.0, raw, raw, 0.0,
                        f"Submitted {_fmt(submitted.time, zone)}, after the last accepted time "
                        f"{_fmt(cutoff, zone)}: no credit.")
        if late <= policy.grace:
            return Late(_fmt(submitted.time, zone), submitted.source, _fmt(due, zone), extension or None,
                        late_s, 0, 0.0, raw, 0.0, raw,
                        f"Submitted {_fmt(submitted.time, zone)}, due {_fmt(due, zone)}{ext_note}: on time.")
        units = math.ceil((late - policy.grace) / UNITS[policy.unit])
        hours = late_s / 3600
        rule = (f"Submitted {_fmt(submitted.time, zone)}, due {_fmt(due, zone)}{ext_note}: "
                f"{hours:.1f} h late = {units} started {policy.unit}(s) × {policy.penalty:g}%")
    percent = min(policy.cap, units * policy.penalty)
    penalty = round(min(raw, max_score * percent / 100.0), 6)
    capped = " (capped)" if units * policy.penalty > policy.cap else ""
    rule += f" = {percent:g}%{capped} of {max_score:g} points = −{penalty:g}." if not by_marker else f" = −{penalty:g}."
    return Late(_fmt(submitted.time, zone) if submitted.time else None, submitted.source, _fmt(due, zone),
                extension or None, max(late_s, 0.0), units, percent, raw, penalty, round(raw - penalty, 6), rule)


# --- when was it submitted -------------------------------------------------------------------

def _gradescope_time(meta: Mapping[str, Any]) -> dt.datetime | None:
    raw = meta.get("created_at") or meta.get(":created_at")
    if not raw:
        return None
    try:
        return parse_time(str(raw), dt.timezone.utc)
    except ValueError:
        return None


def gradescope_metadata(path: Path, root_metadata: Mapping[str, Any] | None = None) -> Mapping[str, Any] | None:
    """The submission's Gradescope metadata: its own submission_metadata.json (the autograder's), or
    its entry in the batch's (keyed by the submission folder's name, as in Gradescope's export)."""
    own = (path / "submission_metadata.json") if path.is_dir() else None
    if own is not None and own.is_file():
        try:
            data = json.loads(own.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                return data
        except (OSError, ValueError):
            return None
    if root_metadata:
        entry = root_metadata.get(path.name) or root_metadata.get(path.stem)
        return entry if isinstance(entry, dict) else None
    return None


def zip_newest(path: Path, zone: dt.tzinfo) -> dt.datetime | None:
    """The newest member's time of a zip (zip times have no zone: read in the course's)."""
    try:
        with zipfile.ZipFile(path) as zf:
            stamps = [m.date_time for m in zf.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError):
        return None
    return dt.datetime(*max(stamps), tzinfo=zone) if stamps else None


def submitted_at(path: Path, zone: dt.tzinfo, *, marked_late: bool = False,
                 root_metadata: Mapping[str, Any] | None = None) -> SubmittedAt:
    """Gradescope's metadata, then the LMS's marker, then the zip's newest member, in that order.

    The LMS marker (Canvas's ``_late_``) says late without saying when; the zip's time then gives
    the amount when it is after the due date."""
    meta = gradescope_metadata(path, root_metadata)
    if meta is not None and (t := _gradescope_time(meta)) is not None:
        return SubmittedAt(t, "gradescope")
    t = zip_newest(path, zone) if path.is_file() else None
    if marked_late:
        return SubmittedAt(t, "lms-marker+zip" if t else "lms-marker", marked_late=True)
    return SubmittedAt(t, "zip") if t else SubmittedAt(None, "unknown")
