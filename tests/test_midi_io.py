"""MIDI reading (note-seq parity on odd files), writing, round trips and robustness."""
import os
import struct
import time
import warnings

import numpy as np
import pytest

from midi_fixtures import midi_bytes, raw_midi
from raymvae.music import MidiError, converter_for, midi_to_note_sequence, note_sequence_to_midi

CONFIGS = ["cat-mel_2bar_small", "cat-drums_2bar_small", "hierdec-mel_16bar", "hierdec-trio_16bar"]


def _note_seq_notes(data):
    import note_seq

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns = note_seq.midi_to_note_sequence(data)
    return ns, sorted((n.instrument, n.program, n.is_drum, n.pitch, n.velocity, n.start_time, n.end_time)
                      for n in ns.notes)


def _ours(data):
    ns = midi_to_note_sequence(data)
    return ns, sorted((n.instrument, n.program, n.is_drum, n.pitch, n.velocity, n.start_time, n.end_time)
                      for n in ns.notes)


def ev(delta, *msg):
    out, v = [delta & 0x7F], delta >> 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out)) + bytes(msg)


ODD_FILES = {
    # same pitch re-struck before release: one note-off closes both (pretty_midi)
    "overlapping_same_pitch": raw_midi([ev(0, 0xFF, 0x51, 3, 0x07, 0xA1, 0x20),
                                        ev(0, 0x90, 60, 90) + ev(100, 0x90, 60, 80) + ev(100, 0x80, 60, 0)
                                        + ev(100, 0x80, 60, 0)]),
    # program change while a note sounds: the note takes the program at its note-off
    "program_change_mid_note": raw_midi([ev(0, 0x90, 60, 90) + ev(50, 0xC0, 40) + ev(50, 0x80, 60, 0)
                                         + ev(10, 0x90, 62, 90) + ev(100, 0x90, 62, 0)]),
    # two channels on one program in one track, running status, zero-velocity note-offs
    "running_status_two_channels": raw_midi([ev(0, 0x90, 60, 90) + ev(10, 62, 91) + ev(0, 0x91, 64, 92)
                                             + ev(100, 0x90, 60, 0) + ev(0, 62, 0) + ev(0, 0x81, 64, 0)]),
    # tempo changes on track 0, drums on channel 10 in another track, a 3/4 bar
    "tempo_changes_and_drums": raw_midi([ev(0, 0xFF, 0x51, 3, 0x07, 0xA1, 0x20) + ev(0, 0xFF, 0x58, 4, 3, 2, 24, 8)
                                         + ev(660, 0xFF, 0x51, 3, 0x09, 0x27, 0xC0),
                                         ev(0, 0x99, 36, 100) + ev(55, 0x89, 36, 0) + ev(1000, 0x99, 38, 100)
                                         + ev(55, 0x89, 38, 0)]),
    # note-on and note-off on the same tick keep the new note open
    "off_and_on_same_tick": raw_midi([ev(0, 0x90, 60, 90) + ev(100, 0x90, 60, 70) + ev(0, 0x80, 60, 0)
                                      + ev(100, 0x80, 60, 0)]),
}


@pytest.mark.parametrize("name", sorted(ODD_FILES))
def test_parse_matches_note_seq(name):
    data = ODD_FILES[name]
    theirs_ns, theirs = _note_seq_notes(data)
    ours_ns, ours = _ours(data)
    assert ours == theirs
    assert [(t.time, t.qpm) for t in ours_ns.tempos] == [(t.time, t.qpm) for t in theirs_ns.tempos]
    assert [(t.time, t.numerator, t.denominator) for t in ours_ns.time_signatures] == \
        [(t.time, t.numerator, t.denominator) for t in theirs_ns.time_signatures]
    assert ours_ns.total_time == theirs_ns.total_time


def test_parse_matches_note_seq_on_built_multitrack():
    data = midi_bytes([(0, False, [(60, 0, 4), (64, 2, 6), (67, 8, 40)]), (33, False, [(36, 0, 64)]),
                       (0, True, [(36, s, s + 1) for s in range(0, 64, 4)]), (0, False, [(72, 1, 3)])],
                      tempo_changes=[(3.0, 100.0)])
    assert _ours(data)[1] == _note_seq_notes(data)[1]


