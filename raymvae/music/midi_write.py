"""NoteSequence -> MIDI bytes: a small, fast Standard MIDI File writer.

Writes what the decoders produce (few notes, one tempo, key signatures, chord symbols as text events) in a
fraction of the
time pretty_midi takes, which matters when a job writes thousands of files.
Times are converted to ticks at the sequence's ``ticks_per_quarter`` (220 when unset) under the first tempo.
"""
from __future__ import annotations

import struct

STANDARD_PPQ = 220
CHORD_SYMBOL = 1  # NoteSequence.TextAnnotation.CHORD_SYMBOL
# sharps (> 0) or flats (< 0) of the major key on each tonic pitch class, for the key-signature meta event
_SHARPS = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 1: -5, 8: -4, 3: -3, 10: -2, 5: -1}


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, int, bytes]]) -> bytes:
    events.sort(key=lambda e: (e[0], e[1]))
    body = bytearray()
    last = 0
    for tick, _, msg in events:
        body += _varlen(tick - last) + msg
        last = tick
    body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def note_sequence_to_midi_bytes(ns) -> bytes:
    """Serialize a note_seq NoteSequence (unquantized times) to MIDI bytes."""
    ppq = ns.ticks_per_quarter or STANDARD_PPQ
    qpm = ns.tempos[0].qpm if len(ns.tempos) else 120.0
    ticks_per_second = ppq * qpm / 60.0
    tempo_us = int(round(60_000_000 / qpm))
    meta = [(0, 0, b"\xff\x51\x03" + tempo_us.to_bytes(3, "big"))]
    for ts in ns.time_signatures:
        den_pow = max(ts.denominator, 1).bit_length() - 1
        meta.append((int(round(ts.time * ticks_per_second)), 0,
                     bytes([0xFF, 0x58, 0x04, ts.numerator & 0xFF, den_pow, 24, 8])))
    for ks in ns.key_signatures:  # major keys by tonic (minor: mode 1, sharps of its relative major)
        minor = int(ks.mode == 1)
        sharps = _SHARPS[(ks.key + 3 * minor) % 12]
        meta.append((int(round(ks.time * ticks_per_second)), 0, bytes([0xFF, 0x59, 0x02, sharps & 0xFF, minor])))
    for ta in ns.text_annotations:  # chord symbols as text events, as most notation software reads them
        if ta.annotation_type == CHORD_SYMBOL:
            text = ta.text.encode("utf-8")
            meta.append((int(round(ta.time * ticks_per_second)), 0, b"\xff\x01" + _varlen(len(text)) + text))
    groups: dict[tuple[int, int, bool], list] = {}
    for n in ns.notes:
        groups.setdefault((n.instrument, n.program, n.is_drum), []).append(n)
    tracks = [_track(meta)]
    channels = [c for c in range(16) if c != 9]
    next_channel = 0
    for (inst, program, is_drum) in sorted(groups):
        if is_drum:
            ch = 9
        else:
            ch = channels[next_channel % len(channels)]
            next_channel += 1
        events = [(0, 0, bytes([0xC0 | ch, program & 0x7F]))]
        for n in groups[(inst, program, is_drum)]:
            on = int(round(n.start_time * ticks_per_second))
            off = max(int(round(n.end_time * ticks_per_second)), on + 1)
            events.append((on, 2, bytes([0x90 | ch, n.pitch & 0x7F, max(1, min(n.velocity, 127))])))
            events.append((off, 1, bytes([0x80 | ch, n.pitch & 0x7F, 0])))
        tracks.append(_track(events))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), ppq)
    return header + b"".join(tracks)
