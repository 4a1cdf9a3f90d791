"""Class-level tables: grades.csv (one row per submission) and junit.xml (one case per check).

grades.csv starts with a UTF-8 byte order mark: Excel on a Korean Windows reads a CSV without one as
CP949 and garbles Hangul names; with it, Excel, LibreOffice, Google Sheets and pandas read UTF-8
(Python's csv module: open it with encoding="utf-8-sig"). Its column keys and values stay English
and machine-readable (an LMS import reads them); only names may be in any script. Every cell goes
through grader.csvcells: a name that begins like a formula is written as text.
"""
from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from .. import course, outputs
from ..csvcells import table
from ..files import write_atomic
from ..i18n import _
from ..results import PARTS, Outcome, SubmissionResult, status_label

BOM = "\ufeff"


def grades_csv(results: list[SubmissionResult]) -> str:
    parts = [p for p in PARTS if any(p in r.parts() for r in results)]
    who, late = course.columns(results)  # roster and late-penalty columns, when the batch has them
    # "name" is the entry as handed in; "folder" the unique folder its results are in.
    rows = [["name", *who.head, *parts, "total", *late.head, "max", "percent", "status", "seconds", "folder"]]
    for r in results:
        scores = r.parts()
        rows.append([r.display, *who.row(r), *(f"{scores[p][0]:g}" if p in scores else "" for p in parts),
                     f"{r.score:g}", *late.row(r), f"{r.max_score:g}", f"{r.percent:.1f}", status_label(r),
                     f"{r.duration:.1f}", r.name])
    return table(rows)


def junit_xml(results: list[SubmissionResult]) -> str:
    suites = ET.Element("testsuites", name="reglab")
    for r in results:
        suite = ET.SubElement(suites, "testsuite", name=r.name, tests=str(len(r.checks)),
                              failures=str(sum(c.outcome is Outcome.FAILED for c in r.checks)),
                              errors=str(sum(c.outcome not in (Outcome.PASSED, Outcome.FAILED, Outcome.SKIPPED)
                                             for c in r.checks)),
                              skipped=str(sum(c.outcome is Outcome.SKIPPED for c in r.checks)),
                              time=f"{r.duration:.3f}")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="status", value=status_label(r))
        ET.SubElement(props, "property", name="submitted_as", value=r.display)
        for c in r.checks:
            case = ET.SubElement(suite, "testcase", classname=f"{r.name}.{c.part}", name=c.id, time=f"{c.duration:.3f}")
            text = "\n".join(x for x in (c.message, c.mistake and _("Likely mistake:") + " " + c.mistake, c.hint) if x)
            if c.outcome is Outcome.FAILED:
                ET.SubElement(case, "failure", message=c.message[:200]).text = text
            elif c.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped", message=c.message[:200])
            elif c.outcome is not Outcome.PASSED:
                ET.SubElement(case, "error", type=c.outcome.value, message=c.message[:200]).text = text
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write(results: list[SubmissionResult], out_dir: Path) -> None:
    write_atomic(out_dir / outputs.GRADES_CSV, BOM + grades_csv(results))
    write_atomic(out_dir / outputs.JUNIT_XML, junit_xml(results))
