"""Whatever a student hands in: names, archives, nesting, encodings, kinds; each entry a row with an honest status."""
import csv
import importlib.util
import io
import json
import os
import shutil
import tarfile
import unicodedata
import zipfile

import pytest

from grader import intake
from grader.cli import main
from grader.files import safe_name
from grader.intake import IntakeError

from conftest import REPO

COMPLETE = REPO / "examples" / "complete"


def lab_files(src=COMPLETE):
    return {f.name: f.read_bytes() for f in sorted(src.glob("*.py"))}


def write_zip(path, files, prefix=""):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)


def write_folder(folder, files):
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


# ---------------------------------------------------------------- names


def test_names_keep_every_letter_and_replace_only_separators_controls_and_leading_dots():
    assert safe_name("정하늘") == "정하늘"
    assert safe_name(unicodedata.normalize("NFD", "정하늘")) == "정하늘"  # macOS hands out NFD
    assert safe_name("Zoë Müller (2nd try)") == "Zoë Müller (2nd try)"
    assert safe_name("a/b\\c\x00d\x1be") == "a_b_c_d_e"
    assert safe_name("..secret") == "__secret" and safe_name(".") == "_"
    assert safe_name("") == "submission"
    assert len(safe_name("가" * 200).encode()) <= 150


def test_discover_names_are_unique_case_insensitively_and_never_a_class_file(tmp_path):
    for name in ("정하늘", "Bob", "bob"):
        (tmp_path / name).mkdir()
    for name in ("김민수.zip", "정하늘.zip", "grades.csv", "index.html", "junit.xml", ".DS_Store", "README.md"):
        (tmp_path / name).write_bytes(b"x")
    entries = {e.original: e.name for e in intake.discover(tmp_path)}
    assert ".DS_Store" not in entries and "README.md" not in entries
    assert entries["정하늘"] == "정하늘" and entries["정하늘.zip"] == "정하늘-2" and entries["김민수.zip"] == "김민수"
    assert {entries["Bob"], entries["bob"]} == {"Bob", "bob-2"}
    assert {entries["grades.csv"], entries["index.html"], entries["junit.xml"]} == \
        {"grades.csv-2", "index.html-2", "junit.xml-2"}
    names = [n.casefold() for n in entries.values()]
    assert len(names) == len(set(names))


# ---------------------------------------------------------------- archives


def _tar(path, add):
    with tarfile.open(path, "w:gz") as tf:
        add(tf)


