"""Turning whatever a student handed in into a lab folder the sandbox can grade.

A batch entry may be a folder, a ``.zip``, a ``.tar.gz``/``.tgz``/``.tar``, a notebook (``.ipynb``)
or a Colab ``.py`` export; anything else (``.rar``, ``.7z``, ...) is named as unsupported. Archives
are unpacked as untrusted input: no absolute or ``..`` paths, no links or devices, bounded member
count and size, sizes counted as bytes are written (not as headers claim). The lab's files are
looked for at any depth (``lab5/lab5/assignment/``) and must be in exactly one place.

The sources are copied into a fresh folder as UTF-8: the sandbox copies that folder byte for
byte, so a file saved in CP949 (Korean Windows) is graded as the student wrote it, with a notice.
Nothing here imports or runs student code; sources are only decoded and parsed (``ast``).
"""
from __future__ import annotations

import ast
import codecs
import hashlib
import json
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .files import display_name, safe_name
from .i18n import _
from .safecopy import MODULE_FILES, copy_submission
from .outputs import RESERVED
from .text import shown_name

MAX_UNPACKED = 64 << 20      # bytes an archive may unpack to
MAX_MEMBERS = 2000           # entries an archive may hold
MAX_DEPTH = 12               # folder levels searched for the lab's files
ARCHIVES = {".zip": "zip", ".tar": "tar", ".tgz": "tar", ".tar.gz": "tar", ".tar.bz2": "tar", ".tar.xz": "tar"}
NOTEBOOKS = {".ipynb", ".py"}
SKIPPED_DIRS = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints", "site-packages", "venv", ".venv",
                "node_modules"}
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")

UNSUPPORTED, UNREADABLE = "unsupported", "unreadable"


class IntakeError(Exception):
    """What is wrong with an entry, in a sentence for the student and the TA; ``status`` says which kind."""

    def __init__(self, message: str, status: str = UNREADABLE):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- names


@dataclass(frozen=True)
class Entry:
    """One top-level entry of a batch: the folder name its results get, the name as handed in, where."""
    name: str
    original: str
    path: Path

    @property
    def kind(self) -> str:
        return kind_of(self.path)


def suffix_of(path: Path) -> str:
    lower = path.name.lower()
    for suffix in sorted(ARCHIVES, key=len, reverse=True):
        if lower.endswith(suffix):
            return suffix
    return path.suffix.lower()


def kind_of(path: Path) -> str:
    """folder | zip | tar | notebook | unsupported"""
    if path.is_dir():
        return "folder"
    suffix = suffix_of(path)
    if suffix in ARCHIVES:
        return ARCHIVES[suffix]
    return "notebook" if suffix in NOTEBOOKS else "unsupported"


def stem(path: Path) -> str:
    """The name without the archive suffix (``정하늘.zip`` → ``정하늘``); other files keep their whole name."""
    suffix = suffix_of(path)
    if path.is_dir() or suffix not in ARCHIVES:
        return path.name
    return path.name[:-len(suffix)] or path.name


def _notes(path: Path) -> bool:
    """A README file beside the submissions is the TA's (examples/ has one), not a hand-in."""
    return path.is_file() and path.name.lower().split(".")[0] == "readme"


def discover(root: Path, skip: tuple[Path, ...] = ()) -> list[Entry]:
    """Every top-level entry of ``root`` (hidden ones such as ``.DS_Store``, a README file and ``skip`` left out),
    with unique folder-safe names (case-insensitively unique: macOS and Windows fold case) that never
    take the name of anything the grader writes beside them (grader.outputs).

    Sorted by the names' bytes, which no normalisation merges: of two entries that show the same
    name ("José" composed and decomposed), which one becomes ``-2`` depends on their names alone,
    never on the order the file system lists them in, so --only and --resume find the same folders."""
    skip_resolved = {p.resolve() for p in skip}
    paths = sorted((p for p in root.iterdir() if not p.name.startswith(".") and not _notes(p)
                    and p.resolve() not in skip_resolved), key=lambda p: os.fsencode(p.name))
    taken = {n.casefold() for n in RESERVED}
    found = []
    for path in paths:
        base = safe_name(stem(path))
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        found.append(Entry(name, display_name(path.name), path))
    return found


