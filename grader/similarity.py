"""Similarity for human review: copydetect's winnowing fingerprints per part, pairs side by side.

``python -m grader similarity OUT`` reads each graded submission's entry (the folder or .zip the
batch graded, recorded in results.json), fingerprints each part's file with copydetect (names
normalised, so renaming variables does not hide a copy; the stubs of assignment/ and any
``--boilerplate`` files, e.g. the notebook template, are boilerplate: given code never counts),
and writes OUT/similarity/index.html with the most similar pairs per part above a threshold.
It never changes a grade: it is a list for a person to look at.
"""
from __future__ import annotations

import itertools
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Sequence

from markupsafe import Markup, escape

from .lab import current
from .results import SubmissionResult

PART_FILES = current().files
MAX_FILE = 1 << 20
NOISE_K, WINDOW = 25, 1          # copydetect's defaults: a match is at least 25 tokens long


@dataclass(frozen=True)
class Pair:
    part: str
    a: str
    b: str
    similarity: float            # the larger of the two overlap fractions (0..1)
    overlap: int                 # tokens in common
    left: Markup                 # a's code, the shared passages marked
    right: Markup


def read_part(entry: Path, filename: str) -> str | None:
    """The text of one lab file in a submission folder or zip (the shallowest one), else None."""
    try:
        if entry.is_dir():
            found = sorted((p for p in entry.rglob(filename) if p.is_file() and "__MACOSX" not in p.parts),
                           key=lambda p: len(p.parts))
            if found and found[0].stat().st_size <= MAX_FILE:
                return found[0].read_text(encoding="utf-8", errors="replace")
        elif entry.is_file() and zipfile.is_zipfile(entry):
            with zipfile.ZipFile(entry) as zf:
                members = sorted((m for m in zf.infolist() if PurePosixPath(m.filename).name == filename
                                  and not m.filename.startswith("__MACOSX") and m.file_size <= MAX_FILE),
                                 key=lambda m: m.filename.count("/"))
                if members:
                    return zf.read(members[0]).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile):
        return None
    return None


def _fingerprint(code: str, boilerplate=None):
    import tempfile

    from copydetect import CodeFingerprint

    # copydetect reads files; the code goes through a private temporary file, never the student's own path.
    with tempfile.NamedTemporaryFile("w", suffix=".py", encoding="utf-8", delete=True) as fh:
        fh.write(code)
        fh.flush()
        return CodeFingerprint(fh.name, NOISE_K, WINDOW, boilerplate=boilerplate, filter=True)


def _boilerplate(part: str, extra: Sequence[Path]):
    import numpy as np

    hashes = []
    stub = current().stubs_folder / PART_FILES[part]
    for path in ([stub] if stub.is_file() else []) + [p for p in extra if p.is_file()]:
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".ipynb":
            text = _notebook_code(text)
        hashes.extend(_fingerprint(text).hashes)
    return np.unique(np.array(hashes)) if hashes else None  # as copydetect's CopyDetector builds it


def _notebook_code(text: str) -> str:
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "code")


def _highlight(code: str, slices) -> Markup:
    """The code, escaped, with the shared passages in <mark>."""
    spans = sorted(zip(*slices)) if len(slices) == 2 and len(slices[0]) else []
    out, pos = [], 0
    for start, end in spans:
        start, end = max(int(start), pos), int(end)
        if end <= start:
            continue
        out += [str(escape(code[pos:start])), "<mark>", str(escape(code[start:end])), "</mark>"]
        pos = end
    out.append(str(escape(code[pos:])))
    return Markup("".join(out))


def compare(codes: Mapping[str, Mapping[str, str]], *, threshold: float = 0.5, top: int = 20,
            boilerplate: Sequence[Path] = ()) -> dict[str, list[Pair]]:
    """``codes[part][submission] = source``; per part, the pairs at or above ``threshold``, most similar first."""
    from copydetect import compare_files

    pairs: dict[str, list[Pair]] = {}
    for part, by_name in codes.items():
        bp = _boilerplate(part, boilerplate)
        prints = {name: _fingerprint(code, bp) for name, code in sorted(by_name.items()) if code.strip()}
        found = []
        for a, b in itertools.combinations(prints, 2):
            overlap, (sim_a, sim_b), slices = compare_files(prints[a], prints[b])
            similarity = float(max(sim_a, sim_b))
            if overlap and similarity >= threshold:
                found.append(Pair(part, a, b, similarity, int(overlap),
                                  _highlight(prints[a].raw_code, slices[0]),
                                  _highlight(prints[b].raw_code, slices[1])))
        pairs[part] = sorted(found, key=lambda p: (-p.similarity, p.a, p.b))[:top]
    return pairs


def collect(results: Iterable[SubmissionResult], submissions: Path | None = None) -> dict[str, dict[str, str]]:
    """Each part's code per submission, from the entries the batch graded (or under ``submissions``)."""
    codes: dict[str, dict[str, str]] = {part: {} for part in PART_FILES}
    for r in results:
        entry = r.extra.get("entry_path") or r.source
        if submissions is not None and r.extra.get("entry"):
            entry = submissions / str(r.extra["entry"])
        if not entry:
            continue
        for part, filename in PART_FILES.items():
            code = read_part(Path(entry), filename)
            if code is not None:
                codes[part][r.name] = code
    return codes


def render(pairs: Mapping[str, list[Pair]], *, threshold: float, counts: Mapping[str, int]) -> str:
    from .report_html import _BASE_CSP, _env

    return _env().get_template("similarity.html.j2").render(
        csp=_BASE_CSP + "; script-src 'none'", pairs=pairs, threshold=threshold, counts=counts)