def _member(tf, name, data=b"x = 1\n", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize("name,kind,link,why", [
    ("../../escape.py", tarfile.REGTYPE, "", "outside"),
    ("/etc/escape.py", tarfile.REGTYPE, "", "absolute"),
    ("lab/model.py", tarfile.SYMTYPE, "/etc/passwd", "link"),
    ("lab/model.py", tarfile.LNKTYPE, "/etc/passwd", "link"),
    ("lab/dev", tarfile.CHRTYPE, "", "device"),
    ("lab/fifo", tarfile.FIFOTYPE, "", "pipe"),
])
def test_tar_archives_are_unpacked_as_safely_as_zips(tmp_path, name, kind, link, why):
    archive = tmp_path / "x.tar.gz"
    _tar(archive, lambda tf: _member(tf, name, kind=kind, link=link))
    (tmp_path / "dest").mkdir()
    with pytest.raises(IntakeError, match=why) as info:
        intake.unpack_tar(archive, tmp_path / "dest")
    assert info.value.status == "unreadable" and not (tmp_path / "escape.py").exists()


def test_archive_caps_count_written_bytes_and_members(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_UNPACKED", 1000)
    archive = tmp_path / "bomb.tgz"
    _tar(archive, lambda tf: _member(tf, "big.py", b"0" * 5000))
    (tmp_path / "d1").mkdir()
    with pytest.raises(IntakeError, match="unpacks to more than"):
        intake.unpack_tar(archive, tmp_path / "d1")
    monkeypatch.setattr(intake, "MAX_MEMBERS", 5)
    many = tmp_path / "many.tgz"
    _tar(many, lambda tf: [_member(tf, f"f{i}.py") for i in range(9)])
    (tmp_path / "d2").mkdir()
    with pytest.raises(IntakeError, match="more than 5 files"):
        intake.unpack_tar(many, tmp_path / "d2")


def test_a_truncated_archive_is_unreadable_with_a_message(tmp_path):
    good = tmp_path / "good.tar.gz"
    _tar(good, lambda tf: _member(tf, "model.py", os.urandom(100000)))
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(good.read_bytes()[:50000])
    (tmp_path / "d").mkdir()
    with pytest.raises(IntakeError, match="not a readable archive"):
        intake.unpack_tar(bad, tmp_path / "d")


def test_zip_member_names_from_korean_windows_are_read_as_cp949(tmp_path):
    archive = tmp_path / "k.zip"
    cp949 = "과제".encode("cp949")  # 4 bytes, written without the UTF-8 flag, as Windows' own zip does
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("QQQQ/model.py", "x = 1\n")
    archive.write_bytes(archive.read_bytes().replace(b"QQQQ/", cp949 + b"/"))
    (tmp_path / "d").mkdir()
    intake.unpack_zip(archive, tmp_path / "d")
    assert (tmp_path / "d" / "과제" / "model.py").is_file()


# ---------------------------------------------------------------- where the lab's files are


def test_the_lab_is_found_at_any_depth_and_ambiguity_is_a_clear_problem(tmp_path):
    write_folder(tmp_path / "a" / "lab5" / "lab5" / "assignment", lab_files())
    assert intake.find_lab_folder(tmp_path / "a") == tmp_path / "a" / "lab5" / "lab5" / "assignment"
    write_folder(tmp_path / "b" / "try1", lab_files())
    write_folder(tmp_path / "b" / "try2", lab_files())
    with pytest.raises(IntakeError, match="more than one folder.*try1/.*try2/"):
        intake.find_lab_folder(tmp_path / "b")
    repo = tmp_path / "repo"  # a student's copy of the release: the grader's own checks/model.py is not the lab
    write_folder(repo / "assignment", lab_files())
    write_folder(repo / "grader" / "checks", {"model.py": b"", "data.py": b""})
    assert intake.find_lab_folder(repo) == repo / "assignment"


# ---------------------------------------------------------------- encodings


def test_sources_are_utf8_with_or_without_bom_else_cp949_with_a_notice_else_how_to_save():
    assert intake.decode_source("# 한국어\nx = 1\n".encode(), "m.py") == ("# 한국어\nx = 1\n", None)
    assert intake.decode_source(b"\xef\xbb\xbfx = 1\n", "m.py") == ("x = 1\n", None)
    text, notice = intake.decode_source("# 정규화 실습\nx = 1\n".encode("cp949"), "model.py")
    assert text == "# 정규화 실습\nx = 1\n" and "CP949" in notice and "UTF-8" in notice
    text, message = intake.decode_source(b"x = 1 # \xff\xfe\xff\n", "model.py")
    assert text is None and "save it with the encoding UTF-8" in message
    declared = "# -*- coding: euc-kr -*-\n# 실습\n".encode("euc-kr")
    assert intake.decode_source(declared, "m.py") == ("# -*- coding: euc-kr -*-\n# 실습\n", None)


def test_a_cp949_copy_is_rewritten_as_utf8_for_the_sandbox(tmp_path):
    src = tmp_path / "src"
    write_folder(src, {"model.py": "# -*- coding: cp949 -*-\n# 모델\nX = '가'\n".encode("cp949")})
    prepared = intake.copy_sources(src, tmp_path / "dest")
    text = (tmp_path / "dest" / "model.py").read_text(encoding="utf-8")
    assert "# 모델" in text and "coding: utf-8" in text and not prepared.modules


# ---------------------------------------------------------------- a whole batch, as the field hands it in


CP949_MODEL = ("# 정규화 실습: 모델 (Windows 메모장에서 저장)\n".encode("cp949") + (COMPLETE / "model.py").read_bytes())


def _notebooks():
    spec = importlib.util.spec_from_file_location("reglab_test_notebooks", REPO / "tests" / "fixtures" / "notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_entry_of_a_field_batch_gets_a_row_with_its_name_and_an_honest_status(tmp_path, monkeypatch):
    monkeypatch.setenv("REGLAB_IMPORT_TIMEOUT", "15")  # the hang costs this; torchvision loads within it
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    files = lab_files()
    write_folder(subs / "정하늘", files)                                           # a Hangul folder
    write_zip(subs / "김민수.zip", files, prefix="김민수/")                            # a Hangul zip
    write_zip(subs / "deep.zip", files, prefix="lab5/lab5/assignment/")            # nested too deep
    with tarfile.open(subs / "이서연.tar.gz", "w:gz") as tf:                          # a tarball
        for name, data in lab_files(REPO / "examples" / "half_done").items():
            _member(tf, f"lab/{name}", data)
    (subs / "박지훈.rar").write_bytes(b"Rar!\x1a\x07\x00" + b"\0" * 64)              # unsupported
    # A Colab notebook and a Colab "Download .py" export of the complete lab (tests/fixtures/notebooks.py).
    notebook, export = _notebooks().write_all(REPO / "examples" / "complete", tmp_path / "colab", "최유나")
    shutil.copyfile(notebook, subs / "강민준.ipynb")
    shutil.copyfile(export, subs / "최유나.py")
    write_folder(subs / "cp949", {**files, "model.py": CP949_MODEL})               # saved on Korean Windows
    write_folder(subs / "syntax", {**files, "penalties.py": b"def l1_penalty(model:\n"})
    write_folder(subs / "hang", {**files, "data.py": b"import time\ntime.sleep(3600)\n" + files["data.py"]})
    (subs / "truncated.zip").write_bytes((subs / "deep.zip").read_bytes()[:200])
    (subs / "grades.csv").write_text("name,total\nme,100\n")                       # named like a class file
    write_folder(subs / "index.html", files)                                       # a folder, ditto
    write_zip(subs / "twice.zip", {**{f"a/{k}": v for k, v in files.items()}, **{f"b/{k}": v for k, v in files.items()}})
    assert main(["grade", str(subs), "--out", str(out), "--jobs", "2", "--no-training"]) == 0

    rows = {r["name"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8-sig"))}
    assert set(rows) == {p.name for p in subs.iterdir()}, "every entry has a row, under its original name"
    status = {name: r["status"] for name, r in rows.items()}
    total = {name: r["total"] for name, r in rows.items()}
    for name in ("정하늘", "김민수.zip", "deep.zip", "cp949", "index.html", "강민준.ipynb", "최유나.py"):
        assert (status[name], total[name]) == ("ok", "80"), name
    assert status["이서연.tar.gz"] == "incomplete" and total["이서연.tar.gz"] == "40"
    assert status["박지훈.rar"] == "unsupported" and total["박지훈.rar"] == "0"
    assert status["grades.csv"] == "unsupported"
    assert status["syntax"] == "syntax error" and rows["syntax"]["penalties"] == "0"
    assert status["hang"] == "timed out" and rows["hang"]["data"] == "0" and rows["hang"]["model"] == "20"
    assert status["truncated.zip"] == "unreadable" and status["twice.zip"] == "unreadable"

    assert rows["index.html"]["folder"] == "index.html-2" and rows["grades.csv"]["folder"] == "grades.csv-2"
    assert (out / "index.html").is_file() and (out / "junit.xml").is_file()
    assert (out / "index.html-2" / "index.html").is_file()
    cp949 = json.loads((out / "cp949" / "results.json").read_text())
    assert any("CP949" in p for p in cp949["extra_data"]["reglab"]["problems"])
    rar = json.loads((out / "박지훈.rar" / "results.json").read_text())
    assert "cannot be graded" in rar["output"] and rar["extra_data"]["reglab"]["original"] == "박지훈.rar"
    assert "more than one folder" in json.loads((out / "twice" / "results.json").read_text())["output"]
    html = (out / "index.html").read_text(encoding="utf-8")
    for name in ("정하늘", "김민수.zip", "박지훈.rar", "이서연.tar.gz"):
        assert name in html
    for label in ("syntax error", "timed out", "unsupported", "unreadable", "incomplete"):
        assert label in html
    junit = (out / "junit.xml").read_text(encoding="utf-8")
    assert 'name="status" value="syntax error"' in junit and 'value="박지훈.rar"' in junit


def test_check_reads_a_cp949_file_and_says_so(tmp_path, capsys):
    sub = tmp_path / "내과제"
    write_folder(sub, {**lab_files(), "model.py": CP949_MODEL})
    assert main(["check", str(sub), "--out", str(tmp_path / "o"), "--no-training"]) == 0
    out = capsys.readouterr().out
    assert "80/80" in out and "CP949" in out and (tmp_path / "o" / "내과제" / "results.json").is_file()


# ---------------------------------------------------------------- names that look alike


def _listed_in(order, monkeypatch):
    """The file system lists entries in ``order`` (sorted or reversed): directory order varies."""
    from pathlib import Path

    real = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(sorted(real(self), reverse=order == "reversed")))


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_names_equal_after_normalisation_are_ordered_by_their_bytes_and_flagged(tmp_path, monkeypatch, order):
    composed, decomposed = "José", unicodedata.normalize("NFD", "José")
    for name in (composed, decomposed, "Bob"):
        (tmp_path / name).mkdir()
    _listed_in(order, monkeypatch)
    entries = intake.discover(tmp_path)
    folders = {e.path.name: e.name for e in entries}
    # b"Jose\xcc\x81" sorts before b"Jos\xc3\xa9": the decomposed one keeps the plain name, whatever the listing
    assert folders == {decomposed: "José", composed: "José-2", "Bob": "Bob"}
    notices = intake.look_alikes(entries)
    assert set(notices) == {"José", "José-2"} and notices["José"] == notices["José-2"]
    assert "'Jos\\xe9'" in notices["José"] and "'Jose\\u0301'" in notices["José"]   # both names as handed in
    assert "José, José-2" in notices["José"]


def test_look_alike_names_through_grade_are_told_to_the_ta_in_both_languages(tmp_path, monkeypatch, capsys):
    subs, out = tmp_path / "subs", tmp_path / "out"
    composed, decomposed = "José", unicodedata.normalize("NFD", "José")
    write_folder(subs / composed, lab_files())
    write_folder(subs / decomposed, lab_files())
    write_folder(subs / "정하늘", lab_files())                                     # the neighbour
    monkeypatch.setenv("REGLAB_SECRET_SEED", "look-alike-test")
    _listed_in("reversed", monkeypatch)
    assert main(["grade", str(subs), "--out", str(out), "--no-training", "--jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert "2 entries are shown as José" in err and "'Jose\\u0301'" in err
    results = {json.loads((out / f / "results.json").read_text())["extra_data"]["reglab"]["name"]:
               json.loads((out / f / "results.json").read_text()) for f in ("José", "José-2", "정하늘")}
    for folder in ("José", "José-2"):
        assert results[folder]["score"] == 80
        assert any("2 entries are shown as José" in p for p in results[folder]["extra_data"]["reglab"]["problems"])
    assert results["정하늘"]["score"] == 80 and not results["정하늘"]["extra_data"]["reglab"]["problems"]
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8-sig")))
    assert sorted((r["name"], r["folder"], r["total"]) for r in rows if r["name"] == "José") == \
        [("José", "José", "80"), ("José", "José-2", "80")]
    _listed_in("sorted", monkeypatch)                     # another listing: --resume keeps both, same folders
    assert main(["grade", str(subs), "--out", str(out), "--no-training", "--resume", "--lang", "ko"]) == 0
    captured = capsys.readouterr()
    assert "제출물 2개가 모두 José(으)로 보입니다" in captured.err and "(이전 실행에서 3개 유지)" in captured.out
    assert not (out / "José-3").exists()
    assert main(["grade", str(subs), "--out", str(out), "--no-training", "--only", "José-2", "--lang", "ko"]) == 0
    again = json.loads((out / "José-2" / "results.json").read_text())["extra_data"]["reglab"]
    assert again["original"] == "José" and any("제출물 2개가 모두 José(으)로 보입니다" in p for p in again["problems"])
