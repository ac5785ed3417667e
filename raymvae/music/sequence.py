"""Notes as numpy arrays: MIDI parsing with note-seq's semantics, note-seq
proto conversion, splitting on time changes and quantization.

Everything here reproduces note-seq / pretty_midi arithmetic operation for
operation (same float64 formulas), so quantized steps match Magenta's exactly.
Protos are built only at the edges; the converters work on ``NoteArrays``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from raymvae.music import _midi_scan
from raymvae.music.errors import MidiError

DEFAULT_QPM = 120.0
STANDARD_PPQ = 220


@dataclass
class NoteArrays:
    """A NoteSequence as parallel arrays (times in seconds)."""

    start: np.ndarray  # float64
    end: np.ndarray  # float64
    pitch: np.ndarray  # int64
    velocity: np.ndarray  # int64
    instrument: np.ndarray  # int64
    program: np.ndarray  # int64
    is_drum: np.ndarray  # bool
    tempo_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tempo_qpms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ts_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ts_nums: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ts_dens: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    total_time: float = 0.0
    ticks_per_quarter: int = STANDARD_PPQ
    problems: int = 0
    chords: list = field(default_factory=list)  # [(time, symbol)]: a NoteSequence's CHORD_SYMBOL annotations
    keys: list = field(default_factory=list)  # [(time, key 0-11)]: a NoteSequence's key signatures

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def take(self, idx: np.ndarray) -> "NoteArrays":
        """The notes at ``idx`` (in that order), keeping the timing events."""
        return NoteArrays(
            self.start[idx], self.end[idx], self.pitch[idx], self.velocity[idx],
            self.instrument[idx], self.program[idx], self.is_drum[idx],
            self.tempo_times, self.tempo_qpms, self.ts_times, self.ts_nums, self.ts_dens,
            self.total_time, self.ticks_per_quarter, self.problems, self.chords, self.keys)


def parse_midi(data: bytes) -> NoteArrays:
    """MIDI bytes -> notes, as ``note_seq.midi_to_note_sequence`` would read them.

    Raises MidiError for input that is not a readable MIDI file.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MidiError(f"expected MIDI bytes, got {type(data).__name__}")
    buf = np.frombuffer(bytes(data), np.uint8)
    (status, _fmt, _ntracks, division, n_inst, n_start, n_end, n_pitch, n_vel,
     i_prog, i_chan, _i_track, t_tick, t_val, s_tick, s_num, s_den, problems) = _midi_scan.scan_midi(buf)
    if status != _midi_scan.OK:
        raise MidiError(_midi_scan.NAMES[status])
    resolution = int(division)

    # pretty_midi._load_tempo_changes: track-0 tempos, a tick-0 event resets the map.
    scales = [(0, 60.0 / (120.0 * resolution))]
    for tick, tempo in zip(t_tick.tolist(), t_val.tolist()):
        if tick == 0:
            bpm = 6e7 / tempo
            scales = [(0, 60.0 / (bpm * resolution))]
        else:
            tick_scale = 60.0 / ((6e7 / tempo) * resolution)
            if tick_scale != scales[-1][1]:
                scales.append((tick, tick_scale))
    starts = np.array([s for s, _ in scales], np.int64)
    steps = np.array([s for _, s in scales], np.float64)
    bases = np.zeros(len(scales))
    for k in range(1, len(scales)):
        bases[k] = bases[k - 1] + steps[k - 1] * float(starts[k] - starts[k - 1])

    def to_time(ticks: np.ndarray) -> np.ndarray:
        if len(scales) == 1:  # one tempo (most files): no segment lookup
            return steps[0] * ticks.astype(np.float64)
        seg = np.searchsorted(starts, ticks, side="right") - 1
        return bases[seg] + steps[seg] * (ticks - starts[seg]).astype(np.float64)

    order = np.argsort(n_inst, kind="stable")  # note-seq lists notes instrument by instrument
    start = to_time(n_start[order])
    end = to_time(n_end[order])
    inst = n_inst[order]
    tempo_times = to_time(starts)
    tempo_qpms = 60.0 / (steps * resolution)
    total = float(end.max()) if end.size else 0.0
    return NoteArrays(
        start=start, end=end, pitch=n_pitch[order], velocity=n_vel[order], instrument=inst,
        program=i_prog[inst], is_drum=(i_chan[inst] == 9),
        tempo_times=tempo_times, tempo_qpms=tempo_qpms,
        ts_times=to_time(s_tick), ts_nums=s_num, ts_dens=np.left_shift(np.int64(1), np.minimum(s_den, 62)),
        total_time=total, ticks_per_quarter=resolution, problems=int(problems))