@pytest.mark.parametrize("config", CONFIGS)
def test_windows_round_trip_through_midi(config):
    conv = converter_for(config)
    rng = np.random.default_rng(0)
    if conv.family == "melody":
        # Valid windows: an onset first, events at most 6 steps apart (no bar-long
        # rests), a NOTE_OFF only after an onset.
        w = np.zeros((3, conv.window_steps), np.int64)
        for row in w:
            s, prev_on = 0, False
            while s < conv.window_steps:
                if prev_on and rng.random() < 0.3:
                    row[s], prev_on = 1, False
                else:
                    row[s], prev_on = rng.integers(2, 90), True
                s += int(rng.integers(1, 7))
    elif conv.family == "drums":
        w = rng.integers(0, 512, (3, conv.window_steps))
        w[:, ::4] |= 1
    else:
        mel = np.zeros(conv.window_steps, np.int64)
        mel[::8] = rng.integers(2, 90, conv.window_steps // 8)
        bass = np.zeros(conv.window_steps, np.int64)
        bass[::16] = rng.integers(2, 40, conv.window_steps // 16)
        w = np.stack([mel, bass, np.where(np.arange(conv.window_steps) % 4 == 0, 5, 0)], -1)[None]
    for window in w:
        data = conv.to_midi_bytes(conv.decode(window[None])[0])
        back = conv.encode_midi(data)
        assert back.tolist() == [window.tolist()]


def test_decoded_melody_has_magenta_output_format():
    conv = converter_for("cat-mel_2bar_small")
    ns = conv.decode(np.array([[41, 0, 0, 0, 1] + [0] * 27]))[0]
    assert ns.tempos[0].qpm == 120 and len(ns.notes) == 1
    n = ns.notes[0]
    assert (n.pitch, n.velocity, n.start_time, n.end_time, n.program) == (60, 80, 0.0, 0.5, 0)


def test_trio_decode_programs():
    conv = converter_for("hierdec-trio_16bar")
    w = np.zeros((256, 3), np.int64)
    w[0] = [41, 17, 1]
    ns = conv.decode(w[None])[0]
    by = {(n.instrument, n.program, n.is_drum) for n in ns.notes}
    assert by == {(0, 0, False), (1, 33, False), (9, 0, True)}


def test_note_sequence_writer_is_readable_by_note_seq():
    data = midi_bytes([(0, False, [(60, 0, 4), (62, 4, 8)]), (0, True, [(36, 0, 1)])])
    ns = midi_to_note_sequence(data)
    assert _note_seq_notes(note_sequence_to_midi(ns))[1] == _ours(note_sequence_to_midi(ns))[1]


GOOD = midi_bytes([(0, False, [(60 + (i % 7), 4 * i, 4 * i + 4) for i in range(32)]),
                   (0, True, [(36, 2 * i, 2 * i + 1) for i in range(64)])])


@pytest.mark.parametrize("data", [b"", b"MThd", os.urandom(2000), b"RIFF" + os.urandom(100),
                                  GOOD[:14], b"MThd" + struct.pack(">IHHH", 6, 1, 0, 220),
                                  b"MThd" + struct.pack(">IHhH", 6, 1, 1, 0) + b"MTrk\x00\x00\x00\x00",
                                  b"MThd" + struct.pack(">IHHH", 6, 1, 1, 0xE728)], ids=range(8))
@pytest.mark.parametrize("config", CONFIGS)
def test_garbage_gives_windows_or_midi_error(config, data):
    conv = converter_for(config)
    try:
        out = conv.encode_midi(data)
    except MidiError as exc:
        assert str(exc)
    else:
        assert out.shape[1:] == conv.window_shape


@pytest.mark.parametrize("config", CONFIGS)
def test_truncated_and_bit_flipped_files(config):
    conv = converter_for(config)
    rng = np.random.default_rng(1)
    for cut in range(20, len(GOOD), 37):
        try:
            conv.encode_midi(GOOD[:cut])
        except MidiError:
            pass
    for _ in range(200):
        data = bytearray(GOOD)
        for pos in rng.integers(14, len(data), 5):
            data[pos] = rng.integers(0, 256)
        try:
            conv.encode_midi(bytes(data))
        except MidiError:
            pass


def test_truncated_file_keeps_its_complete_events():
    conv = converter_for("cat-drums_2bar_small")
    assert len(conv.encode_midi(GOOD)) > 0
    assert len(conv.encode_midi(GOOD[:-40])) > 0


def test_absurd_tempos_do_not_break_conversion():
    body = ev(0, 0x90, 60, 90) + ev(440, 0x80, 60, 0) + ev(0, 0x90, 62, 90) + ev(440, 0x80, 62, 0)
    for tempo_bytes in (b"\x00\x00\x00", b"\xff\xff\xff", b"\x00\x00\x01"):
        data = raw_midi([ev(0, 0xFF, 0x51, 3, *tempo_bytes), body])
        out = converter_for("cat-mel_2bar_small").encode_midi(data)
        assert out.shape[1:] == (32,)


def test_bad_key_signature_and_bad_text_keep_the_notes():
    notes = b"".join(ev(0, 0x90, 60 + i % 5, 90) + ev(220, 0x80, 60 + i % 5, 0) for i in range(8))
    meta = ev(0, 0xFF, 0x59, 2, 0x20, 0x05) + ev(0, 0xFF, 0x01, 4, 0xFF, 0xFE, 0xC3, 0x28)
    data = raw_midi([meta + notes])
    import note_seq

    with pytest.raises(Exception):
        note_seq.midi_to_note_sequence(data)  # pretty_midi rejects the key signature
    assert len(converter_for("cat-mel_2bar_small").encode_midi(data)) == 1


def test_hundred_thousand_notes_in_bounded_time():
    body = b"".join(ev(0, 0x90, 40 + i % 40, 90) + ev(30, 0x80, 40 + i % 40, 0) for i in range(100_000))
    data = raw_midi([body])
    for config in CONFIGS:
        t = time.perf_counter()
        converter_for(config).encode_midi(data)
        assert time.perf_counter() - t < 20


def test_huge_tick_values_raise_or_convert_quickly():
    data = raw_midi([ev(0, 0x90, 60, 90) + ev(0x0FFFFFFF, 0x80, 60, 0) + ev(0x0FFFFFFF, 0x90, 61, 9)
                     + ev(10, 0x80, 61, 0)], ppq=1)
    t = time.perf_counter()
    with pytest.raises(MidiError):
        converter_for("hierdec-trio_16bar").encode_midi(data)
    assert time.perf_counter() - t < 10


def test_non_bytes_input_is_a_midi_error():
    with pytest.raises(MidiError):
        converter_for("cat-mel_2bar_small").encode_midi("not bytes")
