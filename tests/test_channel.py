"""The data channel's decoder, protocol and cleaning, byte by byte (no worker started here).

End-to-end attacks through ``grade`` are in test_channel_attacks.py.
"""
import json
import struct

import numpy as np
import pytest

from grader.channel import Caps, ChannelError, Decoder, Protocol, json_depth
from grader.text import clean
from grader.worker.frames import HEADER, MAGIC, encode

NONCE = b"\x01" * 8
PROBES = ["pen.l1_mlp", "pen.l2_mlp"]


def session(probes=PROBES, caps=None):
    caps = caps or Caps()
    protocol = Protocol(list(probes), ("penalties", "model"), caps)
    return protocol, Decoder(NONCE, protocol, [caps.submission_bytes])


def frame(meta, arrays=None, nonce=NONCE):
    return encode(nonce, meta, arrays)


def raw(meta_bytes: bytes, blob: bytes = b"", *, blob_len=None, nonce=NONCE):
    return HEADER.pack(MAGIC, nonce, len(meta_bytes), len(blob) if blob_len is None else blob_len) + meta_bytes + blob


def started(decoder, probe="pen.l1_mlp"):
    decoder.feed(frame({"kind": "hello"}) + frame({"kind": "jailed"}) + frame({"kind": "import", "module": "penalties"})
                 + frame({"kind": "ready", "errors": {}}) + frame({"kind": "start", "probe": probe}))


def result(probe="pen.l1_mlp", values=None, arrays=None, **meta):
    return frame({"kind": "result", "probe": probe, "status": "ok", "values": values or {}, **meta}, arrays)


def test_a_well_formed_run_gives_plain_bounded_results():
    protocol, decoder = session()
    started(decoder)
    grad = np.arange(12, dtype=np.float64).reshape(3, 4)
    # Fed one byte at a time: frames cut anywhere are put back together.
    for byte in result(values={"value": 1.5, "type": "torch.Tensor", "ok": True},
                       arrays={"grad": grad, "mask": grad > 3, "ids": np.arange(3, dtype=np.int64)}):
        decoder.feed(bytes([byte]))
    got = protocol.results["pen.l1_mlp"]
    assert got.ok and got.values["value"] == 1.5 and got.values["type"] == "torch.Tensor"
    assert np.array_equal(got.values["grad"], grad) and got.values["grad"].flags.writeable
    assert got.values["mask"].dtype == np.bool_ and got.values["ids"].dtype == np.int64
    assert protocol.step is None and protocol.student and not protocol.done
    decoder.feed(frame({"kind": "start", "probe": "pen.l2_mlp"}) + result("pen.l2_mlp"))
    assert protocol.done


@pytest.mark.parametrize("frames, why", [
    ([{"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": {}}], "before the worker started"),
    ([{"kind": "hello"}, {"kind": "jailed"}, {"kind": "ready", "errors": {}},
      {"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": {}}], "a result for a probe never started"),
    ([{"kind": "hello"}, {"kind": "jailed"}, {"kind": "ready", "errors": {}}, {"kind": "start", "probe": "pen.l2_mlp"}],
     "probes out of the asked order"),
    ([{"kind": "hello"}, {"kind": "jailed"}, {"kind": "ready", "errors": {}}, {"kind": "start", "probe": "train.seed"}],
     "a probe not asked for"),
    ([{"kind": "hello"}, {"kind": "jailed"}, {"kind": "ready", "errors": {}}, {"kind": "start", "probe": "pen.l1_mlp"},
      {"kind": "result", "probe": "pen.l2_mlp", "status": "ok", "values": {}}], "a result for another probe"),
    ([{"kind": "hello"}, {"kind": "jailed"}, {"kind": "import", "module": "train"}], "an import not asked for"),
    ([{"kind": "hello"}, {"kind": "jailed"}, {"kind": "ready", "errors": {"model": "x"}}], "errors of a module never imported"),
    ([{"kind": "hello"}, {"kind": "jailed"}, {"kind": "hello"}], "hello twice"),
    ([{"kind": "hello"}, {"kind": "jailed"}, {"kind": "ready", "errors": {}}, {"kind": "start", "probe": "pen.l1_mlp"},
      {"kind": "result", "probe": "pen.l1_mlp", "status": "passed", "values": {}}], "an unknown status"),
])
def test_frames_out_of_turn_are_refused(frames, why):
    protocol, decoder = session()
    with pytest.raises(ChannelError):
        decoder.feed(b"".join(frame(f) for f in frames))
    assert not protocol.results, why


