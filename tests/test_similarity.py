"""The similarity report on a batch where two submissions share a renamed copy of one part:
that pair tops its part, independently written variants stay under the threshold, the stub's own
code never counts, the page escapes the code, and no grade changes."""
import re
import zipfile
from pathlib import Path

from grader import cli, similarity
from grader.writers import gradescope
from grader.results import SubmissionResult

VARIANTS = Path(__file__).parent / "fixtures" / "variants"
ROOT = Path(__file__).resolve().parent.parent


def renamed(code: str) -> str:
    """What a copier does: other names, other comments, other blank lines."""
    for old, new in (("total", "acc"), ("module", "layer"), ("term", "piece"), ("reg", "pen")):
        code = re.sub(rf"\b{old}\b", new, code)
    code = code.replace("# no Linear layer at all", "# nothing found")
    return code.replace('"""Variant: explicit loops with running totals; kind dispatch with if/elif/else."""',
                        "# my own work").replace("\n\n\n", "\n\n")


def make_batch(tmp_path):
    subs = tmp_path / "subs"
    sources = {"alice": VARIANTS / "loops_accumulate", "bob": VARIANTS / "penalty_table",
               "carol": VARIANTS / "student_rewrite", "dave": VARIANTS / "norm_functions"}
    for name, src in sources.items():
        (subs / name).mkdir(parents=True)
        (subs / name / "penalties.py").write_text((src / "penalties.py").read_text())
        (subs / name / "model.py").write_text((ROOT / "assignment" / "model.py").read_text())  # the untouched stub
    copy = renamed((VARIANTS / "loops_accumulate" / "penalties.py").read_text())
    with zipfile.ZipFile(subs / "mallory.zip", "w") as zf:   # the copier hands in a zip
        zf.writestr("lab/penalties.py", copy)
        zf.writestr("lab/model.py", (ROOT / "assignment" / "model.py").read_text() + "\n# <script>alert(1)</script>\n")
    out = tmp_path / "out"
    for entry in sorted(subs.iterdir()):
        name = entry.stem
        result = SubmissionResult(name=name, checks=(), extra={"entry": entry.name, "entry_path": str(entry)})
        gradescope.write(result, out / name)
    return subs, out


def test_the_renamed_copy_tops_its_part_and_nothing_else_is_flagged(tmp_path):
    subs, out = make_batch(tmp_path)
    before = {p: p.read_text() for p in out.glob("*/results.json")}
    assert cli.main(["similarity", str(out)]) == 0
    page = (out / "similarity" / "index.html").read_text()
    codes = similarity.collect([gradescope.read(p) for p in sorted(out.glob("*/results.json"))])
    pairs = similarity.compare(codes, threshold=0.7)
    assert [(p.a, p.b) for p in pairs["penalties"]] == [("alice", "mallory")]
    assert pairs["penalties"][0].similarity > 0.95
    assert pairs["model"] == []                     # five copies of the stub: boilerplate, not similarity
    everything = similarity.compare(codes, threshold=0.0)["penalties"]
    others = [p.similarity for p in everything if {p.a, p.b} != {"alice", "mallory"}]
    assert max(others) < 0.7   # independent loop-style variants share ~54%: short code looks alike
    assert "<mark>" in page and "alice" in page and "mallory" in page
    assert "<script>" not in page
    assert {p: p.read_text() for p in out.glob("*/results.json")} == before   # no grade changed


def test_the_boilerplate_option_excludes_given_code(tmp_path):
    subs, out = make_batch(tmp_path)
    given = tmp_path / "template.py"
    given.write_text((VARIANTS / "loops_accumulate" / "penalties.py").read_text())
    codes = similarity.collect([gradescope.read(p) for p in sorted(out.glob("*/results.json"))])
    pairs = similarity.compare(codes, threshold=0.7, boilerplate=[given])
    assert pairs["penalties"] == []                 # what everyone was given is no evidence