def look_alikes(entries: list[Entry]) -> dict[str, str]:
    """For each entry whose name is shown like another entry's (their bytes differ only by Unicode
    normalisation, or by characters the display removes), a notice for the TA with every original
    name spelled out, keyed by the entry's folder name."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(shown_name(entry.original), []).append(entry)
    notices = {}
    for name, group in groups.items():
        if len(group) < 2:
            continue
        notice = _("{count} entries are shown as {name}: their names differ only in Unicode normalisation or "
                   "invisible characters ({originals}); they are graded separately, as {folders} (in the byte "
                   "order of their names)").format(
            count=len(group), name=name, originals=", ".join(ascii(e.path.name) for e in group),
            folders=", ".join(e.name for e in group))
        notices.update((e.name, notice) for e in group)
    return notices


# ---------------------------------------------------------------- content keys (for --resume)


def content_key(path: Path, limit: int = 4 * MAX_UNPACKED) -> str:
    """A hash of what was handed in: the file's bytes, or a folder's relative paths, link targets and
    bytes (the first ``limit`` bytes in all: enough to tell any two real submissions apart)."""
    h = hashlib.sha256()
    budget = [limit]

    def add_file(p: Path) -> None:
        with open(p, "rb") as fh:
            while budget[0] > 0:
                chunk = fh.read(min(1 << 20, budget[0]))
                if not chunk:
                    break
                budget[0] -= len(chunk)
                h.update(chunk)

    if path.is_file():
        add_file(path)
        return h.hexdigest()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath, name)
            h.update(os.fsencode(p.relative_to(path).as_posix()) + b"\0")
            if p.is_symlink():
                h.update(b"link:" + os.fsencode(os.readlink(p)))
            elif p.is_file():
                add_file(p)
            h.update(b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------- unpacking


def _member_path(name: str, archive: str) -> Path | None:
    """The relative path an archive member may be written to (None for a folder entry); raises on
    absolute paths, ``..``, drive letters."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
        raise IntakeError(f"{archive}: unsafe entry {name!r} (an absolute path)")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise IntakeError(f"{archive}: unsafe entry {name!r} (it points outside the archive)")
    if any("\0" in p for p in parts):
        raise IntakeError(f"{archive}: unsafe entry {name!r}")
    return Path(*parts) if parts else None


