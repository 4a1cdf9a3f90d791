"""Rosters and LMS bulk downloads: which student handed in which submission.

A roster is a CSV (UTF-8 with or without BOM, or CP949 as Korean Excel saves it) with a student
id, name, email, section and optionally the submission's file or folder name, an LMS user id and an
extension; its headers are recognised in English and Korean (학번, 이름, 이메일, 분반, ...) or named
in ``roster_columns``. A Canvas gradebook export works as a roster as it is.

A submission is matched by, in order: the roster's submission column; the LMS's naming convention
(Canvas "Download Submissions" ``lastnamefirstname[_late]_<userid>_<submissionid>_<file>``, Moodle
"Download all submissions" ``<Full name>_<participant id>_assignsubmission_<plugin>_``, Gradescope's
``submission_metadata.json``); the student's id or name in the entry's name (names compared after
Unicode NFC normalisation and case folding, so a macOS zip's decomposed Hangul matches).
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

FIELDS = ("id", "name", "email", "section", "submission", "lms_id", "login", "extension")

# Header spellings per field, compared after _key(): case, spaces, '_' and '-' ignored.
ALIASES = {
    "id": ("id", "studentid", "studentnumber", "student no", "sisuserid", "matriculation", "학번", "학생번호"),
    "name": ("name", "fullname", "student", "studentname", "이름", "성명", "학생", "학생이름"),
    "email": ("email", "emailaddress", "e-mail", "mail", "이메일", "이메일주소", "전자우편"),
    "section": ("section", "sections", "class", "분반", "반", "수강반"),
    "submission": ("submission", "file", "folder", "submissionfile", "제출", "제출물", "제출파일", "파일"),
    "lms_id": ("lmsid", "canvasid", "canvasuserid", "moodleid", "participantid", "userid", "lms아이디"),
    "login": ("login", "sisloginid", "username", "loginid", "사용자명", "아이디"),
    "extension": ("extension", "extensions", "extended", "연장", "기한연장", "연장기한"),
}


class RosterError(ValueError):
    pass


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFC", header).strip().casefold())


def norm_name(text: str) -> str:
    """A name for comparing: NFC, case-folded, letters and digits only ("Kim, Min-su" → "kimminsu")."""
    return "".join(ch for ch in unicodedata.normalize("NFC", text).casefold() if ch.isalnum())


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""
    section: str = ""
    submission: str = ""
    lms_id: str = ""
    login: str = ""
    extension: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Student":
        return cls(**{k: str(d.get(k, "") or "") for k in FIELDS})

    def name_keys(self) -> set[str]:
        """The name as the LMSs write it: as given, reversed ("Minsu Kim" → "kimminsu"), "Last, First"."""
        keys = {norm_name(self.name)}
        words = self.name.replace(",", " ").split()
        if len(words) > 1:
            keys.add(norm_name("".join(reversed(words))))
        return keys - {""}


def decode(data: bytes) -> str:
    """UTF-8 (a BOM is dropped), else CP949 (Korean Excel's "CSV"), else a clear error."""
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterError("the roster is neither UTF-8 nor CP949 text; save it as \"CSV UTF-8\"")


def _columns(headers: list[str], overrides: Iterable[str]) -> dict[str, int]:
    keys = [_key(h) for h in headers]
    found: dict[str, int] = {}
    for item in overrides:
        fld, _, header = item.partition("=")
        if fld.strip() not in FIELDS or not header.strip():
            raise RosterError(f"roster_columns: {item!r} is not field=Header (fields: {', '.join(FIELDS)})")
        if _key(header) not in keys:
            raise RosterError(f"roster_columns: no column {header.strip()!r} in the roster "
                              f"(it has {', '.join(headers)})")
        found[fld.strip()] = keys.index(_key(header))
    # A Canvas gradebook export: "ID" is Canvas's user id, "SIS User ID" the student number.
    canvas = "sisuserid" in keys and "id" in keys
    for fld, spellings in ALIASES.items():
        if fld in found:
            continue
        for spelling in spellings:
            if canvas and fld == "id" and spelling == "id":
                continue
            if _key(spelling) in keys and keys.index(_key(spelling)) not in found.values():
                found[fld] = keys.index(_key(spelling))
                break
    if canvas and "lms_id" not in found:
        found["lms_id"] = keys.index("id")
    if "id" not in found and "name" not in found:
        raise RosterError(f"the roster has no student id or name column (it has {', '.join(headers)}); "
                          "name them with roster_columns = [\"id=...\", \"name=...\"]")
    return found


def parse(text: str, overrides: Iterable[str] = ()) -> tuple[Student, ...]:
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise RosterError("the roster is empty")
    cols = _columns(rows[0], overrides)
    students = []
    for row in rows[1:]:
        values = {f: row[i].strip() if i < len(row) else "" for f, i in cols.items()}
        if values.get("name", "").strip().casefold() == "points possible":  # Canvas export's 2nd row
            continue
        students.append(Student(**{"id": values.get("id") or values.get("login") or values.get("name", ""),
                                   **{k: unicodedata.normalize("NFC", v) for k, v in values.items() if k != "id"}}))
    ids = [s.id for s in students]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise RosterError(f"the roster lists student id(s) {', '.join(dup)} more than once")
    return tuple(students)


def read(path: Path, overrides: Iterable[str] = ()) -> tuple[Student, ...]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"cannot read the roster {path}: {exc.strerror}") from None
    try:
        return parse(decode(data), overrides)
    except RosterError as exc:
        raise RosterError(f"{path}: {exc}") from None


