"""Chords for chord-conditioned melodies, as Magenta's ``OneHotMelodyConverter(chord_encoding=...)`` gets them.

Per split piece: the chord symbols the piece carries (a NoteSequence's
CHORD_SYMBOL annotations) or, where it has none, note-seq's own
``infer_chords_for_sequence`` with its defaults, exactly as Magenta's
converter calls it; then the chord active at every step
(``chords_lib.event_list_chords``) and its ``TriadChordOneHotEncoding``
class: 0 N.C., 1-12 major C..B, 13-24 minor, 25-36 augmented, 37-48
diminished. A piece whose chords cannot be had (inference fails, two chords
on one step, a chord that is not a triad) gives no windows, as in Magenta.
"""
from __future__ import annotations

import numpy as np

from raymvae.music.sequence import Piece, Quantized

NUM_CLASSES = 49
NO_CHORD = "N.C."
_QUALITIES = ("", "m", "aug", "dim")
_ROOTS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


class ChordError(ValueError):
    """A chord symbol this encoding cannot hold, or a piece whose chords cannot be had."""


def encode(figure: str) -> int:
    """``TriadChordOneHotEncoding.encode_event``: the class of a chord symbol ('C', 'F#m7', 'N.C.')."""
    from note_seq import chord_symbols_lib
    from note_seq.chords_encoder_decoder import ChordEncodingError, TriadChordOneHotEncoding

    try:
        return int(TriadChordOneHotEncoding().encode_event(figure))
    except (ChordEncodingError, chord_symbols_lib.ChordSymbolError) as exc:
        raise ChordError(f"chord {figure!r}: {exc}") from exc


