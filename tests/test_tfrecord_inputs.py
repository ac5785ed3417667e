"""TFRecord framing and input resolution (no Ray)."""
from __future__ import annotations

import io

import pytest

from raymvae.data.inputs import resolve_inputs, split_of
from raymvae.checksum import crc32c, masked_crc32c
from raymvae.data.tfrecord import TFRecordError, iter_records, write_records


def test_crc32c_known_value():
    # CRC-32C("123456789") = 0xE3069283; masked per TFRecord's rule.
    crc = 0xE3069283
    assert crc32c(b"123456789") == crc
    assert masked_crc32c(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_records_round_trip_and_corruption_detected():
    buf = io.BytesIO()
    records = [b"", b"abc", bytes(range(256)) * 10]
    write_records(buf, records)
    data = buf.getvalue()
    assert list(iter_records(io.BytesIO(data))) == records
    bad = bytearray(data)
    bad[-10] ^= 0xFF
    with pytest.raises(TFRecordError, match="CRC"):
        list(iter_records(io.BytesIO(bytes(bad))))
    with pytest.raises(TFRecordError, match="truncated"):
        list(iter_records(io.BytesIO(data[:-3])))


def test_resolve_inputs_folders_globs_files(tmp_path):
    for rel in ["a/x.mid", "a/b/y.MIDI", "a/notes.txt", "c/z.mid", "d/data.tfrecord-00000-of-00002"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    got = resolve_inputs([str(tmp_path / "a"), str(tmp_path / "c" / "z.mid"), str(tmp_path / "d" / "*")])
    assert [s.key for s in got] == ["b/y.MIDI", "x.mid", "z.mid", "data.tfrecord-00000-of-00002"]
    assert [s.kind for s in got] == ["midi", "midi", "midi", "tfrecord"]
    again = resolve_inputs([str(tmp_path / "**" / "*.mid"), str(tmp_path / "a")])
    assert sorted(s.key for s in again) == ["a/x.mid", "b/y.MIDI", "c/z.mid"]
    with pytest.raises(FileNotFoundError, match="nothing|no MIDI"):
        resolve_inputs([str(tmp_path / "missing")])


def test_split_is_stable_and_close_to_fraction():
    keys = [f"song{i}.mid" for i in range(4000)]
    evals = [k for k in keys if split_of(k, 0.1) == "eval"]
    assert 300 < len(evals) < 500
    assert evals == [k for k in keys if split_of(k, 0.1) == "eval"]
    assert all(split_of(k, 0.0) == "train" for k in keys)
