"""Symbolic music: MIDI <-> NoteSequence, Magenta's converters, statistics.

Pure Python + numpy (+ numba for the hot loops); no torch, no Ray.
"""
import warnings

# note-seq imports pydub for audio, which warns about a missing ffmpeg; raymvae never uses audio.
warnings.filterwarnings("ignore", message="Couldn't find ffmpeg or avconv", category=RuntimeWarning)

from raymvae.music.converters import Converter, DrumsConverter, MelodyConverter, TrioConverter, converter_for
from raymvae.music.errors import MidiError
from raymvae.music.sequence import NoteArrays, parse_midi, to_note_sequence


def midi_to_note_sequence(data: bytes):
    """MIDI bytes -> note_seq NoteSequence, with note-seq's semantics, parsed fast."""
    return to_note_sequence(parse_midi(data))


def note_sequence_to_midi(ns) -> bytes:
    """note_seq NoteSequence -> MIDI bytes."""
    return Converter.to_midi_bytes(ns)


__all__ = ["Converter", "DrumsConverter", "MelodyConverter", "MidiError", "NoteArrays", "TrioConverter",
           "converter_for", "midi_to_note_sequence", "note_sequence_to_midi", "parse_midi", "to_note_sequence"]
