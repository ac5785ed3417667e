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
    """The converter's limits (instruments per measure, events per track and in all) and whether each token
    row carries the chord at its time (the ``_chords`` configs)."""

    def __init__(self, min_instruments: int = 2, max_instruments: int = 8, min_total_events: int = 8,
                 max_events_per_instrument: int = 64, min_pitch: int = 0, max_pitch: int = 127,
                 chords: bool = False):
        self.min_instruments, self.max_instruments = int(min_instruments), int(max_instruments)
        self.min_total_events = int(min_total_events)
        self.max_events = int(max_events_per_instrument)
        self.min_pitch, self.max_pitch = int(min_pitch), int(max_pitch)
        self.chords = bool(chords)


def _track_chords(q, tracks) -> list[list[int]] | None:
    """Per track, the chord class of each token row: N.C. for the program token, the chord active at each
    event's step (``chords_lib.event_list_chords``), the last one again for END; None where Magenta drops
    the bar (coincident chords, a chord that is not a triad)."""
    from note_seq import chords_lib

    from raymvae.music import chords

    try:
        per_event = chords_lib.event_list_chords(q, tracks)
        return [[0] + [chords.encode(c) for c in events] + [chords.encode(events[-1]) if events else 0]
                for events in per_event]
    except (chords_lib.CoincidentChordsError, chords.ChordError):
        return None


def measure_tokens(q, rules: MeasureRules, encoding) -> np.ndarray | None:
    """Token window [max_instruments * max_events] of one quantized bar (with chords: [..., 2] of token and
    chord class per row), or None where Magenta rejects it (a pitch out of range, too few or too many
    instruments, a track too long, too few events, chords it cannot encode)."""
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
    encoded, bars, total = [], [], 0
    for track in tracks:
        track.set_length(STEPS_PER_BAR)
        track = _bar(track)
        if track is None or len(track) > rules.max_events - 2 or (not track.is_drum and not 0 <= track.program <= 127):
            return None
        total += len(track)
        bars.append(track)
        encoded.append([DRUM_TOKEN if track.is_drum else NUM_EVENTS + track.program]
                       + [encoding.encode_event(e) for e in track] + [END_TOKEN])
    if total < rules.min_total_events:
        return None
    chord_rows = _track_chords(q, bars) if rules.chords else None
    if rules.chords and chord_rows is None:
        return None
    out = np.full((rules.max_instruments, rules.max_events, 2), PAD, np.int16)
    for slot in range(rules.max_instruments):
        tokens = encoded[slot] if slot < len(encoded) else [END_TOKEN]
        out[slot, :len(tokens), 0] = tokens
        out[slot, :len(tokens), 1] = chord_rows[slot] if slot < len(encoded) and chord_rows else 0
    return out.reshape(-1, 2) if rules.chords else out[..., 0].reshape(-1)


def _with_inferred_chords(split):
    """The split with Magenta's chords: its own chord symbols, else note-seq's inference on it quantized
    (copied back as timed annotations); None where the chords cannot be had (the split gives nothing)."""
    from note_seq import chord_inference, sequences_lib
    from note_seq.protobuf import music_pb2

    chord_symbol = music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
    if any(ta.annotation_type == chord_symbol for ta in split.text_annotations):
        return split
    try:
        q = sequences_lib.quantize_note_sequence(split, STEPS_PER_QUARTER)
        if sequences_lib.steps_per_bar_in_quantized_sequence(q) != STEPS_PER_BAR:
            return None
        chord_inference.infer_chords_for_sequence(q)
    except (sequences_lib.BadTimeSignatureError, sequences_lib.NegativeTimeError,
            chord_inference.ChordInferenceError):
        return None
    for qta in q.text_annotations:
        if qta.annotation_type == chord_symbol:
            ta = split.text_annotations.add()
            ta.annotation_type, ta.time, ta.text = chord_symbol, qta.time, qta.text
    return split


def sequence_windows(ns, rules: MeasureRules) -> np.ndarray:
    """Every measure window of a NoteSequence, in time order (none deduplicated), int16 [n, 8 * 64]."""
    from note_seq import sequences_lib

    encoding = _encoding()
    out = []
    for split in sequences_lib.split_note_sequence_on_time_changes(ns):
        split = sequences_lib.apply_sustain_control_changes(split)
        if rules.chords:
            split = _with_inferred_chords(split)
            if split is None:
                continue
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
    shape = (rules.max_instruments * rules.max_events,) + ((2,) if rules.chords else ())
    return np.stack(out).astype(np.int16) if out else np.zeros((0,) + shape, np.int16)


def slots(window: np.ndarray, rules: MeasureRules) -> list[list[int]]:
    """The tokens of each slot of a token window ``[8 * 64]``, up to (not including) its END; a decoded window
    may hold any token anywhere, so everything after the first END is dropped."""
    out = []
    for row in np.asarray(window).reshape(rules.max_instruments, rules.max_events).tolist():
        tokens = []
        for t in row:
            if t == END_TOKEN or t == PAD:
                break
            tokens.append(int(t))
        out.append(tokens)
    return out


def window_to_sequence(window: np.ndarray, rules: MeasureRules, qpm: float = 120.0):
    """One window as a NoteSequence, as Magenta's ``_to_single_notesequence`` decodes it: per slot the first
    program token (drums: 488) names the instrument, other program tokens are ignored, the performance events
    are played on MIDI instrument = slot; with chords, a chord symbol wherever the chord of the events (all
    tracks, in time order) changes."""
    from note_seq import chords_lib
    from note_seq.protobuf import music_pb2

    from raymvae.music import chords

    encoding = _encoding()
    seq = music_pb2.NoteSequence()
    seq.tempos.add().qpm = qpm
    seq.ticks_per_quarter = 220
    window = np.asarray(window)
    timed_chords = []
    if rules.chords:
        rows = window[:, 1].reshape(rules.max_instruments, rules.max_events)
        window = window[:, 0]
    for slot, tokens in enumerate(slots(window, rules)):
        programs = [t for t in tokens if t >= NUM_EVENTS]
        program, is_drum = 0, False
        if programs:
            program, is_drum = (0, True) if programs[0] == DRUM_TOKEN else (programs[0] - NUM_EVENTS, False)
        track = _performance(None, program, is_drum)
        kept = [k for k, t in enumerate(tokens) if t < NUM_EVENTS]
        for k in kept:
            track.append(encoding.decode_event(tokens[k]))
        if rules.chords:
            seconds_per_step = 60.0 / (STEPS_PER_QUARTER * qpm)
            timed_chords += [(step * seconds_per_step, chords.name(max(0, int(rows[slot, k]))))
                             for step, k in zip(track.steps, kept) if step < STEPS_PER_BAR]
        track.set_length(STEPS_PER_BAR)
        seq.notes.extend(track.to_sequence(instrument=slot, qpm=qpm).notes)
    if seq.notes:
        seq.total_time = max(n.end_time for n in seq.notes)
    if timed_chords:
        times, names = zip(*sorted(timed_chords))
        chords_lib.add_chords_to_sequence(seq, list(names), list(times))
    return seq