# --- the LMSs' names ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LmsName:
    lms: str                       # "canvas" | "moodle"
    name_key: str                  # Canvas: "lastnamefirstname"; Moodle: the full name as written
    user_id: str
    submission_id: str = ""
    late: bool = False
    file: str = ""


_CANVAS = re.compile(r"^(?P<key>[^\W_]+)(?P<late>_late)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$")
_CANVAS_NOSUB = re.compile(r"^(?P<key>[^\W_]+)(?P<late>_late)?_(?P<uid>\d+)_(?P<file>[^\d].*)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?(?P<file>.*)$")


def parse_lms_name(entry: str) -> LmsName | None:
    """Canvas's or Moodle's bulk-download name of one entry (file or folder), else None."""
    entry = unicodedata.normalize("NFC", entry)
    m = _MOODLE.match(entry)
    if m:
        return LmsName("moodle", m.group("name"), m.group("id"), file=m.group("file"))
    m = _CANVAS.match(entry) or _CANVAS_NOSUB.match(entry)
    if m:
        groups = m.groupdict()
        return LmsName("canvas", groups["key"], groups["uid"], groups.get("sid") or "", bool(groups["late"]),
                       groups["file"])
    return None


def gradescope_submitters(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Submitters in either of Gradescope's layouts: the autograder's ``users`` or the export's ``:submitters``."""
    people = meta.get("users") or meta.get(":submitters") or meta.get("submitters") or []
    return [p for p in people if isinstance(p, dict)]


def _field(person: Mapping[str, Any], *names: str) -> str:
    for n in names:
        for k in (n, ":" + n):
            if person.get(k) not in (None, ""):
                return str(person[k])
    return ""


# --- matching ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Match:
    entry: str                     # the submission's entry name in the download
    student: Student | None
    how: str                       # "submission column", "canvas", "moodle", "gradescope", "id", "name", "" (none)
    note: str = ""                 # why it did not match (ambiguous, ...)
    late_marker: bool = False


@dataclass(frozen=True)
class Matching:
    matches: tuple[Match, ...]
    missing: tuple[Student, ...]   # students with no submission

    @property
    def unmatched(self) -> tuple[Match, ...]:
        return tuple(m for m in self.matches if m.student is None)

    def of(self, entry: str) -> Match | None:
        return next((m for m in self.matches if m.entry == entry), None)

    def summary(self) -> str:
        lines = [f"roster: {len(self.matches) - len(self.unmatched)} of {len(self.matches)} submission(s) matched; "
                 f"{len(self.missing)} student(s) with no submission"]
        lines += [f"  no student for {m.entry!r}" + (f" ({m.note})" if m.note else "") for m in self.unmatched]
        lines += [f"  no submission from {s.id} {s.name}".rstrip() for s in self.missing]
        return "\n".join(lines)


@dataclass
class _Index:
    students: tuple[Student, ...]
    by_id: dict[str, Student] = field(default_factory=dict)
    by_lms: dict[str, Student] = field(default_factory=dict)
    by_email: dict[str, Student] = field(default_factory=dict)
    by_name: dict[str, list[Student]] = field(default_factory=dict)
    by_submission: dict[str, Student] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in self.students:
            self.by_id[s.id.casefold()] = s
            if s.lms_id:
                self.by_lms[s.lms_id] = s
            if s.email:
                self.by_email[s.email.casefold()] = s
            if s.submission:
                self.by_submission[unicodedata.normalize("NFC", s.submission).casefold()] = s
            for k in s.name_keys():
                self.by_name.setdefault(k, []).append(s)

    def name(self, text: str) -> tuple[Student | None, str]:
        found = self.by_name.get(norm_name(text), [])
        if len(found) > 1:
            return None, f"{len(found)} students are called {text!r}"
        return (found[0], "") if found else (None, "")


def _stem(entry: str) -> str:
    return entry[:-4] if entry.lower().endswith(".zip") else entry


def match_one(entry: str, index: _Index, gradescope: Mapping[str, Any] | None = None) -> Match:
    entry = unicodedata.normalize("NFC", entry)
    for key in (entry.casefold(), _stem(entry).casefold()):
        if key in index.by_submission:
            return Match(entry, index.by_submission[key], "submission column")
    lms = parse_lms_name(_stem(entry))
    if lms is not None:
        student = index.by_lms.get(lms.user_id)
        note = ""
        if student is None:
            student, note = index.name(lms.name_key)
        if student is not None:
            return Match(entry, student, lms.lms, late_marker=lms.late)
        if note:
            return Match(entry, None, "", note, lms.late)
    if gradescope is not None:
        for person in gradescope_submitters(gradescope):
            sid, email = _field(person, "sid", "student_id"), _field(person, "email").casefold()
            student = index.by_id.get(sid.casefold()) if sid else None
            student = student or (index.by_email.get(email) if email else None)
            student = student or index.name(_field(person, "name"))[0]
            if student is not None:
                return Match(entry, student, "gradescope")
    stem = _stem(entry)
    tokens = [t for t in re.split(r"[\s_\-.()\[\]]+", stem) if t]
    for token in tokens:
        if token.casefold() in index.by_id:
            return Match(entry, index.by_id[token.casefold()], "id")
    notes = []
    for candidate in (stem, *tokens):
        student, note = index.name(candidate)
        if student is not None:
            return Match(entry, student, "name")
        if note:
            notes.append(note)
    return Match(entry, None, "", notes[0] if notes else "")


def match(entries: Iterable[str], students: tuple[Student, ...],
          gradescope: Mapping[str, Mapping[str, Any]] | None = None) -> Matching:
    """Match every entry name of a download; a student claimed twice keeps the first, the second is unmatched."""
    index = _Index(students)
    results, claimed = [], {}
    for entry in entries:
        m = match_one(entry, index, (gradescope or {}).get(_stem(entry)) or (gradescope or {}).get(entry))
        if m.student is not None and m.student.id in claimed:
            m = Match(entry, None, "", f"{m.student.id} already matched {claimed[m.student.id]!r}", m.late_marker)
        if m.student is not None:
            claimed[m.student.id] = entry
        results.append(m)
    missing = tuple(s for s in students if s.id not in claimed)
    return Matching(tuple(results), missing)


def load_gradescope(root: Path) -> dict[str, Any]:
    """The batch's submission_metadata.json (Gradescope's export, keyed by submission folder), if any."""
    path = root / "submission_metadata.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RosterError(f"{path}: not readable JSON ({exc})") from None
    return data if isinstance(data, dict) else {}
