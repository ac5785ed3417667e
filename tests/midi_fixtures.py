"""Build MIDI files in code for tests (pretty_midi), in 16th-note steps at 120 qpm."""
from __future__ import annotations

import io
import struct

import pretty_midi

STEP = 0.125  # seconds per 16th note at 120 qpm


def midi_bytes(tracks, time_signatures=((4, 4, 0.0),), tempo: float = 120.0, tempo_changes=()) -> bytes:
    """tracks: [(program, is_drum, [(pitch, start_step, end_step[, velocity])])]."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for num, den, t in time_signatures:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, t))
    for program, is_drum, notes in tracks:
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
        for n in notes:
            pitch, s, e = n[:3]
            vel = n[3] if len(n) > 3 else 100
            inst.notes.append(pretty_midi.Note(vel, pitch, s * STEP, e * STEP))
        pm.instruments.append(inst)
    for tick_time, qpm in tempo_changes:
        tick = pm.time_to_tick(tick_time)
        pm._tick_scales.append((tick, 60.0 / (qpm * pm.resolution)))
        pm._update_tick_to_time(tick + 1)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def raw_midi(track_events: list[bytes], ppq: int = 220) -> bytes:
    """A type-1 file from raw track bodies (delta-time + event bytes, no end-of-track needed)."""
    chunks = b"".join(b"MTrk" + struct.pack(">I", len(t) + 4) + t + b"\x00\xff\x2f\x00" for t in track_events)
    return b"MThd" + struct.pack(">IHHH", 6, 1, len(track_events), ppq) + chunks


def mel(pitch: int) -> int:
    """Melody class of a pitch."""
    return pitch - 21 + 2