def name(cls: int) -> str:
    """The chord symbol of a class (inverse of ``encode`` up to the triad): 0 'N.C.', 1 'C', 14 'C#m', ..."""
    if not 0 <= cls < NUM_CLASSES:
        raise ChordError(f"chord class {cls} is outside 0..{NUM_CLASSES - 1}")
    if cls == 0:
        return NO_CHORD
    return _ROOTS[(cls - 1) % 12] + _QUALITIES[(cls - 1) // 12]


def transpose(classes: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Chord classes moved by ``shift`` semitones (broadcast; N.C. stays N.C.), as a transposed piece's chords."""
    c = np.asarray(classes, np.int64)
    moved = (c - 1) // 12 * 12 + ((c - 1) % 12 + shift) % 12 + 1
    return np.where(c == 0, 0, moved).astype(np.asarray(classes).dtype)


def parse(progression: str | list[str]) -> list[str]:
    """Chord symbols of a progression given as one string ("C G Am F", commas allowed) or a list of them."""
    text = progression if isinstance(progression, str) else " ".join(progression)
    return text.replace(",", " ").split()


def progression(chords: list[str], steps: int) -> np.ndarray:
    """Classes of ``steps`` steps for a progression spread evenly over them, as magenta-js's
    ``encodeProgression`` does (step s plays chord s * n // steps)."""
    if not chords:
        raise ChordError("a chord progression needs at least one chord")
    if len(chords) > steps:
        raise ChordError(f"{len(chords)} chords do not fit {steps} steps")
    classes = np.array([encode(c) for c in chords], np.int16)
    return classes[np.arange(steps) * len(classes) // steps]


def by_bar(chords: list[str], chords_per_bar: int) -> list[list[str]]:
    """The progression cut into bars of ``chords_per_bar`` chords (the last bar filled with its last chord)."""
    if not chords:
        raise ChordError("a chord progression needs at least one chord")
    if chords_per_bar < 1:
        raise ChordError(f"chords per bar must be at least 1, got {chords_per_bar}")
    for c in chords:
        encode(c)
    bars = [list(chords[i:i + chords_per_bar]) for i in range(0, len(chords), chords_per_bar)]
    bars[-1] += [bars[-1][-1]] * (chords_per_bar - len(bars[-1]))
    return bars


KEY_NAMES = {name: k for k, names in enumerate(
    [("C", "B#"), ("C#", "Db"), ("D",), ("D#", "Eb"), ("E", "Fb"), ("F", "E#"), ("F#", "Gb"), ("G",),
     ("G#", "Ab"), ("A",), ("A#", "Bb"), ("B", "Cb")]) for name in names}


def key_class(key: str | int) -> int:
    """A key as the pitch class of its tonic (0 C .. 11 B), from a number or a name ('Eb', 'F#')."""
    text = str(key).strip()
    if text.lstrip("-").isdigit() and 0 <= int(text) < 12:
        return int(text)
    if text in KEY_NAMES:
        return KEY_NAMES[text]
    raise ChordError(f"key {key!r}: give a pitch class 0-11 or a note name such as C, F# or Bb")


def _sequence(piece: Piece, q: Quantized, steps_per_quarter: int):
    """The quantized piece as the NoteSequence note-seq's chord inference reads (seconds, meter, tempo, the
    chord symbols and key signatures the piece carries)."""
    from note_seq.protobuf import music_pb2

    ns = music_pb2.NoteSequence()
    num, den = (piece.time_signatures[0][1], piece.time_signatures[0][2]) if piece.time_signatures else (4, 4)
    ts = ns.time_signatures.add()
    ts.numerator, ts.denominator = num, den
    ns.tempos.add().qpm = q.qpm
    ns.quantization_info.steps_per_quarter = steps_per_quarter
    n = piece.notes
    for s, e, p, prog, d in zip(n.start.tolist(), n.end.tolist(), n.pitch.tolist(), n.program.tolist(),
                                n.is_drum.tolist()):
        note = ns.notes.add()
        note.start_time, note.end_time, note.pitch, note.program, note.is_drum = s, e, p, prog, d
    for t, text in piece.chords:
        ta = ns.text_annotations.add()
        ta.time, ta.text, ta.annotation_type = t, text, music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL
    for t, key in piece.keys:
        ks = ns.key_signatures.add()
        ks.time, ks.key = t, key
    ns.total_time = n.total_time
    return ns


def harmony(piece: Piece, q: Quantized, steps_per_quarter: int = 4, with_keys: bool = False
            ) -> tuple[list[str], str, list[tuple[float, int]] | None]:
    """(chord symbol of each step 0..total_steps-1, the symbol of steps past the end, key changes as (step,
    key) or None) of a quantized piece, as Magenta's converter has them: the piece's own chord symbols and key
    signatures, or, where chords (or, with ``with_keys``, keys) are missing, note-seq's
    ``infer_chords_for_sequence`` with its defaults (adding key signatures with ``with_keys``). ChordError
    where Magenta drops the piece: inference fails (or is asked for keys of a piece that has chords), or two
    chords start on one step."""
    from note_seq import chord_inference

    steps_per_second = steps_per_quarter * q.qpm / 60.0
    changes = [(int(t * steps_per_second + 0.5), text) for t, text in piece.chords]
    keys = list(piece.keys)
    if not piece.chords or (with_keys and not piece.keys):
        ns = _sequence(piece, q, steps_per_quarter)
        try:
            chord_inference.infer_chords_for_sequence(ns, add_key_signatures=with_keys)
        except chord_inference.ChordInferenceError as exc:
            raise ChordError(f"chord inference failed: {exc}") from exc
        changes = [(int(a.quantized_step), a.text) for a in ns.text_annotations
                   if a.annotation_type == a.CHORD_SYMBOL]
        keys = [(k.time, int(k.key)) for k in ns.key_signatures]
    changes.sort(key=lambda c: c[0])
    figures = [NO_CHORD] * q.total_steps
    for (step, text), nxt in zip(changes, changes[1:] + [(None, None)]):
        if nxt[0] == step and nxt[1] != text:
            raise ChordError(f"chords {text} and {nxt[1]} start on the same step")
        if step >= q.total_steps:
            break
        end = q.total_steps if nxt[0] is None else min(nxt[0], q.total_steps)
        figures[max(step, 0):end] = [text] * max(0, end - max(step, 0))
    key_changes = sorted((steps_per_second * t, k) for t, k in keys) if with_keys else None
    return figures, (figures[-1] if figures else NO_CHORD), key_changes


def keys_at(key_changes: list[tuple[float, int]], steps: np.ndarray) -> np.ndarray:
    """The key at each step (``chords_lib.event_list_keys``: the latest change at or before it, the first
    key before any)."""
    at = np.array([s for s, _ in key_changes])
    idx = np.searchsorted(at, steps, side="right") - 1
    return np.array([k for _, k in key_changes])[np.maximum(idx, 0)]
