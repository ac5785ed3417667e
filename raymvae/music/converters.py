"""Magenta MusicVAE data converters: MIDI -> class-index windows -> MIDI.

``converter_for(config_name)`` returns the converter of a Magenta config.
Windows come out exactly as Magenta's ``OneHotMelodyConverter``,
``DrumsConverter`` and ``TrioConverter`` produce them (deduped per split
piece as Magenta does; trios are not deduped), but as class indices:
melody 0..89 (0 no event, 1 note off, 2 + pitch - 21), drums the decoder's
class (a bitmask over drum classes: 0..511 for the 9 reduced classes),
trio ``[..., 3]`` = (melody, bass, drums).

Each converter also knows its windows as data: ``parts`` names the
instruments of a window (one for melodies and drums; melody, bass, drums
for trios), each with a part converter that says what a class means for
statistics, transposition, class histograms, attributes and sample
quality. The model's tensor side of the same is ``raymvae.model.codecs``.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from raymvae.music import _extract, chords, multitrack, quality, stats
from raymvae.music.errors import MidiError
from raymvae.music.midi_write import note_sequence_to_midi_bytes
from raymvae.music.sequence import (NoteArrays, Piece, Quantized, QuantizeError, from_note_sequence, parse_midi,
                                    quantize, quantized_pieces, split_on_time_changes)

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16
OUTPUT_VELOCITY = 80
OUTPUT_QPM = 120.0
SECONDS_PER_STEP = 60.0 / OUTPUT_QPM / STEPS_PER_QUARTER
MAX_PIECE_STEPS = 1 << 22  # ~36 hours at 120 qpm: longer pieces are corrupt files

REDUCED_DRUM_PITCH_CLASSES = [
    [36, 35],
    [38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85],
    [42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22],
    [46, 67, 72, 74, 79, 81, 26],
    [45, 29, 41, 43, 61, 64, 84],
    [48, 47, 60, 63, 77, 86, 87],
    [50, 30, 62, 76, 83],
    [49, 52, 55, 57, 58],
    [51, 53, 59, 82],
]
# One class per GM drum pitch 27-87, in data.py's order (spec 1.3: 61 classes).
FULL_DRUM_PITCH_CLASSES = [[p] for c in REDUCED_DRUM_PITCH_CLASSES for p in c if 27 <= p <= 87]
MEL_PROGRAMS = (0, 32)   # [lo, hi): a trio's melody instruments
BASS_PROGRAMS = (32, 40)  # and its bass
ELECTRIC_BASS_PROGRAM = 33


def _step_limits(gap_bars: float | None, max_bars: int | None) -> tuple[int, int]:
    """(gap_steps, max_steps) for the extraction kernels: bars in steps, -1 where the rule is off."""
    return (int(gap_bars * STEPS_PER_BAR) if gap_bars else -1, max_bars * STEPS_PER_BAR if max_bars else -1)


def _windows(events: np.ndarray, offsets: np.ndarray, slice_steps: int) -> np.ndarray:
    """All ``slice_steps`` windows with a one-bar hop, melody by melody."""
    out = []
    for a, b in zip(offsets[:-1], offsets[1:]):
        seq = events[a:b]
        if seq.shape[0] >= slice_steps:
            view = np.lib.stride_tricks.sliding_window_view(seq, slice_steps)
            out.append(view[::STEPS_PER_BAR])
    if not out:
        return np.zeros((0, slice_steps), np.int64)
    return np.concatenate(out)


MELODY_ATTRIBUTES = {"note_density": stats.note_density, "pitch_range": stats.pitch_range,
                     "pitch_height": stats.mean_pitch, "syncopation": stats.syncopation}


def drum_bits(windows: np.ndarray, num_drum_classes: int) -> np.ndarray:
    """Drum windows (a bitmask of the classes hit per step) as bits ``[..., num_drum_classes]``."""
    return (np.asarray(windows, np.int64)[..., None] >> np.arange(num_drum_classes)) & 1


def transpose(windows: np.ndarray, lo: int, hi: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Shift the pitch classes (>= 2) of melody windows [N, T] (or [N, T, k] columns) by a random
    amount in [lo, hi] per row, narrowed per row so that every note stays within the class range."""
    return transpose_by(windows, lo, hi, num_classes, rng)[0]


