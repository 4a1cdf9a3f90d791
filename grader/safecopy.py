"""A submission's copy: its Python files, and nothing a link could point at, into a fresh folder the
grader owns. Every file is opened relative to its folder's descriptor with O_NOFOLLOW, so no link, and
no folder swapped for a link meanwhile, is ever followed; sizes and counts are bounded."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from .lab import current

MODULE_FILES = current().module_files  # the lab's files: what a submission brings
MAX_FILE_BYTES = 1 << 20       # a submission's single source file
MAX_TOTAL_BYTES = 8 << 20      # all the source files it may bring
MAX_ENTRIES = 5000             # files and folders a submission's tree may hold


def copy_submission(src: Path, dest_pkg: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Copy the submission's Python files into a fresh package folder, following no link at any depth.

    A symbolic link (file or folder, ``src`` itself included) or a file with other hard links is
    refused, each with a problem naming it: a link may point at a classmate's files or the reference.
    """
    dest_pkg.mkdir(parents=True)
    copied, problems, total = [], [], 0
    (dest_pkg / "__init__.py").write_text('"""The submission under test."""\n')
    if os.path.islink(src):
        return (), (f"{Path(src).name}: is a symbolic link; links are not followed, nothing was graded",)
    try:
        root_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return (), (f"{Path(src).name}: cannot be read ({exc.strerror})",)
    try:
        entries = _walk(root_fd, Path(), 0, problems)
    finally:
        os.close(root_fd)
    for rel, fd in entries:
        try:
            st = os.fstat(fd)
            if rel.suffix != ".py" or len(rel.parts) > 2 or rel == Path("__init__.py"):
                continue  # only the package's modules and one level of helper folders are imported
            if st.st_nlink > 1:
                problems.append(f"{rel}: has other hard links (it may be someone else's file), left out")
                continue
            if st.st_size > MAX_FILE_BYTES or total + st.st_size > MAX_TOTAL_BYTES:
                problems.append(f"{rel}: too large ({st.st_size} bytes), left out")
                continue
            total += st.st_size
            (dest_pkg / rel).parent.mkdir(parents=True, exist_ok=True)
            with os.fdopen(os.dup(fd), "rb") as fh, open(dest_pkg / rel, "wb") as out:
                shutil.copyfileobj(fh, out)
            copied.append(str(rel))
        finally:
            os.close(fd)
    return tuple(copied), tuple(problems)


def _walk(dir_fd: int, rel: Path, count: int, problems: list[str]) -> list[tuple[Path, int]]:
    """Regular files below ``dir_fd`` as (relative path, open fd), opened with O_NOFOLLOW relative to
    their folder's fd so that no link, and no folder swapped for a link meanwhile, is ever followed."""
    found: list[tuple[Path, int]] = []
    try:
        names = sorted(os.listdir(dir_fd))
    except OSError as exc:
        problems.append(f"{rel or '.'}: cannot be listed ({exc.strerror})")
        return found
    for name in names:
        path = rel / name
        if name.startswith(".") or name == "__pycache__":
            continue
        count += 1
        if count > MAX_ENTRIES:
            problems.append(f"more than {MAX_ENTRIES} files and folders: the rest was left out")
            break
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            if name.endswith(".py") or stat.S_ISDIR(_target_mode(dir_fd, name)) or len(path.parts) < 3:
                problems.append(f"{path}: is a symbolic link; links are not followed, left out")
            continue
        if stat.S_ISDIR(st.st_mode):
            if len(path.parts) > 3:
                continue
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError:
                problems.append(f"{path}: cannot be opened, left out")
                continue
            try:
                found += _walk(sub, path, count, problems)
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            if not name.endswith(".py"):
                continue
            try:
                found.append((path, os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)))
            except OSError:
                problems.append(f"{path}: cannot be opened, left out")
        elif name.endswith(".py"):
            problems.append(f"{path}: not a regular file, left out")
    return found


def _target_mode(dir_fd: int, name: str) -> int:
    try:
        return os.stat(name, dir_fd=dir_fd).st_mode
    except OSError:
        return 0
