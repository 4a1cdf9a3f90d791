"""Text that came from a student's process, made safe to store and show: capped, no control codes.

Every string that reaches a result (messages, locations, tracebacks, printed output, module
errors, file and module names, string values) goes through ``clean`` once, when it enters the
grader. What it removes would otherwise act on the TA's terminal or spreadsheet: ANSI CSI
sequences (colours, cursor moves, screen clears), OSC (window titles, hyperlinks, OSC 52 clipboard
writes), DCS/APC/PM/SOS strings, lone escapes, BEL, the 8-bit C1 controls, DEL, and the Unicode
direction overrides that make text read differently from what it is. Newlines and tabs stay;
a carriage return becomes a newline (``\\r`` would let a line overwrite the one before it).
"""
from __future__ import annotations

import re

DEFAULT_CAP = 4000

# ESC-introduced sequences first (whole, so their parameters do not survive as text), then what is left.
_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[\x20-\x3f]*[\x40-\x7e]?"                      # CSI ... final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"                                 # other escapes (charset, keypad, ...)
)
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: object, cap: int = DEFAULT_CAP) -> str:
    """``value`` as text of at most ``cap`` characters (plus a note of how much was cut), with
    every terminal escape sequence and control character removed.

    The input is cut before it is searched, so a 50 MB string costs no more than a short one.
    """
    text = value if isinstance(value, str) else str(value)
    total = len(text)
    text = text[: cap * 2 + 64]  # sequences removed below rarely shrink real text by half
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", _SEQUENCES.sub("", text))
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be written out
    if len(text) > cap or total > cap * 2 + 64:
        return text[:cap] + f"… [cut: {total} characters in all]"
    return text


def shown_name(original: str) -> str:
    """A submission's name as handed in, as every page and terminal shows it (no escape sequences)."""
    return clean(original, 300)