def test_results_accepted_before_a_violation_stay_and_nothing_after():
    protocol, decoder = session()
    started(decoder)
    decoder.feed(result(values={"v": 1.0}))
    with pytest.raises(ChannelError):
        decoder.feed(result(values={"v": 2.0}))  # a second result for the same probe
    assert list(protocol.results) == ["pen.l1_mlp"] and protocol.results["pen.l1_mlp"].values == {"v": 1.0}
    protocol, decoder = session()
    started(decoder)
    decoder.feed(result(values={"v": 1.0}))
    with pytest.raises(ChannelError):
        decoder.feed(b"R\nE\nS pen.l2_mlp\nE\nR\nE\nS pen.l2_mlp\n")  # the old status lines: not frames
    assert list(protocol.results) == ["pen.l1_mlp"] and protocol.results["pen.l1_mlp"].values == {"v": 1.0}


def test_another_runs_nonce_is_refused():
    _, decoder = session()
    with pytest.raises(ChannelError, match="not a frame of this run"):
        decoder.feed(frame({"kind": "hello"}, nonce=b"\x02" * 8))


@pytest.mark.parametrize("attack", ["8 TB header", "metadata over the cap", "arrays outside a result",
                                    "arrays over the probe cap"])
def test_lengths_are_refused_from_the_header_before_the_body_is_read(attack):
    _, decoder = session()
    started(decoder)
    meta = json.dumps({"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": {}}).encode()
    data = {"8 TB header": raw(meta, blob_len=8 << 40),
            "metadata over the cap": HEADER.pack(MAGIC, NONCE, (4 << 30) - 1, 0),
            "arrays outside a result": b"",
            "arrays over the probe cap": raw(meta, blob_len=Caps().probe_bytes + 1)}[attack]
    if attack == "arrays outside a result":
        _, decoder = session()
        data = raw(b'{"kind": "hello"}', blob_len=16)
    with pytest.raises(ChannelError):
        decoder.feed(data)  # only the header: nothing else was sent, and nothing else is waited for
    assert len(decoder.buffer) <= HEADER.size + len(meta)


def test_the_submission_budget_counts_every_byte():
    caps = Caps(submission_bytes=1000)
    _, decoder = session(caps=caps)
    with pytest.raises(ChannelError, match="in all"):
        decoder.feed(b"\0" * 1001)


def _result_meta(arrays, values=None):
    return {"kind": "result", "probe": "pen.l1_mlp", "status": "ok", "values": values or {}, "arrays": arrays}


@pytest.mark.parametrize("arrays, blob", [
    ([["x", "|O", [2]]], b"\0" * 16),                              # object dtype (pickles)
    ([["x", "|V8", [2]]], b"\0" * 16),                             # structured / void
    ([["x", "<U2", [2]]], b"\0" * 16),                             # text arrays
    ([["x", "<c16", [1]]], b"\0" * 16),                            # complex
    ([["x", ">f8", [2]]], b"\0" * 16),                             # big-endian
    ([["x", "<f8", [4]]], b"\0" * 16),                             # fewer bytes than the shape needs
    ([["x", "<f8", [1]]], b"\0" * 16),                             # bytes no array accounts for
    ([["x", "<f8", [-2]]], b""),                                   # negative dimension
    ([["x", "<f8", [1] * 40]], b"\0" * 8),                         # too many dimensions
    ([["x", "<f8", [1 << 40, 1 << 40]]], b""),                     # 2**80 elements announced
    ([["x", "<f8", [1]], ["x", "<f8", [1]]], b"\0" * 16),          # one key twice
    ([["\x1b]52;c;aGk=\x07", "<f8", [1]]], b"\0" * 8),             # a key with escapes
    ([[f"k{i}", "|b1", [0]] for i in range(100_000)], b""),        # 100k members
])
def test_arrays_other_than_plain_numbers_of_sane_shapes_are_refused(arrays, blob):
    protocol, decoder = session()
    started(decoder)
    with pytest.raises(ChannelError):
        decoder.feed(raw(json.dumps(_result_meta(arrays)).encode(), blob))
    assert "pen.l1_mlp" not in protocol.results


def test_too_many_elements_in_all_are_refused_even_when_each_array_is_small():
    caps = Caps(probe_elements=1000)
    _, decoder = session(caps=caps)
    started(decoder)
    with pytest.raises(ChannelError, match="elements"):
        decoder.feed(result(arrays={f"a{i}": np.zeros(300) for i in range(4)}))


@pytest.mark.parametrize("values", [
    {"x": [1, 2]}, {"x": {"y": 1}}, {"x": 10 ** 30}, {"": 1.0}, {"k" * 300: 1.0},
])
def test_values_other_than_flat_numbers_and_text_are_refused(values):
    _, decoder = session()
    started(decoder)
    with pytest.raises(ChannelError):
        decoder.feed(result(values=values))