def to_note_sequence(notes: NoteArrays):
    """NoteArrays -> note_seq NoteSequence proto."""
    from note_seq.protobuf import music_pb2

    ns = music_pb2.NoteSequence()
    ns.ticks_per_quarter = notes.ticks_per_quarter
    for t, num, den in zip(notes.ts_times.tolist(), notes.ts_nums.tolist(), notes.ts_dens.tolist()):
        ts = ns.time_signatures.add()
        ts.time, ts.numerator = t, num
        ts.denominator = den if den < 2**31 else 0
    for t, q in zip(notes.tempo_times.tolist(), notes.tempo_qpms.tolist()):
        tp = ns.tempos.add()
        tp.time, tp.qpm = t, q
    for s, e, p, v, i, prog, d in zip(notes.start.tolist(), notes.end.tolist(), notes.pitch.tolist(),
                                      notes.velocity.tolist(), notes.instrument.tolist(),
                                      notes.program.tolist(), notes.is_drum.tolist()):
        n = ns.notes.add()
        n.start_time, n.end_time, n.pitch, n.velocity = s, e, p, v
        n.instrument, n.program, n.is_drum = i, prog, d
    for t, text in notes.chords:
        ta = ns.text_annotations.add()
        ta.time, ta.text = t, text
        ta.annotation_type = music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
    for t, key in notes.keys:
        ks = ns.key_signatures.add()
        ks.time, ks.key = t, key
    ns.total_time = notes.total_time
    return ns


def from_note_sequence(ns) -> NoteArrays:
    """note_seq NoteSequence proto (unquantized) -> NoteArrays (with its chord symbols)."""
    from note_seq.protobuf import music_pb2

    chord_symbol = music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
    notes = list(ns.notes)
    tempos = list(ns.tempos)
    tss = list(ns.time_signatures)
    return NoteArrays(
        start=np.array([n.start_time for n in notes], np.float64),
        end=np.array([n.end_time for n in notes], np.float64),
        pitch=np.array([n.pitch for n in notes], np.int64),
        velocity=np.array([n.velocity for n in notes], np.int64),
        instrument=np.array([n.instrument for n in notes], np.int64),
        program=np.array([n.program for n in notes], np.int64),
        is_drum=np.array([n.is_drum for n in notes], bool),
        tempo_times=np.array([t.time for t in tempos], np.float64),
        tempo_qpms=np.array([t.qpm for t in tempos], np.float64),
        ts_times=np.array([t.time for t in tss], np.float64),
        ts_nums=np.array([t.numerator for t in tss], np.int64),
        ts_dens=np.array([t.denominator for t in tss], np.int64),
        total_time=float(ns.total_time),
        ticks_per_quarter=int(ns.ticks_per_quarter or STANDARD_PPQ),
        chords=[(a.time, a.text) for a in ns.text_annotations if a.annotation_type == chord_symbol],
        keys=[(k.time, int(k.key)) for k in ns.key_signatures])


@dataclass
class Piece:
    """One split piece: notes shifted to start at 0 and its own meter/tempo events."""

    notes: NoteArrays
    tempos: list  # [(time, qpm)]
    time_signatures: list  # [(time, num, den)]
    chords: list = field(default_factory=list)  # [(time, symbol)], carried into the piece as note-seq does
    keys: list = field(default_factory=list)  # [(time, key 0-11)], likewise


def _carry_events(events: list, split_times: list) -> list[list]:
    """note-seq ``_extract_subsequences`` assignment of stateful events to pieces."""
    containers: list[list] = [[] for _ in range(len(split_times) - 1)]
    previous = None
    idx = -1
    last = len(split_times) - 1
    for ev in sorted(events, key=lambda e: e[0]):
        t = ev[0]
        if t <= split_times[0]:
            previous = ev
            continue
        while idx < last and t > split_times[idx + 1]:
            idx += 1
            if idx == last:
                break
            if previous is not None:
                containers[idx].append((0.0,) + tuple(previous[1:]))
        if idx == last:
            break
        if t < split_times[idx + 1]:
            containers[idx].append((t - split_times[idx],) + tuple(ev[1:]))
        previous = ev
    while idx < last - 1:
        idx += 1
        if previous is not None:
            containers[idx].append((0.0,) + tuple(previous[1:]))
    return containers


