"""Rosters (UTF-8 with/without BOM, CP949, Korean headers) and matching by submission column, LMS
naming convention (Canvas, Moodle, Gradescope) and name, Hangul names included."""
import json
import unicodedata

import pytest

from grader import roster
from grader.roster import RosterError, Student, match, parse_lms_name

KOREAN = "학번,이름,이메일,분반\n20230001,김민수,kim@example.kr,1\n20230002,이서연,lee@example.kr,2\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_korean_headers_in_every_encoding_excel_writes(tmp_path, encoding):
    path = tmp_path / "roster.csv"
    path.write_bytes(KOREAN.encode(encoding))
    students = roster.read(path)
    assert [(s.id, s.name, s.email, s.section) for s in students] == [
        ("20230001", "김민수", "kim@example.kr", "1"), ("20230002", "이서연", "lee@example.kr", "2")]


def test_configured_header_names_and_a_clear_error_for_a_wrong_one():
    text = "Matrikel,Student,Abgabe\n77,Anna Berg,anna.zip\n"
    (s,) = roster.parse(text, ["id=Matrikel", "submission=Abgabe"])
    assert (s.id, s.name, s.submission) == ("77", "Anna Berg", "anna.zip")
    with pytest.raises(RosterError, match="no column 'Nummer'"):
        roster.parse(text, ["id=Nummer"])
    with pytest.raises(RosterError, match="no student id or name"):
        roster.parse("foo,bar\n1,2\n")


def test_a_canvas_gradebook_export_is_a_roster():
    text = ('Student,ID,SIS User ID,SIS Login ID,Section,Lab (123)\n'
            'Points Possible,,,,,100\n"Kim, Minsu",1001,20230001,minsu,Sec 1,\n')
    (s,) = roster.parse(text)
    assert (s.id, s.lms_id, s.login, s.name) == ("20230001", "1001", "minsu", "Kim, Minsu")


def test_lms_names():
    c = parse_lms_name("kimminsu_late_1001_5001_lab.zip")
    assert (c.lms, c.name_key, c.user_id, c.submission_id, c.late, c.file) == \
        ("canvas", "kimminsu", "1001", "5001", True, "lab.zip")
    m = parse_lms_name("이서연_2001_assignsubmission_file_")
    assert (m.lms, m.name_key, m.user_id) == ("moodle", "이서연", "2001")
    assert parse_lms_name("Kim Minsu_42_assignsubmission_onlinetext_").name_key == "Kim Minsu"
    assert parse_lms_name("my-lab") is None


def test_matching_order_and_reports():
    students = (Student("20230001", "Kim, Minsu", lms_id="1001"),
                Student("20230002", "이서연"),
                Student("20230003", "박지훈", submission="final-upload.zip"),
                Student("20230004", "Choi Yuna", email="choi@example.kr"),
                Student("20230005", "정하늘"))
    nfd = unicodedata.normalize("NFD", "이서연")  # as a macOS zip writes Hangul
    entries = ["kimminsu_late_1001_5001_lab.zip",        # Canvas: by user id
               f"{nfd}_2001_assignsubmission_file_",       # Moodle: by full name (NFD → NFC)
               "final-upload.zip",                          # the roster's submission column
               "submission_77",                             # Gradescope metadata: by email
               "stranger_lab.zip"]
    gs = {"submission_77": {":submitters": [{":name": "Y. Choi", ":email": "CHOI@example.kr"}]}}
    m = match(entries, students, gs)
    got = {x.entry: (x.student.id if x.student else None, x.how) for x in m.matches}
    assert got == {"kimminsu_late_1001_5001_lab.zip": ("20230001", "canvas"),
                   unicodedata.normalize("NFC", entries[1]): ("20230002", "moodle"),
                   "final-upload.zip": ("20230003", "submission column"),
                   "submission_77": ("20230004", "gradescope"),
                   "stranger_lab.zip": (None, "")}
    assert m.matches[0].late_marker
    assert [s.id for s in m.missing] == ["20230005"]
    assert "no student for 'stranger_lab.zip'" in m.summary() and "정하늘" in m.summary()


def test_name_matching_hangul_reversed_order_and_ambiguity():
    students = (Student("1", "김민수"), Student("2", "Minsu Kim"), Student("3", "홍길동"), Student("4", "홍길동"),
                Student("5", "Lee Jiwoo"))
    m = match(["김민수.zip", "kimminsu_999_1_a.py", "홍길동", "jiwoo lee"], students[:1] + students[2:])
    got = {x.entry: x.student.id if x.student else x.note for x in m.matches}
    assert got["김민수.zip"] == "1"
    assert got["홍길동"] == "2 students are called '홍길동'"
    assert got["jiwoo lee"] == "5"                           # "First Last" vs "Last First"
    m2 = match(["kimminsu_999_1_a.py"], (students[1],))
    assert m2.matches[0].student.id == "2" and m2.matches[0].how == "canvas"


def test_a_student_claimed_twice_keeps_the_first():
    m = match(["20230001_a.zip", "20230001_b.zip"], (Student("20230001", "A"),))
    assert m.matches[0].student and m.matches[1].student is None and "already matched" in m.matches[1].note


def test_batch_metadata_file(tmp_path):
    (tmp_path / "submission_metadata.json").write_text(json.dumps({"submission_1": {":created_at": "x"}}))
    assert roster.load_gradescope(tmp_path) == {"submission_1": {":created_at": "x"}}
    (tmp_path / "submission_metadata.json").write_text("{")
    with pytest.raises(RosterError, match="not readable JSON"):
        roster.load_gradescope(tmp_path)