@pytest.mark.parametrize("head", [
    b"[" * 200_000 + b"]" * 200_000,
    b'{"kind": "hello", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b"\xff\xfe not utf-8",
    b'{"kind": "hello"',
    b'"just a string"',
    b'{"kind": 5}',
    b'{"kind": "hello", "n": 1' + b"0" * 5000 + b"}",  # an int Python refuses to parse
])
def test_bad_or_deep_json_is_refused(head):
    _, decoder = session()
    with pytest.raises(ChannelError):
        decoder.feed(raw(head))


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth(b'{"a": "[[[[[[[[[[{{{{{{{", "b": [[1]]}') == 3
    assert json_depth(b'["\\"[[[[[["]') == 1


def test_strings_are_cleaned_and_capped_and_a_worker_claiming_grader_error_is_not_believed():
    protocol, decoder = session()
    started(decoder)
    evil = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m\x07boom\r\x1b[1A" + "x" * 60_000
    decoder.feed(frame({"kind": "result", "probe": "pen.l1_mlp", "status": "grader", "message": evil,
                        "location": evil, "traceback": evil}))
    got = protocol.results["pen.l1_mlp"]
    assert got.status == "worker"  # the student's result: only the grader's side decides "grader error"
    for text in (got.message, got.location, got.traceback):
        assert text.startswith("boom\n") and len(text) < 4100
        assert not any(c in text for c in "\x1b\x07\x9b\r")


@pytest.mark.parametrize("text, want", [
    ("plain\ttext\nline", "plain\ttext\nline"),
    ("\x1b[31mred\x1b[0m", "red"),
    ("\x1b]0;title\x07after", "after"),
    ("\x1b]52;c;aGVsbG8=\x1b\\after", "after"),          # OSC 52 (clipboard) ended by ST
    ("\x1b]8;;http://evil\x07link\x1b]8;;\x07", "link"),  # hyperlink
    ("\x1bPq#0;2;0;0;0\x1b\\after", "after"),             # DCS (sixel)
    ("\x9b2J\x9d0;t\x9cafter", "after"),                  # 8-bit CSI, OSC, ST
    ("bell\x07\x00\x7f", "bell"),
    ("a\rb", "a\nb"),
    ("\u202eevil\u2066", "evil"),
    ("\x1b[", ""), ("\x1b", ""),
    ("한국어 ✓", "한국어 ✓"),
])
def test_clean_removes_terminal_controls(text, want):
    assert clean(text) == want


def test_clean_cuts_before_it_searches():
    out = clean("\x1b[31m" * 10_000_000 + "y" * 50_000_000, 100)
    assert len(out) < 200 and "cut" in out and "\x1b" not in out
    assert clean("\ud800 lone surrogate") == "? lone surrogate"


def test_frames_encode_only_numeric_arrays():
    with pytest.raises(TypeError):
        encode(NONCE, {"kind": "result"}, {"x": np.array(["a"])})
    data = encode(NONCE, {"kind": "x"}, {"big": np.arange(3, dtype=">i4")})
    _, _, meta_len, blob_len = HEADER.unpack_from(data)
    meta = json.loads(data[HEADER.size:HEADER.size + meta_len])
    assert meta["arrays"] == [["big", "<i4", [3]]] and blob_len == 12
    assert struct.calcsize(">4s8sIQ") == HEADER.size == 24


def test_progress_frames_are_only_shown_and_never_change_what_is_accepted():
    """A well-formed progress frame during a probe reaches the listener as counts; anywhere else, or
    with anything but small integers, it is dropped; in no case does it change the run's state."""
    told = []
    protocol = Protocol(list(PROBES), ("penalties", "model"), Caps(), lambda *event: told.append(event))
    decoder = Decoder(NONCE, protocol, [Caps().submission_bytes])
    counts = {"run": 1, "runs": 4, "epoch": 7, "epochs": 60}
    decoder.feed(frame({"kind": "progress", **counts}))  # before hello: dropped, not out of turn
    started(decoder)
    assert told == [("import", "penalties", {}), ("probe", "pen.l1_mlp", {})]
    forged = [{"run": "1; rm -rf", "runs": 4, "epoch": 7, "epochs": 60}, {**counts, "epoch": True},
              {**counts, "epochs": 10 ** 12}, {**counts, "run": -1}, {"run": 1}]
    for meta in [counts, *forged]:
        decoder.feed(frame({"kind": "progress", **meta}))
    assert told[2:] == [("progress", "pen.l1_mlp", counts)]
    decoder.feed(result() + frame({"kind": "progress", **counts}))  # between probes: dropped
    decoder.feed(frame({"kind": "start", "probe": "pen.l2_mlp"}) + result("pen.l2_mlp"))
    decoder.feed(frame({"kind": "progress", **counts}))  # after the last result: dropped, no corruption
    assert protocol.done and set(protocol.results) == set(PROBES) and len(told) == 4
    with pytest.raises(ChannelError, match="carries arrays"):  # a progress frame is never a carrier
        _, decoder = session()
        started(decoder)
        decoder.feed(frame({"kind": "progress", **counts}, {"x": np.zeros(3)}))