def split_on_time_changes(notes: NoteArrays) -> list[Piece]:
    """``sequences_lib.split_note_sequence_on_time_changes`` on arrays."""
    total = notes.total_time
    changes = [(t, 0, n, d) for t, n, d in zip(notes.ts_times.tolist(), notes.ts_nums.tolist(),
                                                notes.ts_dens.tolist())]
    changes += [(t, 1, q, 0) for t, q in zip(notes.tempo_times.tolist(), notes.tempo_qpms.tolist())]
    changes.sort(key=lambda c: c[0])  # stable: time signatures before tempos at equal times
    changes = [c for c in changes if c[0] < total]
    num, den, qpm = 4, 4, DEFAULT_QPM
    splits = [0.0]
    for t, kind, a, b in changes:
        if kind == 0:
            if a == num and b == den:
                continue
        elif a == qpm:
            continue
        if t > splits[-1]:
            splits.append(t)
        if kind == 0:
            num, den = a, b
        else:
            qpm = a
    if total > splits[-1]:
        splits.append(total)
    if len(splits) < 2:
        return []
    order = np.argsort(notes.start, kind="stable")
    starts = notes.start[order]
    piece_of = np.searchsorted(np.asarray(splits[1:]), starts, side="right")
    split_arr = np.asarray(splits)
    ts_by_piece = _carry_events([(t, n, d) for t, n, d in zip(notes.ts_times.tolist(), notes.ts_nums.tolist(),
                                                              notes.ts_dens.tolist())], splits)
    tempo_by_piece = _carry_events([(t, q) for t, q in zip(notes.tempo_times.tolist(),
                                                          notes.tempo_qpms.tolist())], splits)
    chords_by_piece = _carry_events(list(notes.chords), splits)
    keys_by_piece = _carry_events(list(notes.keys), splits)
    pieces = []
    bounds = np.searchsorted(piece_of, np.arange(len(splits)), side="left")
    for i in range(len(splits) - 1):
        idx = order[bounds[i]:bounds[i + 1]]
        sub = notes.take(idx)
        s0, s1 = split_arr[i], split_arr[i + 1]
        sub.start = sub.start - s0
        sub.end = np.minimum(sub.end, s1) - s0
        sub.total_time = float(sub.end.max()) if len(idx) and sub.end.max() > 0.0 else 0.0
        sub.chords, sub.keys = [], []
        pieces.append(Piece(sub, tempo_by_piece[i], ts_by_piece[i], chords_by_piece[i], keys_by_piece[i]))
    return pieces


@dataclass
class Quantized:
    """A quantized piece (16th-note grid) in array form."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    instrument: np.ndarray
    program: np.ndarray
    is_drum: np.ndarray
    total_steps: int
    steps_per_bar: float
    qpm: float


class QuantizeError(Exception):
    """A piece note-seq refuses to quantize (its converters then yield nothing)."""


def quantize(piece: Piece, steps_per_quarter: int = 4) -> Quantized:
    """``sequences_lib.quantize_note_sequence`` on a split piece.

    Raises QuantizeError where note-seq raises (several meters or tempos, bad
    time signature, negative times).
    """
    tss = sorted(piece.time_signatures, key=lambda t: t[0])
    if tss:
        if tss[0][0] != 0 and not (tss[0][1] == 4 and tss[0][2] == 4):
            raise QuantizeError("implicit time signature change")
        first = piece.time_signatures[0]
        for t in tss[1:]:
            if t[1] != first[1] or t[2] != first[2]:
                raise QuantizeError("time signature change inside piece")
        num, den = first[1], first[2]
    else:
        num, den = 4, 4
    if not (den > 0 and not den & (den - 1)):
        raise QuantizeError(f"bad time signature denominator {den}")
    if num == 0:
        raise QuantizeError("time signature numerator 0")
    tempos = sorted(piece.tempos, key=lambda t: t[0])
    if tempos:
        if tempos[0][0] != 0 and tempos[0][1] != DEFAULT_QPM:
            raise QuantizeError("implicit tempo change")
        qpm = piece.tempos[0][1]
        for t in tempos[1:]:
            if t[1] != qpm:
                raise QuantizeError("tempo change inside piece")
    else:
        qpm = DEFAULT_QPM
    sps = steps_per_quarter * qpm / 60.0
    notes = piece.notes
    total_steps = int(notes.total_time * sps + 0.5)
    qs = (notes.start * sps + 0.5).astype(np.int64)  # int() truncates toward zero, as astype does
    qe = (notes.end * sps + 0.5).astype(np.int64)
    qe = np.where(qe == qs, qe + 1, qe)
    if qs.size and (qs.min() < 0 or qe.min() < 0):
        raise QuantizeError("negative note time")
    if qe.size:
        total_steps = max(total_steps, int(qe.max()))
    steps_per_bar = steps_per_quarter * ((4.0 / den) * num)
    return Quantized(qs, qe, notes.pitch, notes.velocity, notes.instrument, notes.program,
                     notes.is_drum, total_steps, steps_per_bar, qpm)


def quantized_pieces(notes: NoteArrays, steps_per_bar: int = 16) -> list[Quantized]:
    """Split on time changes, quantize, keep pieces whose bar is ``steps_per_bar`` steps."""
    out = []
    for piece in split_on_time_changes(notes):
        try:
            q = quantize(piece)
        except QuantizeError:
            continue
        if q.steps_per_bar == steps_per_bar:
            out.append(q)
    return out
