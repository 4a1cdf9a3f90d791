"""What the grader writes at the top of an output folder, beside each submission's folder.

One list: the writers take their file names from here, and intake allocates no submission a folder
under any of these names (case-insensitively), so a hand-in called ``canvas.csv`` or ``similarity``
can neither break an export nor be overwritten by one. Hidden files (the course secret, atomic
writes' temporary files) need no entry: a submission's folder name never starts with a dot.
"""
from __future__ import annotations

GRADES_CSV = "grades.csv"
JUNIT_XML = "junit.xml"
SUMMARY_HTML = "index.html"      # the class summary (each submission's report has the same name in its folder)
ROSTER_TXT = "roster.txt"        # grade --roster: who matched whom
SIMILARITY = "similarity"        # the similarity command's folder
EXPORT_FORMATS = ("canvas", "moodle", "blackboard", "csv")


def export_file(fmt: str) -> str:
    """The export command's default file for ``fmt``."""
    return f"{fmt}.csv"


RESERVED = frozenset({GRADES_CSV, JUNIT_XML, SUMMARY_HTML, ROSTER_TXT, SIMILARITY,
                      *(export_file(f) for f in EXPORT_FORMATS)})