def _write_member(src, dest: Path, budget: list[int], archive: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        while True:
            chunk = src.read(1 << 16)
            if not chunk:
                return
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise IntakeError(f"{archive} unpacks to more than {MAX_UNPACKED >> 20} MB")
            out.write(chunk)


def _zip_name(info: zipfile.ZipInfo) -> str:
    """Member names without the UTF-8 flag are CP437 to zipfile; Korean Windows writes CP949 there."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "cp949"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def unpack_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_MEMBERS:
                raise IntakeError(f"{archive.name} holds {len(members)} files (at most {MAX_MEMBERS})")
            if sum(m.file_size for m in members) > MAX_UNPACKED:
                raise IntakeError(f"{archive.name} unpacks to more than {MAX_UNPACKED >> 20} MB")
            plan = []
            for m in members:
                rel = _member_path(_zip_name(m), archive.name)
                mode = (m.external_attr >> 16) & 0o170000
                if mode and mode not in (stat.S_IFREG, stat.S_IFDIR):
                    raise IntakeError(f"{archive.name}: unsafe entry {m.filename!r} (a link or device)")
                plan.append((m, rel))
            budget = [MAX_UNPACKED]
            for m, rel in plan:
                if rel is None or m.is_dir():
                    if rel is not None:
                        (dest / rel).mkdir(parents=True, exist_ok=True)
                    continue
                with zf.open(m) as src:
                    _write_member(src, dest / rel, budget, archive.name)
    except IntakeError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError,
            RuntimeError, zlib.error, lzma.LZMAError) as exc:  # RuntimeError: an encrypted member; LZMAError: a
        # damaged LZMA member (bz2 says OSError)
        raise IntakeError(f"{archive.name} is not a readable zip file ({exc}): make the zip again and "
                          "hand it in once more") from None


def unpack_tar(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive, mode="r:*") as tf:
            budget, count = [MAX_UNPACKED], 0
            for m in tf:  # streamed: a bomb is stopped at the caps, never listed in full
                count += 1
                if count > MAX_MEMBERS:
                    raise IntakeError(f"{archive.name} holds more than {MAX_MEMBERS} files")
                rel = _member_path(m.name, archive.name)
                if not (m.isfile() or m.isdir()):
                    raise IntakeError(f"{archive.name}: unsafe entry {m.name!r} (a link, device or pipe)")
                if rel is None:
                    continue
                if m.isdir():
                    (dest / rel).mkdir(parents=True, exist_ok=True)
                    continue
                if m.size > budget[0]:
                    raise IntakeError(f"{archive.name} unpacks to more than {MAX_UNPACKED >> 20} MB")
                src = tf.extractfile(m)
                if src is not None:
                    _write_member(src, dest / rel, budget, archive.name)
    except IntakeError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error, lzma.LZMAError) as exc:  # LZMAError: a damaged .tar.xz
        raise IntakeError(f"{archive.name} is not a readable archive ({exc}): pack it again and hand it "
                          "in once more") from None


# ---------------------------------------------------------------- finding the lab's files


def _walk(root: Path):
    """Folders under ``root`` (itself first, shallow before deep), without links, hidden or tool folders."""
    level = [root]
    for _ in range(MAX_DEPTH):
        following = []
        for folder in level:
            yield folder
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
            following += [p for p in children if not p.name.startswith(".") and p.name not in SKIPPED_DIRS]
        level = following
        if not level:
            return


def _module_count(folder: Path) -> int:
    return sum((folder / f).is_file() and not (folder / f).is_symlink() for f in MODULE_FILES)


def find_lab_folder(root: Path) -> Path:
    """The one folder holding the lab's files, at any depth.

    ``root`` itself when it has any of them; else the only folder below that has any; of several, the
    only one called ``assignment`` (a student's copy of the release also holds the grader's own
    ``checks/model.py``...). Raises IntakeError when the choice is ambiguous; returns ``root`` when
    nothing is found (every file is then reported missing)."""
    if _module_count(root):
        return root
    found = [f for f in _walk(root) if f != root and _module_count(f) and "grader" not in f.relative_to(root).parts]
    if len(found) == 1:
        return found[0]
    named = [f for f in found if f.name == "assignment"]
    if len(named) == 1:
        return named[0]
    if found:
        where = ", ".join(f"{f.relative_to(root).as_posix()}/" for f in found[:6])
        raise IntakeError(f"the lab's files ({', '.join(MODULE_FILES)}) are in more than one folder ({where}): "
                          "hand in one copy, with the four files side by side")
    return root


def notebooks_in(root: Path) -> list[Path]:
    return [p for f in _walk(root) for p in sorted(f.glob("*.ipynb")) if p.is_file() and not p.is_symlink()]


# ---------------------------------------------------------------- decoding the sources


def decode_source(raw: bytes, name: str) -> tuple[str | None, str | None]:
    """``(text, notice)``: the source as text, and a notice when it was not UTF-8; ``(None, message)``
    when it cannot be read as any encoding a student's editor writes."""
    cookie = None
    for line in raw.splitlines()[:2]:
        m = _COOKIE.match(line)
        if m:
            cookie = m.group(1).decode("ascii", "replace")
            break
    if raw.startswith(codecs.BOM_UTF8):
        raw, cookie = raw[len(codecs.BOM_UTF8):], None
    if cookie:  # a declared encoding is what Python itself would use
        try:
            return raw.decode(codecs.lookup(cookie).name), None
        except (LookupError, ValueError):  # ValueError: every UnicodeError (idna's and punycode's are not decode errors)
            pass
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        bad = exc.start
    try:
        text = raw.decode("cp949")
    except UnicodeDecodeError:
        return None, (f"{name} is not UTF-8 text (byte 0x{raw[bad]:02x} at position {bad}) and not Korean "
                      "CP949/EUC-KR either: open it in your editor and save it with the encoding UTF-8 "
                      "(VS Code: the encoding in the status bar → Save with Encoding → UTF-8; Notepad: "
                      "Save As → Encoding: UTF-8), then hand it in again")
    return text, (f"{name} was saved as Korean CP949/EUC-KR, not UTF-8: it was graded as converted to "
                  "UTF-8; save it as UTF-8 next time (VS Code: Save with Encoding → UTF-8)")


def _neutral_cookie(text: str) -> str:
    """The copy is UTF-8: a coding line that says otherwise would make Python misread it."""
    lines = text.split("\n", 2)
    for i in range(min(2, len(lines))):
        if _COOKIE.match(lines[i].encode("utf-8", "replace")):
            lines[i] = "# -*- coding: utf-8 -*-"
    return "\n".join(lines)


def syntax_error(text: str, name: str) -> str | None:
    """The file's syntax error in one line (None when it parses); parsing runs nothing."""
    try:
        ast.parse(text, filename=name)
    except SyntaxError as exc:
        return f"{name}, line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{name}: {type(exc).__name__}: {exc}"[:300]
    return None


# ---------------------------------------------------------------- all of it


@dataclass(frozen=True)
class Prepared:
    """A lab folder ready for the sandbox, with what the student should know about the hand-in."""
    folder: Path
    original: Path                                           # the lab folder as handed in (for line numbers)
    notices: tuple[str, ...] = ()
    modules: dict[str, str] = field(default_factory=dict)    # module -> "syntax_error" | "unreadable"
    provenance: dict = field(default_factory=dict)           # a notebook's: name -> cell, first line, code


def copy_sources(src: Path, dest: Path) -> Prepared:
    """The ``.py`` files of ``src`` (and of its sub-folders, one level, as the sandbox copies them)
    copied to ``dest`` as UTF-8. The copy follows no link at any depth and takes no file with other
    hard links (``safecopy.copy_submission``, whose refusals become notices): a link may point at a
    classmate's files or the reference."""
    staged = dest.parent / f"{dest.name}-raw"
    copied, refused = copy_submission(src, staged)
    dest.mkdir(parents=True, exist_ok=True)
    notices, modules = list(refused), {}
    for rel in map(Path, copied):
        path = staged / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = path.read_bytes()
        text, notice = decode_source(raw, rel.as_posix())
        module = rel.stem if len(rel.parts) == 1 else None
        if text is None:
            target.write_bytes(raw)
            if module:
                modules[module] = UNREADABLE
            notices.append(notice)
            continue
        if notice:
            notices.append(notice)
        target.write_text(_neutral_cookie(text), encoding="utf-8")
        if module and syntax_error(text, rel.as_posix()):
            modules[module] = "syntax_error"
    return Prepared(dest, src, tuple(notices), modules)


def prepare(path: Path, work: Path) -> Prepared:
    """Turn the entry at ``path`` into a lab folder under ``work`` (a fresh, empty folder).

    Raises IntakeError (with ``status`` "unsupported" or "unreadable") when there is nothing to grade."""
    kind = kind_of(path)
    if kind == "unsupported":
        raise IntakeError(f"{display_name(path.name)}: a {suffix_of(path) or 'file without an extension'} file "
                          f"cannot be graded; hand in a .zip (or .tar.gz) of your folder, your notebook (.ipynb) "
                          f"or the folder itself", UNSUPPORTED)
    if kind == "notebook":
        return _from_notebook(path, work)
    if kind == "folder":
        root = path
    else:
        root = work / "unpacked"
        root.mkdir()
        (unpack_zip if kind == "zip" else unpack_tar)(path, root)
    lab = find_lab_folder(root)
    if not _module_count(lab):
        books = notebooks_in(root)
        if len(books) == 1:
            return _from_notebook(books[0], work)
    prepared = copy_sources(lab, work / "lab")
    original = lab if kind == "folder" else path
    return Prepared(prepared.folder, original, prepared.notices, prepared.modules)


def _from_notebook(path: Path, work: Path) -> Prepared:
    """A notebook or a Colab ``.py`` export, split into the lab's files by grader.notebook."""
    from . import notebook  # the notebook layer (nbformat) only for the entries that need it

    extracted = work / "extracted"
    extracted.mkdir()
    try:
        notices = tuple(notebook.extract(path, extracted))
    except (RecursionError, MemoryError) as exc:  # the notebook's nesting passed Python's own bounds somewhere
        raise IntakeError(_("{name} is nested too deeply to be read ({error}): simplify the deepest expression "
                            "and hand it in again").format(name=display_name(path.name), error=type(exc).__name__),
                          UNREADABLE) from None
    provenance = json.loads((extracted / notebook.PROVENANCE).read_text(encoding="utf-8"))  # written just now, here
    prepared = copy_sources(extracted, work / "lab")
    return Prepared(prepared.folder, path, notices + prepared.notices, prepared.modules, provenance)
