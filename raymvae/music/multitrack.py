"""Multitrack measures: Magenta's ``MultiInstrumentPerformanceConverter`` (Simon et al. 2018) on note-seq.

A window is one bar of up to 8 instruments, each a performance (note-on,
note-off, time shift of 1..96 steps at 24 steps per quarter, 8 velocity
bins) in a slot of 64 token rows: ``[program token, events..., END]``,
unused slots a lone END, rows after a slot's END padding (-1). Tracks are
in Magenta's order (by drum-or-not, then program). Token ids are Magenta's
490 classes: 0-127 note-on, 128-255 note-off, 256-351 time shift, 352-359
velocity bin, 360 + program, 488 drums, 489 END.

The conversion is note-seq's own performance representation, step for step
as Magenta's converter uses it (sustain pedal applied per time-change
split, the split cut into one-bar subsequences by time, each quantized and
turned into one performance per instrument), so that windows are exactly
Magenta's; it reads MIDI through note-seq, whose NoteSequence carries the
sustain pedal events the performances need.
"""
from __future__ import annotations

import numpy as np

STEPS_PER_QUARTER = 24
QUARTERS_PER_BAR = 4
STEPS_PER_BAR = STEPS_PER_QUARTER * QUARTERS_PER_BAR
NUM_VELOCITY_BINS = 8
NUM_EVENTS = 128 + 128 + STEPS_PER_BAR + NUM_VELOCITY_BINS   # 360 performance classes
DRUM_TOKEN = NUM_EVENTS + 128                                 # 488 (program tokens 360..487 before it)
END_TOKEN = DRUM_TOKEN + 1                                    # 489
DEPTH = END_TOKEN + 1                                         # 490
PAD = -1


def _encoding():
    from note_seq import PerformanceOneHotEncoding

    return PerformanceOneHotEncoding(num_velocity_bins=NUM_VELOCITY_BINS, max_shift_steps=STEPS_PER_BAR,
                                     min_pitch=0, max_pitch=127)


def _performance(quantized=None, program: int = 0, is_drum: bool = False, instrument: int | None = None):
    from note_seq.performance_lib import MetricPerformance

    if quantized is None:
        return MetricPerformance(steps_per_quarter=STEPS_PER_QUARTER, num_velocity_bins=NUM_VELOCITY_BINS,
                                 program=program, is_drum=is_drum)
    return MetricPerformance(quantized, num_velocity_bins=NUM_VELOCITY_BINS, instrument=instrument,
                             program=None if instrument is not None else program,
                             is_drum=None if instrument is not None else is_drum)


def _bar(track):
    """The one-bar segment of a track (already set to one bar long) that Magenta's ``split_performance``
    keeps, clipped: events on the bar's last boundary other than note-offs start a segment of no duration,
    which is dropped; notes held past the bar's end are cut there (through a NoteSequence and back, its
    ``clip_tied_notes``). None where the track would not be one segment."""
    from note_seq import sequences_lib
    from note_seq.performance_lib import PerformanceEvent

    first, rest, step = _performance(None, track.program, track.is_drum), [], 0
    for e in track:
        if rest or (step == STEPS_PER_BAR and e.event_type not in (PerformanceEvent.NOTE_OFF,
                                                                   PerformanceEvent.TIME_SHIFT)):
            rest.append(e)
        else:
            first.append(e)
            if e.event_type == PerformanceEvent.TIME_SHIFT:
                step += e.event_value
    if any(e.event_type == PerformanceEvent.TIME_SHIFT for e in rest):
        return None
    q = sequences_lib.quantize_note_sequence(first.to_sequence(), steps_per_quarter=STEPS_PER_QUARTER)
    out = _performance(q, track.program, track.is_drum)
    out.set_length(STEPS_PER_BAR)
    return out


class MeasureRules:
    """The converter's limits: instruments per measure, events per track and in all."""

    def __init__(self, min_instruments: int = 2, max_instruments: int = 8, min_total_events: int = 8,
                 max_events_per_instrument: int = 64, min_pitch: int = 0, max_pitch: int = 127):
        self.min_instruments, self.max_instruments = int(min_instruments), int(max_instruments)
        self.min_total_events = int(min_total_events)
        self.max_events = int(max_events_per_instrument)
        self.min_pitch, self.max_pitch = int(min_pitch), int(max_pitch)


