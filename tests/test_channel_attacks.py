"""Attacks on the data channel, graded the way a TA grades: ``python -m grader grade`` on one batch
that holds every attack and a correct neighbour (a copy of solution/).

Each attack is a submission written as an attacker would write it: it finds the grader's writer
in its own process (``gc``), reads the nonce, writes frames to the result descriptor, squats and
links the file names the grader once used. The batch is graded once, in a child process whose
peak memory (VmHWM) is measured; each test asserts what its attack must (not) achieve, and
every test asserts the neighbour's full marks and the class files. Times are recorded by
bench/bench_channel.py, never asserted.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROBE_NAMES = ("pen.l1_mlp", "pen.l2_mlp", "pen.l1_other", "pen.l2_other", "pen.penalized", "model.structure",
               "data.stats_a", "train.seed", "train.epoch")
OLD_NAMES = ("output.log", "request.json", "out", "out/imports.json", "out/.imports.json",
             *[f"out/{p}.{ext}" for p in PROBE_NAMES for ext in ("json", "npz")])

# What an attacker reaches for first: the grader's writer object, found in its own process.
FIND_WRITER = '''
import gc, os, struct
def _writer():
    for obj in gc.get_objects():
        if type(obj).__name__ == "Writer" and hasattr(obj, "nonce"):
            return obj
    raise RuntimeError("no writer")
def _send(data):
    w = _writer()
    view = memoryview(data)
    while view:
        view = view[os.write(w.fd, view):]
def _header(meta_len, blob_len):
    return b"RGLF" + _writer().nonce + struct.pack(">IQ", meta_len, blob_len)
'''

ATTACKS: dict[str, dict[str, str]] = {
    # Results for probes that never ran: at import, before any probe started, frames carrying the
    # answers (the release's expected values) for every penalty probe, and the old result files.
    "never_ran": {"penalties.py": FIND_WRITER + '''
import json, numpy as np
encode = type(_writer()).send.__globals__["encode"]  # the guard hides grader modules, not what the writer holds
ANSWERS = json.loads(__ANSWERS__)
for probe, values in ANSWERS.items():
    arrays = {k: np.array(v) for k, v in values.items() if isinstance(v, list)}
    plain = {k: v for k, v in values.items() if not isinstance(v, list)}
    _send(encode(_writer().nonce, {"kind": "result", "probe": probe, "status": "ok", "values": plain}, arrays))
    os.makedirs("out", exist_ok=True)
    with open(f"out/{probe}.json", "w") as fh:
        json.dump({"status": "ok", "values": plain}, fh)
    np.savez(f"out/{probe}.npz", **arrays)
'''},
    # The whole protocol forged in order, at import: the request read from the worker's own frames, the
    # imports and "ready" sent, then start and result for every probe asked (the release's public answers
    # where it has them), then a clean exit. Well formed, so accepted: worth what public answers are
    # worth on the course's secret inputs, nothing.
    "in_order": {"penalties.py": FIND_WRITER + '''
import json, sys, numpy as np
ANSWERS = json.loads(__ANSWERS__)
frame = sys._getframe()
while frame is not None and "req" not in frame.f_locals:
    frame = frame.f_back
req = frame.f_locals["req"]
for module in ("model", "data", "train"):
    _writer().send({"kind": "import", "module": module})
_writer().send({"kind": "ready", "errors": {}})
for probe in req["probes"]:
    _writer().send({"kind": "start", "probe": probe})
    values = ANSWERS.get(probe, {})
    _writer().send({"kind": "result", "probe": probe, "status": "ok",
                    "values": {k: v for k, v in values.items() if not isinstance(v, list)}},
                   {k: np.array(v) for k, v in values.items() if isinstance(v, list)})
sys.stdout.flush()
os._exit(0)
'''},
    # A directory or a FIFO in place of every name the grader used to open (the new design has none).
    "squat": {"data.py": '''
import os
for i, name in enumerate(__OLD_NAMES__):
    try:
        if os.path.isdir(name) and not os.listdir(name):
            os.rmdir(name)
        elif os.path.lexists(name):
            os.unlink(name)
        os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
        os.mkfifo(name) if i % 2 else os.mkdir(name)
    except OSError:
        pass
'''},
    # Every name in the work folder (and every old one) made a link to a file outside it.
    "symlinks": {"train.py": '''
import os
for name in sorted(set(os.listdir(".")) | set(__OLD_NAMES__)):
    target = __VICTIMS__ + "/" + ("dir" if name in ("home", "inputs", "sub", "out") else "file.txt")
    try:
        if os.path.isdir(name) and not os.path.islink(name):
            os.rename(name, "." + name + "-moved")
        elif os.path.lexists(name):
            os.unlink(name)
        os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
        os.symlink(target, name)
    except OSError:
        pass
'''},
    # Frames that pass a cap, sent while the probe that calls l1_penalty on the MLP runs.
    "frame_8tb": {"penalties.py": FIND_WRITER + '''
def _attack():
    meta = b'{"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": {}, "arrays": [["x", "<f8", [1099511627776]]]}'
    _send(_header(len(meta), 8 << 40) + meta + b"\\0" * 65536)
'''},
    "frame_members": {"penalties.py": FIND_WRITER + '''
import json
def _attack():
    meta = json.dumps({"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": {},
                       "arrays": [[f"m{i}", "|b1", [1]] for i in range(100_000)]}).encode()
    _send(_header(len(meta), 100_000) + meta + b"\\1" * 100_000)
'''},
    "frame_object": {"penalties.py": FIND_WRITER + '''
import pickle
def _attack():
    blob = pickle.dumps([1.0, 2.0])
    meta = b'{"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": {}, "arrays": [["value", "|O", [1]]]}'
    _send(_header(len(meta), len(blob)) + meta + blob)
'''},
    "frame_inflate": {"penalties.py": FIND_WRITER + '''
import io, zipfile, numpy as np
def _attack():
    # the old trick, a small npz that inflates to 256 MB, left where results used to be read ...
    os.makedirs("out", exist_ok=True)
    with zipfile.ZipFile("out/pen.l1_mlp.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("value.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (32 << 20,)})
            for _ in range(8):
                fh.write(bytes(32 << 20))
    # ... and a frame whose arrays are 40 times the probe cap, sent in full
    n = 40 * (16 << 20)
    meta = ('{"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": {}, '
            '"arrays": [["value", "|u1", [%d]]]}' % n).encode()
    _send(_header(len(meta), n) + meta)
    chunk = bytes(1 << 20)
    for _ in range(n >> 20):
        _send(chunk)
'''},
    # 200k-deep JSON, as a frame and as the old imports file.
    "deep_json": {"penalties.py": FIND_WRITER + '''
def _attack():
    meta = b'{"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": {"v": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    with open("imports.json", "wb") as fh:
        fh.write(b"[" * 200_000 + b"]" * 200_000)
    _send(_header(len(meta), 0) + meta)
'''},
    # 50 MB strings in every field a student can fill: messages, import errors, printed output, a
    # type name, and a frame's message.
    "strings50": {
        "penalties.py": FIND_WRITER + '''
import torch
def _attack():
    raise ValueError("M" * 50_000_000)
def _l2(model):
    cls = type("T" * 50_000_000, (torch.Tensor,), {})
    return torch.Tensor._make_subclass(cls, _good_l2(model).detach(), True)
''',
        "model.py": 'print("P" * 50_000_000)\n',
        "data.py": 'raise RuntimeError("D" * 50_000_000)\n',
        "train.py": FIND_WRITER + '''
_real_set_seed = set_seed
def set_seed(seed):
    meta = ('{"kind": "result", "probe": "train.seed", "status": "raised", "message": "' + "S" * 50_000_000 + '"}').encode()
    _send(_header(len(meta), 0) + meta)
'''},
    # Terminal escapes (CSI, OSC 52 clipboard, OSC 8 links, BEL, C1) and HTML in messages, names
    # and output.
    "ansi": {
        "penalties.py": '''
import torch
EVIL = "\\x1b]52;c;cm0gLXJmIH4K\\x07\\x1b[2J\\x1b[31m\\x9b1A\\x9d0;pwned\\x9c\\x07<script>alert(1)</script>"
def _attack():
    raise ValueError(EVIL)
def _l2(model):
    cls = type("Evil" + EVIL, (torch.Tensor,), {})
    return torch.Tensor._make_subclass(cls, _good_l2(model).detach(), True)
''',
        "model.py": 'import sys\nprint("\\x1b]0;title\\x07\\x1b[2J\\x1b]8;;http://evil\\x07link\\x1b]8;;\\x07")\n'
                    'sys.stderr.write("\\x1b]52;c;ZXZpbA==\\x07\\x1b[?1049h\\r\\n")\n',
        "data.py": 'raise RuntimeError("\\x1b]52;c;ZXZpbA==\\x07\\x1b[5m<b>import</b>\\x07")\n',
    },
    # The old status words and garbage written to every descriptor up to 1100 (the result one too).
    "forged_spray": {"train.py": '''
import os
for fd in range(0, 1100):
    try:
        os.write(fd, b"R\\nE\\nI torch\\nS train.seed\\nE\\nR\\n")
    except OSError:
        pass
'''},
    # Forged frames that pretend the worker is starting again, then a crash: the student's.
    "forged_crash": {"train.py": FIND_WRITER + '''
import signal
def set_seed(seed):
    print("I torch\\nR\\nE", flush=True)
    _send(_header(17, 0) + b'{"kind": "hello"}')
    os.kill(os.getpid(), signal.SIGSEGV)
'''},
}
# What each attack must cost: parts that keep full marks (every other part may lose points).
FULL_PARTS = {"never_ran": (), "in_order": (), "squat": ("penalties", "model", "data", "train"),
              # train.py's links replace the submission's own folder, which the worker reads again to grade
              # train against the stand-in penalties: that costs its own train part only.
              "symlinks": ("penalties", "model", "data"), "frame_8tb": ("model", "data", "train"),
              "frame_members": ("model", "data", "train"), "frame_object": ("model", "data", "train"),
              "frame_inflate": ("model", "data", "train"), "deep_json": ("model", "data", "train"),
              "strings50": ("model",), "ansi": ("model", "train"), "forged_spray": ("penalties", "model", "data"),
              "forged_crash": ("penalties", "model", "data")}
STUBS = ("never_ran", "in_order")  # attacks added to the untouched stubs, not to the reference
CORRUPTED = ("never_ran", "frame_8tb", "frame_members", "frame_object", "frame_inflate", "deep_json",
             "forged_spray", "strings50", "forged_crash")
# The batch is graded once, in the first test's set-up: 14 submissions, several worker restarts each.
pytestmark = pytest.mark.timeout(1800)
ESCAPES = ("\x1b", "\x07", "\x9b", "\x9d", "\x9c", "\\u001b", "\\u0007", "\\u009b", "\\u009d")


def _penalties_with(attack: str) -> str:
    """The reference's penalties with l1_penalty calling the attack on the MLP probe's network
    (and l2_penalty replaced by ``_l2`` where the attack defines one)."""
    text = (REPO / "solution" / "penalties.py").read_text(encoding="utf-8")
    text = text.replace("def l1_penalty(", "def _good_l1(").replace("def l2_penalty(", "def _good_l2(")
    return text + "\n" + attack + textwrap.dedent('''
        def l1_penalty(model, *args, **kwargs):
            if type(model).__name__ == "PenaltyMLP" and "_attack" in globals():
                _attack()
            return _good_l1(model, *args, **kwargs)

        def l2_penalty(model, *args, **kwargs):
            if "_l2" in globals():
                return _l2(model)
            return _good_l2(model, *args, **kwargs)
        ''')


def _build(root: Path, victims: Path, answers: dict) -> None:
    shutil.copytree(REPO / "solution", root / "good")
    for name, files in ATTACKS.items():
        folder = root / name
        shutil.copytree(REPO / ("assignment" if name in STUBS else "solution"), folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
        for file, text in files.items():
            text = (text.replace("__OLD_NAMES__", repr(OLD_NAMES)).replace("__VICTIMS__", repr(str(victims)))
                    .replace("__ANSWERS__", repr(json.dumps(answers))))
            if file == "penalties.py" and name not in STUBS:
                text = _penalties_with(text)
            elif file == "penalties.py":
                text = (REPO / "assignment" / "penalties.py").read_text(encoding="utf-8") + text
            elif name not in STUBS:
                text = (REPO / "solution" / file).read_text(encoding="utf-8") + "\n" + text
            (folder / file).write_text(text, encoding="utf-8")
    # A file name with escapes (a link, so it is left out and named in the problems).
    (root / "ansi" / "\x1b]52;c;ZXZpbA==\x07\x1b[2Jnotes.py").symlink_to(root / "ansi" / "model.py")


# Generous step limits: on a loaded 2-core machine importing torchvision alone can pass the default
# 20 s, and a timeout would hide what the attack did. (The attacks here never hang.)
SLOW_MACHINE = {"REGLAB_IMPORT_TIMEOUT": "120", "REGLAB_PROBE_TIMEOUT": "120", "REGLAB_TOTAL_TIMEOUT": "900"}
GRADE = '''
import resource, runpy, sys
sys.argv = ["grader", "grade", sys.argv[1], "--out", sys.argv[2], "--no-training", "--jobs", "2"]
try:
    runpy.run_module("grader", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
# VmHWM is this process's own peak; ru_maxrss after exec may still count the forking parent's pages.
try:
    peak = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("PEAK_RSS_KB", peak, file=sys.stderr)
'''


@pytest.fixture(scope="module")
def batch(tmp_path_factory, expected):
    """Grades the batch once; returns (out folder, results by name, terminal text, peak RSS in MB, victims)."""
    root = tmp_path_factory.mktemp("channel-attacks")
    victims = root / "victims"
    (victims / "dir").mkdir(parents=True)
    secret = f"VICTIM-SECRET-{uuid.uuid4().hex}"
    (victims / "file.txt").write_text(secret + "\n")
    (victims / "dir" / "inside.txt").write_text(secret + "\n")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in victims.rglob("*") if p.is_file()}
    answers = {p: {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in expected.reference(p).values.items()}
               for p in ("pen.l1_mlp", "pen.l2_mlp", "pen.l1_other", "pen.l2_other")}
    subs = root / "submissions"
    subs.mkdir()
    _build(subs, victims, answers)
    out = root / "out"
    proc = subprocess.run([sys.executable, "-c", GRADE, str(subs), str(out)], cwd=REPO, capture_output=True,
                          timeout=1800, env={**os.environ, **SLOW_MACHINE, "TERM": "xterm-256color"}, check=False)
    terminal = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and "PEAK_RSS_KB" in terminal, terminal[-4000:]
    peak_mb = int(terminal.rsplit("PEAK_RSS_KB", 1)[1].split()[0]) / 1024
    results = {}
    for path in out.glob("*/results.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        results[path.parent.name] = data["extra_data"]["reglab"]
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in victims.rglob("*") if p.is_file()}
    return {"out": out, "results": results, "terminal": terminal, "peak_mb": peak_mb, "secret": secret,
            "victims_changed": before != after, "victim_files": sorted(map(str, after))}


def _parts(result: dict) -> dict[str, tuple[float, float]]:
    parts: dict[str, list[float]] = {}
    for c in result["checks"]:
        got = parts.setdefault(c["part"], [0.0, 0.0])
        got[0] += c["score"]
        got[1] += c["max_score"]
    return {k: (round(a, 6), round(b, 6)) for k, (a, b) in parts.items()}


def _texts(result: dict) -> list[str]:
    texts = [result.get("output") or "", *result.get("problems", ())]
    for c in result["checks"]:
        texts += [str(c.get(k) or "") for k in ("message", "expected", "got", "hint", "mistake", "location", "traceback")]
    return texts


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack(batch, attack):
    results = batch["results"]
    assert attack in results, sorted(results)
    res = results[attack]
    describe = json.dumps(res, indent=1)[:6000]
    # The neighbour, the class files and the grader's memory, whatever the attack.
    assert all(c["outcome"] == "passed" for c in results["good"]["checks"]), results["good"]
    for name in ("grades.csv", "junit.xml", "index.html"):
        assert (batch["out"] / name).is_file(), name
    assert (batch["out"] / attack / "index.html").is_file()
    assert batch["peak_mb"] < 300, f"the grader's peak memory was {batch['peak_mb']:.0f} MB"
    # Blame: nothing here is the grader's fault.
    assert not res.get("grader_error") and all(c["outcome"] != "grader_error" for c in res["checks"]), describe
    parts = _parts(res)
    for part in FULL_PARTS[attack]:
        assert parts[part][0] == parts[part][1] > 0, f"{part} must keep full marks: {parts}\n{describe}"
    assert sum(s for s, _ in parts.values()) < sum(m for _, m in parts.values()) or attack in ("squat", "symlinks")
    if attack in CORRUPTED:
        assert any("corrupted the grader's channel" in t for t in _texts(res)), describe
    # Bounded and clean: no field holds more than a few thousand characters or any escape.
    for text in _texts(res):
        assert len(text) < 70_000 and not any(e in text for e in ESCAPES[:5]), repr(text[:300])
    if attack == "never_ran":
        assert parts["penalties"][0] == 0, f"forged results were accepted: {parts}"
    if attack == "in_order":
        assert sum(s for s, _ in parts.values()) == 0, f"forged public answers scored on secret inputs: {parts}"
    if attack == "symlinks":
        assert not batch["victims_changed"], batch["victim_files"]
        everything = "".join(p.read_text(errors="replace") for p in batch["out"].rglob("*") if p.is_file())
        assert batch["secret"] not in everything and batch["secret"] not in batch["terminal"]


def test_no_escape_reaches_the_terminal_the_csv_or_the_reports(batch):
    assert not any(e in batch["terminal"] for e in ESCAPES if e not in ("\x1b",)), repr(batch["terminal"][-2000:])
    # The progress bar's own "\r\033[K" only on a terminal: here stderr is a pipe, so no ESC at all.
    assert "\x1b" not in batch["terminal"]
    for path in batch["out"].rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not any(e in text for e in ESCAPES), (path, [e for e in ESCAPES if e in text])
    with open(batch["out"] / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(ATTACKS) + 2  # header, the attacks, the neighbour
    html = (batch["out"] / "ansi" / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