def transpose_by(windows: np.ndarray, lo: int, hi: int, num_classes: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``transpose`` and the shift [N] it drew for each row."""
    w = windows.astype(np.int64)
    flat = w.reshape(len(w), -1)
    is_pitch = flat >= 2
    shift = narrowed_shifts(flat, is_pitch, lo, hi, 2, num_classes - 1, rng)
    out = np.where(is_pitch, flat + shift[:, None], flat)
    return out.reshape(w.shape).astype(windows.dtype), shift


def narrowed_shifts(values: np.ndarray, movable: np.ndarray, lo: int, hi: int, floor: int, ceiling: int,
                    rng: np.random.Generator) -> np.ndarray:
    """One random shift in [lo, hi] per row of ``values`` [N, ...], narrowed per row so that every ``movable``
    value stays within [floor, ceiling] once shifted."""
    rows = len(values)
    v = np.asarray(values).reshape(rows, -1)
    m = np.asarray(movable).reshape(rows, -1)
    has = m.any(1)
    low = np.where(has, np.maximum(lo, floor - np.where(m, v, ceiling).min(1)), lo)
    high = np.where(has, np.minimum(hi, ceiling - np.where(m, v, floor).max(1)), hi)
    return rng.integers(low, high + 1)


def _melody_classes(events: np.ndarray, min_pitch: int) -> np.ndarray:
    return np.where(events == _extract.NO_EVENT, 0,
                    np.where(events == _extract.NOTE_OFF, 1, events - min_pitch + 2))


class Converter:
    """Base: MIDI / NoteSequence in, class-index windows out, and back."""

    family = ""
    dtype = np.int16

    def __init__(self, name: str, slice_bars: int, max_windows_per_file: int | None = 5,
                 transpose_range: tuple[int, int] = (0, 0), **_: Any):
        self.name = name
        self.slice_bars = int(slice_bars)
        self.window_steps = self.slice_bars * STEPS_PER_BAR
        self.max_windows_per_file = None if max_windows_per_file is None else int(max_windows_per_file)
        self.transpose_range = tuple(transpose_range)

    # Encoding ---------------------------------------------------------------
    def midi_windows(self, data: bytes, report: dict[str, int] | None = None) -> np.ndarray:
        """All windows of a MIDI file in this converter's window format, deterministic order; MidiError if
        unreadable. ``report`` (a dict), when given, receives counts of what the conversion left out (e.g.
        ``notes_dropped``)."""
        return self._safe_encode(self._read(data), report)

    def encode_midi(self, data: bytes, report: dict[str, int] | None = None) -> np.ndarray:
        """All windows of a MIDI file (``midi_windows``; chord-conditioned melodies split them, see there)."""
        return self.midi_windows(data, report)

    def _note_seq_windows(self, data: bytes, report: dict[str, int] | None = None) -> np.ndarray:
        """``midi_windows`` through note-seq's own MIDI reader, for converters that need what its NoteSequence
        keeps and ``NoteArrays`` do not (sustain pedal, key signatures); MidiError if unreadable."""
        from note_seq import midi_io

        try:
            ns = midi_io.midi_to_note_sequence(bytes(data))
        except Exception as exc:  # noqa: BLE001 - contract: only MidiError escapes
            raise MidiError(f"unreadable MIDI: {exc}") from exc
        return self.encode_note_sequence(ns, report)

    @staticmethod
    def _read(data: bytes) -> NoteArrays:
        """The notes of MIDI bytes; MidiError, and nothing else, if they cannot be read."""
        try:
            return parse_midi(data)
        except MidiError:
            raise
        except Exception as exc:  # noqa: BLE001 - contract: only MidiError escapes
            raise MidiError(f"unreadable MIDI: {exc}") from exc

    def encode_note_sequence(self, ns, report: dict[str, int] | None = None) -> np.ndarray:
        """All windows of a note_seq NoteSequence proto."""
        return self._safe_encode(from_note_sequence(ns), report)

    def _safe_encode(self, notes: NoteArrays, report: dict[str, int] | None = None) -> np.ndarray:
        try:
            return self.encode_notes(notes, report)
        except MidiError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise MidiError(f"cannot convert: {exc}") from exc

    def encode_notes(self, notes: NoteArrays, report: dict[str, int] | None = None) -> np.ndarray:
        parts = []
        for q in quantized_pieces(notes, STEPS_PER_BAR):
            if q.total_steps > MAX_PIECE_STEPS:
                raise MidiError(f"piece of {q.total_steps} steps is longer than {MAX_PIECE_STEPS}; file is corrupt")
            w = self._piece_windows(q)
            if w.shape[0]:
                parts.append(w)
        if not parts:
            return np.zeros((0,) + self.window_shape, self.dtype)
        return np.concatenate(parts).astype(self.dtype)

    @property
    def window_shape(self) -> tuple[int, ...]:
        return (self.window_steps,)

    def describe_dropped(self) -> str:
        """Which notes ``report['notes_dropped']`` counts (none for Magenta's event converters)."""
        return "none: this converter drops no notes it could read"

    def _piece_windows(self, q: Quantized) -> np.ndarray:
        raise NotImplementedError

    # The windows as data --------------------------------------------------------
    control_depth = 0     # per-step conditioning the model reads beside its inputs (Magenta's controls)
    chord_conditioned = False  # the controls are chords (``progression_controls`` makes them from symbols)
    condition_on_key = False  # ... and the key of every step after them
    expressive = False    # windows are performances (GrooVAE frames): humanize / tap2drum / groove transfer apply
    roll_input = False    # the model's encoder reads this part as a drum roll (bits + 'no hit'), not one-hot
    roll_output = False   # the model's decoder emits this part as a drum roll (bits), not classes
    transposable = False  # its classes are pitches that augmentation may shift

    def controls(self, windows: np.ndarray) -> np.ndarray | None:
        """Controls ``[n, T, control_depth]`` (float32) derived from target windows (GrooVAE's hits); None where
        the config has none, or where the windows carry their controls as columns (chords, keys: the codec
        reads them there)."""
        return None

    def js_converter(self) -> tuple[str | None, dict[str, Any]]:
        """magenta-js's data converter for these windows: its type and arguments (None: it has none)."""
        return None, {}

    @property
    def parts(self) -> list[tuple[str, "Converter"]]:
        """(name, part converter) of each instrument of a window, in column order."""
        return [(self.family, self)]

    def split(self, windows: np.ndarray) -> list[np.ndarray]:
        """Each part's windows [N, T] (a single-part family's windows are that part)."""
        w = np.asarray(windows)
        return [w] if len(self.parts) == 1 else [w[..., k] for k in range(len(self.parts))]

    def is_empty(self, windows: np.ndarray) -> np.ndarray:
        """True for windows with no note and no hit in any part."""
        return np.logical_and.reduce([p.part_is_empty(w) for (_, p), w in zip(self.parts, self.split(windows))])

    def class_histogram(self, windows: np.ndarray) -> dict[str, list[int]]:
        """Class counts per part (drums: hits per drum class plus the number of steps with no hit)."""
        return {name: p.part_histogram(w) for (name, p), w in zip(self.parts, self.split(windows))}

    def features(self, windows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Sample-quality features per window with their bin edges (``raymvae.music.quality``), by name;
        a multi-part family's names start with the part (``bass/pitch_range``)."""
        many = len(self.parts) > 1
        return {(f"{name}/" if many else "") + feature: values
                for (name, p), w in zip(self.parts, self.split(windows))
                for feature, values in p.part_features(w).items()}

    def augment(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transposition by ``transpose_range``: one random shift per window for all its pitched parts
        (melody, bass), narrowed so that every note stays in range; drums never move."""
        lo, hi = self.transpose_range
        cols = [k for k, (_, p) in enumerate(self.parts) if p.transposable]
        if not cols or (lo == 0 and hi == 0):
            return windows
        classes = self.parts[cols[0]][1].num_classes
        if len(self.parts) == 1:
            return transpose(windows, lo, hi, classes, rng)
        out = windows.copy()
        out[..., cols] = transpose(windows[..., cols], lo, hi, classes, rng)
        return out

    @property
    def attribute_names(self) -> list[str]:
        """Attributes for attribute vectors: those of the first part (a trio's melody)."""
        return self.parts[0][1].part_attribute_names()

    def attribute_values(self, windows: np.ndarray, name: str) -> np.ndarray:
        """Attribute ``name`` of every window (of its first part)."""
        if name not in self.attribute_names:
            raise ValueError(f"unknown attribute {name!r} for {self.name}; "
                             f"choose from {', '.join(self.attribute_names)}")
        return self.parts[0][1].part_attribute_values(self.split(windows)[0], name)

    # Decoding ---------------------------------------------------------------
    def decode(self, windows: np.ndarray) -> list:
        """Windows -> NoteSequences (120 qpm, velocity 80), one per window."""
        return [self._decode_one(np.asarray(w)) for w in np.asarray(windows)]

    def _decode_one(self, window: np.ndarray):
        raise NotImplementedError

    def decode_joined(self, windows: np.ndarray, qpm: float = OUTPUT_QPM):
        """Consecutive windows -> one NoteSequence (decoded as one long window, so a note or a hit's timing
        carries across window edges), played at ``qpm``: a humanized or drumified file comes back at its
        input's tempo."""
        out = self._decode_one(np.concatenate(list(np.asarray(windows)), axis=0))
        out.total_time = len(windows) * self.window_steps * SECONDS_PER_STEP
        if qpm != OUTPUT_QPM:
            scale = OUTPUT_QPM / qpm
            for n in out.notes:
                n.start_time *= scale
                n.end_time *= scale
            out.total_time *= scale
            out.tempos[0].qpm = qpm
        return out

    @staticmethod
    def to_midi_bytes(ns) -> bytes:
        """NoteSequence -> MIDI bytes."""
        return note_sequence_to_midi_bytes(ns)


def _new_sequence():
    from note_seq.protobuf import music_pb2

    ns = music_pb2.NoteSequence()
    ns.tempos.add().qpm = OUTPUT_QPM
    ns.ticks_per_quarter = 220
    return ns


def _melody_to_notes(ns, classes: np.ndarray, min_pitch: int, instrument: int, program: int) -> None:
    """``Melody.to_sequence`` for a class-index melody, appended to ``ns``."""
    current = None
    for step, c in enumerate(classes.tolist()):
        if c >= 2:
            if current is not None:
                current.end_time = step * SECONDS_PER_STEP
            current = ns.notes.add()
            current.start_time = step * SECONDS_PER_STEP
            current.pitch = c - 2 + min_pitch
            current.velocity = OUTPUT_VELOCITY
            current.instrument = instrument
            current.program = program
        elif c == 1 and current is not None:
            current.end_time = step * SECONDS_PER_STEP
            current = None
    if current is not None:
        current.end_time = len(classes) * SECONDS_PER_STEP
    if ns.notes:
        ns.total_time = max(ns.total_time, max(n.end_time for n in ns.notes))


class MelodyConverter(Converter):
    """``OneHotMelodyConverter``: monophonic melodies, 90 classes."""

    family = "melody"

    def __init__(self, name: str, slice_bars: int, max_bars: int | None = 100, gap_bars: float | None = 1,
                 valid_programs: list[int] | None = None, min_pitch: int = 21, max_pitch: int = 108, **kw: Any):
        super().__init__(name, slice_bars, **kw)
        self.max_bars = max_bars
        self.gap_bars = gap_bars
        self.valid_programs = tuple(valid_programs) if valid_programs else None
        self.min_pitch = int(min_pitch)
        self.max_pitch = int(max_pitch)
        self.num_classes = self.max_pitch - self.min_pitch + 3

    def describe_empty(self) -> str:
        """Why a file gives no windows, in words (for error messages)."""
        progs = f" in programs {self.valid_programs[0]}-{self.valid_programs[1]}" if self.valid_programs else ""
        return (f"no {self.slice_bars}-bar melody{progs} (pitches {self.min_pitch}-{self.max_pitch}, "
                f"4/4-type meter, no silence of {self.gap_bars} bar or more inside)")

    def instrument_melodies(self, q: Quantized, sel: np.ndarray, gap_steps: int, max_steps: int,
                            pad_to: int) -> tuple[np.ndarray, np.ndarray]:
        """Melody events of the notes ``sel`` (one instrument), note-seq's order."""
        order = np.lexsort((-q.pitch[sel], q.start[sel]))
        idx = sel[order]
        ev, offs, _ = _extract.extract_melodies(
            q.start[idx], q.end[idx], q.pitch[idx], q.velocity[idx], q.is_drum[idx],
            STEPS_PER_BAR, gap_steps, max_steps, pad_to)
        return ev, offs

    def _piece_windows(self, q: Quantized) -> np.ndarray:
        lo, hi = self.valid_programs or (-1, -1)
        gap, max_steps = _step_limits(self.gap_bars, self.max_bars)
        return _extract.melody_windows(
            q.start, q.end, q.pitch, q.velocity, q.is_drum, q.instrument, q.program, lo, hi, self.min_pitch,
            self.max_pitch, STEPS_PER_BAR, gap, max_steps, self.window_steps)

    def _decode_one(self, window: np.ndarray):
        ns = _new_sequence()
        _melody_to_notes(ns, window, self.min_pitch, 0, 0)
        return ns

    def js_converter(self) -> tuple[str | None, dict[str, Any]]:
        return "MelodyConverter", {"minPitch": self.min_pitch, "maxPitch": self.max_pitch}

    # A melody part: classes 0 no event, 1 note off, 2 + pitch - min_pitch.
    transposable = True

    def part_is_empty(self, windows: np.ndarray) -> np.ndarray:
        return ~(np.asarray(windows) >= 2).any(1)

    def part_histogram(self, windows: np.ndarray) -> list[int]:
        return np.bincount(np.asarray(windows, np.int64).ravel(), minlength=self.num_classes).tolist()

    def part_features(self, windows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return quality.binned(quality.melody_features(windows, self.min_pitch), quality.MELODY_BINS,
                              np.shape(windows)[1])

    def part_attribute_names(self) -> list[str]:
        return list(MELODY_ATTRIBUTES)

    def part_attribute_values(self, windows: np.ndarray, name: str) -> np.ndarray:
        return np.array([MELODY_ATTRIBUTES[name](ns) for ns in self.decode(windows)], np.float64)


class ChordMelodyConverter(MelodyConverter):
    """``OneHotMelodyConverter(chord_encoding=TriadChordOneHotEncoding())``: melodies with the chord of every
    step (``raymvae.music.chords``), as windows ``[n, T, 2]`` = (melody class, chord class); the chords are
    the controls the model reads beside the melody. With ``condition_on_key`` (Magenta's flag, magenta-js's
    ``conditionOnKey``) also the key of every step: ``[n, T, 3]``, controls = 49 chord | 12 key classes.
    Windows are deduplicated as (melody, chords[, keys]) per split piece, so one melody can come with several
    chord sequences."""

    family = "chord_melody"
    chord_conditioned = True

    def __init__(self, name: str, slice_bars: int, condition_on_key: bool = False, **kw: Any):
        super().__init__(name, slice_bars, **kw)
        self.condition_on_key = bool(condition_on_key)
        self.control_depth = chords.NUM_CLASSES + (12 if self.condition_on_key else 0)

    @property
    def window_shape(self) -> tuple[int, ...]:
        return (self.window_steps, 3 if self.condition_on_key else 2)

    def describe_empty(self) -> str:
        return super().describe_empty() + " whose chords could be had (annotated or inferred)"

    def midi_windows(self, data: bytes, report: dict[str, int] | None = None) -> np.ndarray:
        """With ``condition_on_key`` MIDI is read by note-seq, whose NoteSequence has the file's key signatures."""
        if self.condition_on_key:
            return self._note_seq_windows(data, report)
        return super().midi_windows(data, report)

    def encode_midi(self, data: bytes, report: dict[str, int] | None = None, with_controls: bool = False):
        """The melody windows ``[n, T]`` of a MIDI file; with ``with_controls`` also their controls: chord
        classes ``[n, T]`` (with ``condition_on_key``: chord and key classes ``[n, T, 2]``), int16 both."""
        w = self.midi_windows(data, report)
        if not with_controls:
            return w[..., 0]
        return w[..., 0], (w[..., 1:] if self.condition_on_key else w[..., 1])

    def encode_notes(self, notes: NoteArrays, report: dict[str, int] | None = None) -> np.ndarray:
        """Windows of every split piece whose chords (and keys) can be had."""
        lo, hi = self.valid_programs or (-1, -1)
        gap, max_steps = _step_limits(self.gap_bars, self.max_bars)
        t = self.window_steps
        parts = []
        for piece in split_on_time_changes(notes):
            n = piece.notes
            keep = (n.pitch >= self.min_pitch) & (n.pitch <= self.max_pitch)
            if self.valid_programs:
                keep &= (n.program >= lo) & (n.program <= hi)
            piece = Piece(n.take(np.flatnonzero(keep)), piece.tempos, piece.time_signatures, piece.chords,
                          piece.keys)
            try:
                q = quantize(piece, STEPS_PER_QUARTER)
            except QuantizeError:
                continue
            if q.steps_per_bar != STEPS_PER_BAR:
                continue
            if q.total_steps > MAX_PIECE_STEPS:
                raise MidiError(f"piece of {q.total_steps} steps is longer than {MAX_PIECE_STEPS}; file is corrupt")
            melody, at = _extract.melody_slices(
                q.start, q.end, q.pitch, q.velocity, q.is_drum, q.instrument, q.program, lo, hi, self.min_pitch,
                self.max_pitch, STEPS_PER_BAR, gap, max_steps, t)
            if not len(melody):
                continue
            try:
                figures, pad, key_changes = chords.harmony(piece, q, STEPS_PER_QUARTER, self.condition_on_key)
                symbols = sorted(set(figures) | {pad})
                ids = np.array([symbols.index(f) for f in figures] + [symbols.index(pad)], np.int64)
                steps = at[:, None] + np.arange(t)
                cols = [melody.astype(np.int64), ids[np.minimum(steps, len(figures))]]
                if self.condition_on_key:
                    cols.append(chords.keys_at(key_changes, steps))
                rows = np.concatenate(cols, 1)
                rows = rows[_extract.unique_rows(rows)]
                classes = np.array([chords.encode(f) for f in symbols], np.int64)
            except chords.ChordError:
                continue
            parts.append(np.stack([rows[:, :t], classes[rows[:, t:2 * t]]]
                                  + ([rows[:, 2 * t:]] if self.condition_on_key else []), -1))
        if not parts:
            return np.zeros((0,) + self.window_shape, self.dtype)
        return np.concatenate(parts).astype(self.dtype)

    @property
    def parts(self) -> list[tuple[str, "Converter"]]:
        return [("melody", self)]

    def split(self, windows: np.ndarray) -> list[np.ndarray]:
        """The melody (column 0): what statistics, attributes and sample quality read."""
        return [np.asarray(windows)[..., 0]]

    def class_histogram(self, windows: np.ndarray) -> dict[str, list[int]]:
        """The melody's classes, then the controls': chords (and keys)."""
        w = np.asarray(windows, np.int64)
        out = super().class_histogram(windows)
        out["chords"] = np.bincount(w[..., 1].ravel(), minlength=chords.NUM_CLASSES).tolist()
        if self.condition_on_key:
            out["key"] = np.bincount(w[..., 2].ravel(), minlength=12).tolist()
        return out

    def augment(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transposition of melody, chords and key together (Magenta transposes the NoteSequence, chord symbols
        and key signatures included), by one shift per window narrowed so that every note stays in range."""
        lo, hi = self.transpose_range
        if lo == 0 and hi == 0:
            return windows
        out = windows.copy()
        out[..., 0], shift = transpose_by(windows[..., 0], lo, hi, self.num_classes, rng)
        out[..., 1] = chords.transpose(windows[..., 1], shift[:, None])
        if self.condition_on_key:
            out[..., 2] = (windows[..., 2] + shift[:, None]) % 12
        return out

    def progression_controls(self, bars: list[list[str]], key: int | None = None) -> np.ndarray:
        """Control classes per step of the windows that play ``bars`` (``chords.by_bar``) one after another:
        ``[k, T]`` chords (each bar's spread evenly over its steps, the last held to the end of the last
        window), or ``[k, T, 2]`` chords and ``key`` with ``condition_on_key``."""
        if (key is None) == self.condition_on_key:
            raise chords.ChordError(f"{self.name} is conditioned on a key: give one" if self.condition_on_key
                                    else f"{self.name} is not conditioned on a key")
        per_bar = [chords.progression(bar, STEPS_PER_BAR) for bar in bars]
        k = -(-len(per_bar) // self.slice_bars)
        per_bar += [np.full(STEPS_PER_BAR, per_bar[-1][-1], np.int16)] * (k * self.slice_bars - len(per_bar))
        out = np.concatenate(per_bar).reshape(k, self.window_steps)
        return np.stack([out, np.full_like(out, key)], -1) if self.condition_on_key else out

    def with_chords(self, melodies: np.ndarray, controls: np.ndarray) -> np.ndarray:
        """Windows from melody windows ``[n, T]`` and the control classes they were decoded under (chords
        ``[T]`` or ``[n, T]``; with a key ``[..., 2]``)."""
        m, c = np.asarray(melodies), np.asarray(controls)
        c = c if self.condition_on_key else c[..., None]
        return np.concatenate([m[..., None], np.broadcast_to(c, m.shape + c.shape[-1:])], -1).astype(self.dtype)

    def _decode_one(self, window: np.ndarray):
        """The melody, with a CHORD_SYMBOL annotation at every chord change (Magenta's
        ``add_chords_to_sequence``) and a key signature at every key change, so the file carries them."""
        ns = super()._decode_one(window[:, 0])
        for col in range(1, window.shape[1]):
            previous = None
            for step, c in enumerate(window[:, col].tolist()):
                if c == previous:
                    continue
                previous = c
                if col == 1:
                    ta = ns.text_annotations.add()
                    ta.time, ta.text, ta.annotation_type = step * SECONDS_PER_STEP, chords.name(c), ta.CHORD_SYMBOL
                else:
                    ks = ns.key_signatures.add()
                    ks.time, ks.key = step * SECONDS_PER_STEP, c
        return ns



class DrumsConverter(Converter):
    """``DrumsConverter``: all drum notes merged, classes per step as a bitmask."""

    family = "drums"

    def __init__(self, name: str, slice_bars: int, max_bars: int | None = 100, gap_bars: float | None = 1,
                 pitch_classes: str = "reduced", roll_output: bool = False, roll_input: bool = True, **kw: Any):
        super().__init__(name, slice_bars, **kw)
        self.roll_input = bool(roll_input)
        self.max_bars = max_bars
        self.gap_bars = gap_bars
        self.pitch_classes = REDUCED_DRUM_PITCH_CLASSES if pitch_classes == "reduced" else FULL_DRUM_PITCH_CLASSES
        self.num_drum_classes = len(self.pitch_classes)
        self.roll_output = bool(roll_output)
        self.class_of_pitch = np.full(128, -1, np.int64)
        for c, pitches in enumerate(self.pitch_classes):
            for p in pitches:
                self.class_of_pitch[p] = c
        if self.num_drum_classes > 15:
            self.dtype = np.int64
        self.num_classes = 1 << self.num_drum_classes

    def describe_empty(self) -> str:
        return f"no {self.slice_bars}-bar drum pattern (drum-channel hits, no silent bar inside, 4/4-type meter)"

    def js_converter(self) -> tuple[str | None, dict[str, Any]]:
        return ("DrumRollConverter" if self.roll_output else "DrumsConverter",
                {"pitchClasses": [list(c) for c in self.pitch_classes]})

    def drum_groups(self, q: Quantized, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unique onset steps of drum notes ``sel`` and their class bitmasks."""
        cls = self.class_of_pitch[q.pitch[sel]]
        ok = q.is_drum[sel] & (cls >= 0) & (q.velocity[sel] > 0)
        steps = q.start[sel][ok]
        bits = np.left_shift(np.int64(1), cls[ok])
        if steps.size == 0:
            return steps, bits
        order = np.argsort(steps, kind="stable")
        steps, bits = steps[order], bits[order]
        uniq, first = np.unique(steps, return_index=True)
        return uniq, np.bitwise_or.reduceat(bits, first)

    def _piece_windows(self, q: Quantized) -> np.ndarray:
        steps, masks = self.drum_groups(q, np.arange(q.start.shape[0]))
        gap, max_steps = _step_limits(self.gap_bars, self.max_bars)
        ev, offs = _extract.extract_drums(steps, masks, STEPS_PER_BAR, gap, max_steps, 0)
        w = _windows(ev, offs, self.window_steps)
        return w[_extract.unique_rows(w)]

    def _decode_one(self, window: np.ndarray, ns=None, instrument: int = 9):
        ns = ns if ns is not None else _new_sequence()
        for step, mask in enumerate(np.asarray(window, np.int64).tolist()):
            for c in range(self.num_drum_classes):
                if mask >> c & 1:
                    n = ns.notes.add()
                    n.start_time = step * SECONDS_PER_STEP
                    n.end_time = (step + 1) * SECONDS_PER_STEP
                    n.pitch = self.pitch_classes[c][0]
                    n.velocity = OUTPUT_VELOCITY
                    n.instrument = instrument
                    n.is_drum = True
        if ns.notes:
            ns.total_time = max(ns.total_time, max(n.end_time for n in ns.notes))
        return ns

    # A drum part: each class a bitmask of the drum classes hit on the step.
    def part_is_empty(self, windows: np.ndarray) -> np.ndarray:
        return ~(np.asarray(windows) != 0).any(1)

    def part_histogram(self, windows: np.ndarray) -> list[int]:
        """Hits per drum class, then the number of steps with no hit."""
        w = np.asarray(windows, np.int64).ravel()
        return drum_bits(w, self.num_drum_classes).sum(0).tolist() + [int((w == 0).sum())]

    def part_features(self, windows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return quality.binned(quality.drum_features(drum_bits(windows, self.num_drum_classes)), quality.DRUM_BINS,
                              np.shape(windows)[1])

    def part_attribute_names(self) -> list[str]:
        return [f"density_class_{c}" for c in range(self.num_drum_classes)]

    def part_attribute_values(self, windows: np.ndarray, name: str) -> np.ndarray:
        return drum_bits(windows, self.num_drum_classes)[..., int(name.rsplit("_", 1)[1])].mean(axis=1)


class TrioConverter(Converter):
    """``TrioConverter``: melody + bass + drums, cross product of instruments."""

    family = "trio"

    def __init__(self, name: str, slice_bars: int = 16, gap_bars: int = 2, max_bars: int = 1024, **kw: Any):
        super().__init__(name, slice_bars, **kw)
        self.gap_bars = int(gap_bars)
        self.max_bars = int(max_bars)
        self.melody = MelodyConverter(name, slice_bars, max_bars=None, gap_bars=None)
        self.drums = DrumsConverter(name, slice_bars, max_bars=None, gap_bars=None, roll_input=False)

    @property
    def parts(self) -> list[tuple[str, Converter]]:
        return [("melody", self.melody), ("bass", self.melody), ("drums", self.drums)]

    @property
    def window_shape(self) -> tuple[int, ...]:
        return (self.window_steps, 3)

    def js_converter(self) -> tuple[str | None, dict[str, Any]]:
        mel = self.melody.js_converter()[1]
        return "TrioConverter", {"melArgs": mel, "bassArgs": dict(mel), "drumsArgs": self.drums.js_converter()[1]}

    def describe_empty(self) -> str:
        return (f"no {self.slice_bars}-bar trio (needs a melody in programs 0-31, a bass in programs 32-39 and "
                f"drums on channel 10 playing together, 4/4-type meter)")

    def _piece_windows(self, q: Quantized) -> np.ndarray:
        spb = STEPS_PER_BAR
        total_bars = min(int(np.ceil(q.total_steps / spb)), self.max_bars)
        prog = q.program
        is_bass = (prog >= BASS_PROGRAMS[0]) & (prog < BASS_PROGRAMS[1])
        inferred = np.where(q.is_drum, 3, np.where((prog >= MEL_PROGRAMS[0]) & (prog < MEL_PROGRAMS[1]), 1,
                                                   np.where(is_bass, 2, 4)))
        ok = (q.instrument >= 0) & (q.instrument <= 127)
        has = np.zeros((128, 5), bool)  # instrument x type: 1 mel, 2 bass, 3 drums, 4 invalid
        has[q.instrument[ok], inferred[ok]] = True
        kinds = has.sum(1)
        itype = np.where(kinds == 1, has.argmax(1), np.where(kinds == 0, 0, 4))  # 0: no notes
        by_type = {t: np.flatnonzero(itype == t).tolist() for t in (1, 2, 3)}
        if not all(by_type.values()):
            return np.zeros((0, self.window_steps, 3), np.int64)
        start_bar = q.start // spb
        end_bar = np.minimum(-((-q.end) // spb), total_bars)
        valid = (q.instrument >= 0) & (q.instrument <= 127) & (start_bar < total_bars) & (end_bar > start_bar)
        diff = np.zeros((total_bars + 1, 128), np.int64)
        np.add.at(diff, (start_bar[valid], q.instrument[valid]), 1)
        np.add.at(diff, (end_bar[valid], q.instrument[valid]), -1)
        coverage = np.cumsum(diff, axis=0)[:total_bars] > 0
        qpm = q.qpm
        total_time = total_bars * spb * 60 / qpm / STEPS_PER_QUARTER
        sps = STEPS_PER_QUARTER * qpm / 60.0
        base_total = int(total_time * sps + 0.5)
        encoded: dict[int, np.ndarray] = {}
        for i in by_type[1] + by_type[2]:
            sel = np.flatnonzero((q.instrument == i) & (q.pitch >= self.melody.min_pitch)
                                 & (q.pitch <= self.melody.max_pitch))
            pad_to = max(base_total, int(q.end[sel].max())) if sel.size else base_total
            ev, offs = self.melody.instrument_melodies(q, sel, -1, -1, pad_to)
            if offs.shape[0] > 1:
                encoded[i] = _melody_classes(ev[offs[0]:offs[1]], self.melody.min_pitch)
            else:
                coverage[:, i] = False
        for i in by_type[3]:
            sel = np.flatnonzero(q.instrument == i)
            steps, masks = self.drums.drum_groups(q, sel)
            pad_to = max(base_total, int(q.end[sel].max()))
            ev, offs = _extract.extract_drums(steps, masks, spb, -1, -1, pad_to)
            if offs.shape[0] > 1:
                encoded[i] = ev[offs[0]:offs[1]]
            else:
                coverage[:, i] = False
        g = self.gap_bars
        cs = np.concatenate([np.zeros((1, 128), np.int64), np.cumsum(coverage, axis=0)])
        bars = np.arange(total_bars)
        coverage = (cs[np.minimum(total_bars, bars + g + 1)] - cs[np.maximum(0, bars - g)]) > 0
        n_starts = total_bars - self.slice_bars + 1
        out = []
        for grp in itertools.product(by_type[1], by_type[2], by_type[3]):
            if n_starts <= 0 or not all(i in encoded for i in grp):
                continue
            cols = list(grp)
            grp_cov = coverage[:, cols].all(axis=1)
            grp_cov[:g] = coverage[:g, cols].any()
            grp_cov[-g:] = coverage[-g:, cols].any()
            run = np.concatenate([[0], np.cumsum(grp_cov)])
            starts = np.flatnonzero(run[self.slice_bars:self.slice_bars + n_starts] - run[:n_starts]
                                    == self.slice_bars)
            if starts.size:
                frame = np.stack([encoded[i][:total_bars * spb] for i in grp], axis=-1)
                idx = (starts * spb)[:, None] + np.arange(self.window_steps)
                out.append(frame[idx])
        if not out:
            return np.zeros((0, self.window_steps, 3), np.int64)
        return np.concatenate(out)

    def _decode_one(self, window: np.ndarray):
        ns = _new_sequence()
        _melody_to_notes(ns, window[:, 0], self.melody.min_pitch, 0, 0)
        _melody_to_notes(ns, window[:, 1], self.melody.min_pitch, 1, ELECTRIC_BASS_PROGRAM)
        self.drums._decode_one(window[:, 2], ns, instrument=9)
        return ns


# GrooveConverter's training map: the Roland TD-11 pitches of the Groove MIDI Dataset (data.py).
ROLAND_DRUM_PITCH_CLASSES = [[36], [38, 37, 40], [42, 22, 44], [46, 26], [43, 58], [47, 45], [50, 48],
                             [49, 52, 55, 57], [51, 53, 59]]
GROOVE_DRUMS = ["kick", "snare", "closed_hh", "open_hh", "low_tom", "mid_tom", "high_tom", "crash", "ride"]
OPEN_HH = 3  # tapify's column
GROOVE_TICKS_PER_QUARTER = 960  # written MIDI keeps micro-timing to 1/240 of a 16th
_PITCH_MAPS = {"roland": ROLAND_DRUM_PITCH_CLASSES, "reduced": REDUCED_DRUM_PITCH_CLASSES}


class MultitrackConverter(Converter):
    """``MultiInstrumentPerformanceConverter``: one bar of 2-8 instruments as performances, int16 windows
    ``[n, 8 * 64]`` of Magenta's token ids, -1 padding (``raymvae.music.multitrack``). Windows are every
    bar in time order, none deduplicated (as Magenta's converter gives them). With ``with_chords`` (the
    ``_chords`` configs) each token row also carries the chord at its time: windows ``[n, 8 * 64, 2]``, the
    chords being the controls the model reads."""

    family = "multitrack"

    def __init__(self, name: str, slice_bars: int = 1, min_instruments: int = 2, max_instruments: int = 8,
                 min_total_events: int = 8, max_events_per_instrument: int = 64, with_chords: bool = False,
                 **kw: Any):
        kw.setdefault("max_windows_per_file", None)
        super().__init__(name, slice_bars, **kw)
        if self.slice_bars != 1:
            raise ValueError("multitrack windows are one bar (Magenta's hop_size_bars = chunk_size_bars = 1)")
        self.rules = multitrack.MeasureRules(min_instruments, max_instruments, min_total_events,
                                             max_events_per_instrument, chords=with_chords)
        self.num_slots, self.slot_rows = self.rules.max_instruments, self.rules.max_events
        self.num_classes = multitrack.DEPTH
        self.window_steps = self.num_slots * self.slot_rows
        self.chord_conditioned = bool(with_chords)
        self.control_depth = chords.NUM_CLASSES if with_chords else 0

    @property
    def window_shape(self) -> tuple[int, ...]:
        return (self.window_steps, 2) if self.chord_conditioned else (self.window_steps,)

    def describe_empty(self) -> str:
        return (f"no bar of {self.rules.min_instruments}-{self.rules.max_instruments} instruments with at most "
                f"{self.slot_rows - 2} performance events each (4/4-type meter"
                + (", chords that could be had)" if self.chord_conditioned else ")"))

    def midi_windows(self, data: bytes, report: dict[str, int] | None = None) -> np.ndarray:
        """Every bar's window; MIDI is read by note-seq, whose NoteSequence keeps the sustain pedal."""
        return self._note_seq_windows(data, report)

    def encode_note_sequence(self, ns, report: dict[str, int] | None = None) -> np.ndarray:
        try:
            return multitrack.sequence_windows(ns, self.rules)
        except Exception as exc:  # noqa: BLE001
            raise MidiError(f"cannot convert: {exc}") from exc

    def encode_notes(self, notes: NoteArrays, report: dict[str, int] | None = None) -> np.ndarray:
        from raymvae.music.sequence import to_note_sequence

        return multitrack.sequence_windows(to_note_sequence(notes), self.rules)

    def js_converter(self) -> tuple[str | None, dict[str, Any]]:
        return "MultitrackConverter", {"stepsPerQuarter": multitrack.STEPS_PER_QUARTER,
                                       "totalSteps": multitrack.STEPS_PER_BAR,
                                       "numVelocityBins": multitrack.NUM_VELOCITY_BINS, "minPitch": 0,
                                       "maxPitch": 127}

    def tokens(self, windows: np.ndarray) -> np.ndarray:
        """The token ids ``[n, 8 * 64]`` of windows (without their chords)."""
        w = np.asarray(windows)
        return w[..., 0] if self.chord_conditioned else w

    def split(self, windows: np.ndarray) -> list[np.ndarray]:
        return [self.tokens(windows)]

    def class_histogram(self, windows: np.ndarray) -> dict[str, list[int]]:
        """Token counts (and, with chords, the chords of the token rows)."""
        out = super().class_histogram(windows)
        if self.chord_conditioned:
            c = np.asarray(windows, np.int64)[..., 1].ravel()
            out["chords"] = np.bincount(c[c >= 0], minlength=chords.NUM_CLASSES).tolist()
        return out

    def progression_controls(self, bars: list[list[str]], key: int | None = None) -> np.ndarray:
        """Chord classes per token row ``[bars, 512]``, one window per bar, as magenta-js conditions a multitrack
        model: in every track, N.C. for the program token, then the bar's chords spread over the other rows."""
        if key is not None:
            raise chords.ChordError(f"{self.name} is not conditioned on a key")
        rows = [np.concatenate([[0], chords.progression(bar, self.slot_rows - 1)]) for bar in bars]
        return np.stack([np.tile(r, self.num_slots) for r in rows]).astype(np.int16)

    def valid(self, windows: np.ndarray) -> np.ndarray:
        """True for the token rows of a window (False for padding)."""
        return self.tokens(windows) >= 0

    def lengths(self, windows: np.ndarray) -> np.ndarray:
        """Token rows per slot ``[n, 8]`` (Magenta's per-track lengths)."""
        return self.valid(windows).reshape(len(windows), self.num_slots, -1).sum(-1)

    def augment(self, windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Transposition by ``transpose_range`` (Magenta transposes the NoteSequence, chord symbols included):
        the note-ons and note-offs of pitched tracks move by one shift per window, narrowed so that every
        pitch stays in 0..127, and so do the chords; drum tracks never move."""
        lo, hi = self.transpose_range
        if lo == 0 and hi == 0:
            return windows
        t = self.tokens(windows).astype(np.int64)
        w = t.reshape(len(t), self.num_slots, self.slot_rows)
        notes = (w >= 0) & (w < 256) & (w[:, :, :1] != multitrack.DRUM_TOKEN)
        shift = narrowed_shifts(w % 128, notes, lo, hi, 0, 127, rng)
        moved = np.where(notes, w + shift[:, None, None], w).reshape(t.shape)
        if not self.chord_conditioned:
            return moved.astype(np.asarray(windows).dtype)
        c = np.asarray(windows)[..., 1]
        out = np.stack([moved, np.where(c >= 0, chords.transpose(np.maximum(c, 0), shift[:, None]), c)], -1)
        return out.astype(np.asarray(windows).dtype)

    def _decode_one(self, window: np.ndarray):
        return multitrack.window_to_sequence(window, self.rules)

    def decode_joined(self, windows: np.ndarray, qpm: float = OUTPUT_QPM):
        """Consecutive bars as one NoteSequence (a slot is one MIDI instrument throughout)."""
        out = None
        for k, w in enumerate(np.asarray(windows)):
            ns = multitrack.window_to_sequence(w, self.rules, qpm)
            if out is None:
                out = ns
                continue
            shift = k * 4 * 60.0 / qpm
            for n in ns.notes:
                n.start_time += shift
                n.end_time += shift
                out.notes.add().CopyFrom(n)
            for a in ns.text_annotations:
                if not out.text_annotations or out.text_annotations[-1].text != a.text:
                    a.time += shift
                    out.text_annotations.add().CopyFrom(a)
            out.total_time = max(out.total_time, ns.total_time + shift)
        return out

    # A multitrack part: tokens for statistics and sample quality.
    def part_is_empty(self, windows: np.ndarray) -> np.ndarray:
        w = np.asarray(windows)
        return ~((w >= 0) & (w < 128)).any(-1)

    def part_histogram(self, windows: np.ndarray) -> list[int]:
        w = np.asarray(windows, np.int64).ravel()
        return np.bincount(w[w >= 0], minlength=self.num_classes).tolist()

    def part_features(self, windows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return quality.binned(quality.multitrack_features(windows, self.num_slots, multitrack.DRUM_TOKEN,
                                                          multitrack.NUM_EVENTS - multitrack.NUM_VELOCITY_BINS),
                              quality.MULTITRACK_BINS, multitrack.STEPS_PER_BAR)

    def part_attribute_names(self) -> list[str]:
        return ["note_density", "instruments"]

    def part_attribute_values(self, windows: np.ndarray, name: str) -> np.ndarray:
        return self.part_features(windows)[name][0]


def _class_of_pitch(classes: list[list[int]]) -> np.ndarray:
    out = np.full(128, -1, np.int64)
    for c, pitches in enumerate(classes):
        for p in pitches:
            out[p] = c
    return out


class GrooveConverter(Converter):
    """``GrooveConverter`` (GrooVAE): per 16th-note step and drum class a hit, a velocity and a micro-timing
    offset, as float32 windows ``[n, T, 27]`` = [9 hits | 9 velocities / 127 | 9 offsets in [-1, 1]].

    The windows are the decoder's targets; ``model_inputs`` derives the encoder's inputs from them as the
    config says (humanize, tapify, fixed velocities, instruments to add, note dropout). Only drum notes are
    read; a drum pitch outside the class map is dropped and counted (Magenta raises KeyError on it).
    """

    family = "groove"
    dtype = np.float32
    expressive = True

    def __init__(self, name: str, slice_bars: int, pitch_classes: str = "roland",
                 inference_pitch_classes: str = "reduced", inference: bool = False, humanize: bool = False,
                 tapify: bool = False, fixed_velocities: bool = False, add_instruments: list[int] | None = None,
                 max_note_dropout_probability: float | None = None, hits_as_controls: bool = False, **kw: Any):
        kw.setdefault("max_windows_per_file", None)
        super().__init__(name, slice_bars, **kw)
        self.inference = bool(inference)
        self.pitch_map = inference_pitch_classes if self.inference else pitch_classes
        self.pitch_classes = _PITCH_MAPS[self.pitch_map]
        self.output_pitch_classes = _PITCH_MAPS[inference_pitch_classes]  # what decoding writes (Magenta's infer)
        self.class_of_pitch = _class_of_pitch(self.pitch_classes)
        self.num_drum_classes = len(self.pitch_classes)
        self.depth = 3 * self.num_drum_classes
        self.humanize, self.tapify, self.fixed_velocities = bool(humanize), bool(tapify), bool(fixed_velocities)
        self.add_instruments = sorted(int(i) for i in (add_instruments or []))
        self.max_note_dropout_probability = max_note_dropout_probability
        self.hits_as_controls = bool(hits_as_controls)
        self.control_depth = self.num_drum_classes if self.hits_as_controls else 0

    @property
    def window_shape(self) -> tuple[int, ...]:
        return (self.window_steps, self.depth)

    def describe_empty(self) -> str:
        return (f"no {self.slice_bars}-bar drum performance (drum-channel notes in the {self.pitch_map} drum map, "
                f"one tempo, one 4/4-type meter)")

    def describe_dropped(self) -> str:
        return f"drum notes whose pitch is not in the {self.pitch_map} drum map"

    def js_converter(self) -> tuple[str | None, dict[str, Any]]:
        """magenta-js's GrooveConverter reads humanize and tapify (its tapify zeroes velocities too: fixed
        velocities come with it and only with it) in the General-MIDI map; it has no instruments to add."""
        if self.add_instruments or self.fixed_velocities != self.tapify:
            return None, {}
        return "GrooveConverter", {"stepsPerQuarter": STEPS_PER_QUARTER, "humanize": self.humanize,
                                   "tapify": self.tapify, "pitchClasses": [list(c) for c in self.output_pitch_classes]}

    def encode_performance(self, data: bytes, taps: bool = False) -> tuple[np.ndarray, float]:
        """(windows, tempo in qpm) of MIDI bytes, read once; with ``taps``, any rhythm: every note of the
        file, of any instrument, read as an open hi-hat hit at its velocity and timing (what tap2drum's
        tapify input keeps of a performance)."""
        notes = self._read(data)
        if taps:
            notes.is_drum = np.ones(len(notes), bool)
            notes.pitch = np.full(len(notes), self.pitch_classes[OPEN_HH][0], np.int64)
        qpm = float(notes.tempo_qpms[0]) if len(notes.tempo_qpms) else OUTPUT_QPM
        return self._safe_encode(notes), qpm

    def encode_notes(self, notes: NoteArrays, report: dict[str, int] | None = None) -> np.ndarray:
        """The whole file (never split on time changes) on one grid; one window per ``slice_bars`` bars from
        bar 0, all kept, in time order; the loudest note of a class on a step wins (the first on a tie)."""
        empty = np.zeros((0,) + self.window_shape, self.dtype)
        drum = np.flatnonzero(notes.is_drum)
        cls = self.class_of_pitch[notes.pitch[drum]]
        if report is not None:
            report["notes_dropped"] = report.get("notes_dropped", 0) + int((cls < 0).sum())
        keep = drum[cls >= 0]
        cls = cls[cls >= 0]
        piece = Piece(notes.take(keep), list(zip(notes.tempo_times.tolist(), notes.tempo_qpms.tolist())),
                      list(zip(notes.ts_times.tolist(), notes.ts_nums.tolist(), notes.ts_dens.tolist())))
        try:
            q = quantize(piece, STEPS_PER_QUARTER)
        except QuantizeError:
            return empty
        if q.steps_per_bar != STEPS_PER_BAR or not len(keep):
            return empty
        if q.total_steps > MAX_PIECE_STEPS:
            raise MidiError(f"piece of {q.total_steps} steps is longer than {MAX_PIECE_STEPS}; file is corrupt")
        step_length = 60.0 / q.qpm / STEPS_PER_QUARTER
        steps = q.start
        max_step = STEPS_PER_BAR * int(np.ceil((steps.max() + 1) / STEPS_PER_BAR))
        order = np.lexsort((np.arange(len(steps)), -q.velocity, cls, steps))  # per (step, class): loudest first
        s, c = steps[order], cls[order]
        first = np.ones(len(order), bool)
        first[1:] = (s[1:] != s[:-1]) | (c[1:] != c[:-1])
        win = order[first]
        d = self.num_drum_classes
        frame = np.zeros((max_step, 3 * d), np.float64)
        frame[steps[win], cls[win]] = 1.0
        frame[steps[win], d + cls[win]] = q.velocity[win] / 127.0
        onset = piece.notes.start[win]
        frame[steps[win], 2 * d + cls[win]] = (step_length * steps[win] - onset) / step_length * 2
        n = max_step // self.window_steps
        return frame[:n * self.window_steps].reshape((n,) + self.window_shape).astype(self.dtype)

    def model_inputs(self, windows: np.ndarray, seed: int | None = None, note_dropout: bool = True) -> np.ndarray:
        """The encoder inputs the config derives from target windows, in Magenta's order: note dropout
        (one probability per window, drawn with ``seed``; off with ``note_dropout=False``), tapify,
        humanize, fixed velocities, then the instruments to add removed."""
        w = np.asarray(windows, np.float32)
        d = self.num_drum_classes
        hits, vel, off = (w[..., k * d:(k + 1) * d].copy() for k in range(3))
        if note_dropout and self.max_note_dropout_probability is not None:
            rng = np.random.default_rng(seed)
            p = rng.uniform(0.0, self.max_note_dropout_probability, size=(len(w), 1, 1))
            keep = 1.0 - rng.binomial(1, np.maximum(0.2, 1.0 - vel) * p)
            hits, vel, off = hits * keep, vel * keep, off * keep
        if self.tapify:
            pick = np.argmax(vel, axis=-1)[..., None]
            tap = [np.take_along_axis(a, pick, -1) for a in (w[..., :d], w[..., d:2 * d], w[..., 2 * d:])]
            hits, vel, off = (np.zeros_like(hits) for _ in range(3))
            hits[..., OPEN_HH:OPEN_HH + 1], vel[..., OPEN_HH:OPEN_HH + 1], off[..., OPEN_HH:OPEN_HH + 1] = tap
        if self.humanize:
            vel[:], off[:] = 0.0, 0.0
        if self.fixed_velocities:
            vel[:] = 0.0
        if self.add_instruments:
            for a in (hits, vel, off):
                a[..., self.add_instruments] = 0.0
        return np.concatenate([hits, vel, off], -1).astype(np.float32)

    def controls(self, windows: np.ndarray) -> np.ndarray | None:
        """``hits_as_controls``: the target hits, which the model reads at every step of encoder and decoder
        so that it learns only how they are played (groove transfer decodes one file's z with another's hits)."""
        return self.hits(windows).astype(np.float32) if self.hits_as_controls else None

    @property
    def identity_inputs(self) -> bool:
        """True where the encoder reads the targets unchanged (groovae_4bar)."""
        return not (self.max_note_dropout_probability is not None or self.tapify or self.humanize
                    or self.fixed_velocities or self.add_instruments)

    def hits(self, windows: np.ndarray) -> np.ndarray:
        """The hit columns [..., T, 9] as 0/1 ints."""
        return (np.asarray(windows)[..., :self.num_drum_classes] > 0.5).astype(np.int64)

    def _decode_one(self, window: np.ndarray):
        """``GrooveConverter.from_tensors``: a note per hit > 0.5 at (step - offset / 2) steps, one step long,
        velocity round(v * 127), in the General-MIDI pitches Magenta's inference writes (a note that would
        start before 0 starts at 0; a hit keeps velocity >= 1, which MIDI needs to sound)."""
        ns = _new_sequence()
        ns.ticks_per_quarter = GROOVE_TICKS_PER_QUARTER
        d = self.num_drum_classes
        w = np.asarray(window, np.float64)
        for step, c in zip(*np.nonzero(w[:, :d] > 0.5)):
            offset = float(np.clip(w[step, 2 * d + c] / 2, -0.5, 0.5))
            n = ns.notes.add()
            n.start_time = max(0.0, (step - offset) * SECONDS_PER_STEP)
            n.end_time = n.start_time + SECONDS_PER_STEP
            n.pitch = self.output_pitch_classes[c][0]
            n.velocity = int(np.clip(np.round(w[step, d + c] * 127), 1, 127))
            n.instrument = 9
            n.is_drum = True
        if ns.notes:
            ns.total_time = max(n.end_time for n in ns.notes)
        return ns

    # A groove part: hits as drum bits for statistics, attributes and sample quality.
    def part_is_empty(self, windows: np.ndarray) -> np.ndarray:
        return ~self.hits(windows).any((1, 2))

    def part_histogram(self, windows: np.ndarray) -> list[int]:
        """Hits per drum class, then the number of steps with no hit."""
        h = self.hits(windows).reshape(-1, self.num_drum_classes)
        return h.sum(0).tolist() + [int((h.sum(1) == 0).sum())]

    def part_features(self, windows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return quality.binned(quality.groove_features(windows, self.num_drum_classes), quality.GROOVE_BINS,
                              np.shape(windows)[1])

    def part_attribute_names(self) -> list[str]:
        return [f"density_{name}" for name in GROOVE_DRUMS]

    def part_attribute_values(self, windows: np.ndarray, name: str) -> np.ndarray:
        return self.hits(windows)[..., GROOVE_DRUMS.index(name.split("_", 1)[1])].mean(axis=1)


_FAMILIES = {"melody": MelodyConverter, "chord_melody": ChordMelodyConverter, "drums": DrumsConverter,
             "trio": TrioConverter, "groove": GrooveConverter, "multitrack": MultitrackConverter}


def converter_for(config, inference: bool = False) -> Converter:
    """The converter of a Magenta config name (or a loaded ``Config``). ``inference`` reads input as
    Magenta's ``set_mode('infer')`` does: GrooVAE maps drum pitches through the General-MIDI map
    (``REDUCED_DRUM_PITCH_CLASSES``) rather than the Roland map it trains with; other families ignore it."""
    from raymvae.config import load_config

    cfg = load_config(config)
    settings = dict(cfg.converter)
    family = settings.pop("family")
    if family not in _FAMILIES:
        raise ValueError(f"config {cfg.name!r} uses converter family {family!r}, which raymvae does not support")
    return _FAMILIES[family](cfg.name, inference=inference, **settings)