def measure_tokens(q, rules: MeasureRules, encoding) -> np.ndarray | None:
    """Token window [max_instruments * max_events] of one quantized bar, or None where Magenta rejects it
    (a pitch out of range, too few or too many instruments, a track too long, too few events)."""
    if any(not rules.min_pitch <= n.pitch <= rules.max_pitch for n in q.notes):
        return None
    tracks = []
    for instrument in set(n.instrument for n in q.notes):  # Magenta's iteration order, kept by the stable sort
        track = _performance(q, instrument=instrument)
        if track.num_steps > STEPS_PER_BAR:
            track.set_length(STEPS_PER_BAR)
        tracks.append(track)
    if not rules.min_instruments <= len(tracks) <= rules.max_instruments:
        return None
    tracks.sort(key=lambda t: (t.is_drum, t.program))
    encoded, total = [], 0
    for track in tracks:
        track.set_length(STEPS_PER_BAR)
        track = _bar(track)
        if track is None or len(track) > rules.max_events - 2 or (not track.is_drum and not 0 <= track.program <= 127):
            return None
        total += len(track)
        encoded.append([DRUM_TOKEN if track.is_drum else NUM_EVENTS + track.program]
                       + [encoding.encode_event(e) for e in track] + [END_TOKEN])
    if total < rules.min_total_events:
        return None
    out = np.full((rules.max_instruments, rules.max_events), PAD, np.int16)
    for slot in range(rules.max_instruments):
        tokens = encoded[slot] if slot < len(encoded) else [END_TOKEN]
        out[slot, :len(tokens)] = tokens
    return out.reshape(-1)


def sequence_windows(ns, rules: MeasureRules) -> np.ndarray:
    """Every measure window of a NoteSequence, in time order (none deduplicated), int16 [n, 8 * 64]."""
    from note_seq import sequences_lib

    encoding = _encoding()
    out = []
    for split in sequences_lib.split_note_sequence_on_time_changes(ns):
        split = sequences_lib.apply_sustain_control_changes(split)
        qpm = split.tempos[0].qpm if split.tempos else 120.0
        windows = []
        for sub in sequences_lib.split_note_sequence(split, 60.0 * QUARTERS_PER_BAR / qpm):
            try:
                q = sequences_lib.quantize_note_sequence(sub, STEPS_PER_QUARTER)
                if sequences_lib.steps_per_bar_in_quantized_sequence(q) != STEPS_PER_BAR:
                    windows = []
                    break
            except (sequences_lib.BadTimeSignatureError, sequences_lib.NegativeTimeError):
                windows = []
                break
            w = measure_tokens(q, rules, encoding)
            if w is not None:
                windows.append(w)
        out.extend(windows)
    width = rules.max_instruments * rules.max_events
    return np.stack(out).astype(np.int16) if out else np.zeros((0, width), np.int16)


def slots(window: np.ndarray, rules: MeasureRules) -> list[list[int]]:
    """The tokens of each slot of a window, up to (not including) its END; a decoded window may hold any
    token anywhere, so everything after the first END is dropped."""
    out = []
    for row in np.asarray(window).reshape(rules.max_instruments, rules.max_events).tolist():
        tokens = []
        for t in row:
            if t == END_TOKEN or t == PAD:
                break
            tokens.append(int(t))
        out.append(tokens)
    return out


def canonical(windows: np.ndarray, rules: MeasureRules) -> np.ndarray:
    """Decoded windows in the converter's form: each slot's rows after its first END are padding."""
    w = np.asarray(windows).reshape(len(windows), rules.max_instruments, rules.max_events)
    end = w == END_TOKEN
    after = np.cumsum(end, -1) - end > 0
    return np.where(after, PAD, w).reshape(len(windows), -1).astype(np.int16)


def window_to_sequence(window: np.ndarray, rules: MeasureRules, qpm: float = 120.0):
    """One window as a NoteSequence, as Magenta's ``_to_single_notesequence`` decodes it: per slot the first
    program token (drums: 488) names the instrument, other program tokens are ignored, the performance events
    are played on MIDI instrument = slot."""
    from note_seq.protobuf import music_pb2

    encoding = _encoding()
    seq = music_pb2.NoteSequence()
    seq.tempos.add().qpm = qpm
    seq.ticks_per_quarter = 220
    for slot, tokens in enumerate(slots(window, rules)):
        programs = [t for t in tokens if t >= NUM_EVENTS]
        program, is_drum = 0, False
        if programs:
            program, is_drum = (0, True) if programs[0] == DRUM_TOKEN else (programs[0] - NUM_EVENTS, False)
        track = _performance(None, program, is_drum)
        for t in tokens:
            if t < NUM_EVENTS:
                track.append(encoding.decode_event(t))
        track.set_length(STEPS_PER_BAR)
        seq.notes.extend(track.to_sequence(instrument=slot, qpm=qpm).notes)
    if seq.notes:
        seq.total_time = max(n.end_time for n in seq.notes)
    return seq
