"""Melody converter rules (spec 1.1-1.2), expected windows written out by hand."""
import numpy as np
import pytest

from midi_fixtures import midi_bytes, mel
from raymvae.music import converter_for

C, E, G, A = 60, 64, 67, 69
_, OFF = 0, 1


@pytest.fixture(scope="module")
def mel2():
    return converter_for("cat-mel_2bar_small")


def windows(conv, tracks, **kw):
    return conv.encode_midi(midi_bytes(tracks, **kw)).tolist()


def test_two_bar_melody_exact_window(mel2):
    notes = [(C, 0, 4), (E, 4, 8), (G, 8, 12), (C, 16, 20), (A, 20, 32)]
    expected = ([mel(C), _, _, _, mel(E), _, _, _, mel(G), _, _, _, OFF, _, _, _]
                + [mel(C), _, _, _, mel(A)] + [_] * 11)
    assert windows(mel2, [(0, False, notes)]) == [expected]


def test_one_bar_hop_gives_overlapping_windows(mel2):
    notes = [(C, 0, 16), (E, 16, 32), (G, 32, 48)]
    w = windows(mel2, [(0, False, notes)])
    bar = lambda p: [mel(p)] + [_] * 15  # noqa: E731
    assert sorted(w) == sorted([bar(C) + bar(E), bar(E) + bar(G)])


def test_polyphony_keeps_highest_pitch(mel2):
    notes = [(C, 0, 8), (G, 0, 8), (E, 0, 8), (C, 8, 32)]
    assert windows(mel2, [(0, False, notes)]) == [[mel(G)] + [_] * 7 + [mel(C)] + [_] * 23]


def test_later_onset_cuts_sounding_note(mel2):
    notes = [(C, 0, 12), (E, 4, 8), (G, 16, 32)]
    expected = [mel(C), _, _, _, mel(E), _, _, _, OFF] + [_] * 7 + [mel(G)] + [_] * 15
    assert windows(mel2, [(0, False, notes)]) == [expected]


def test_gap_of_a_bar_ends_the_melody(mel2):
    # A one-bar phrase, a rest of a full bar (NOTE_OFF at 4 -> next onset at 20 is 16 steps later),
    # then a two-bar phrase: only the second phrase makes a window.
    notes = [(C, 0, 4), (E, 20, 24), (G, 32, 48)]
    expected = [_, _, _, _, mel(E), _, _, _, OFF] + [_] * 7 + [mel(G)] + [_] * 15
    assert windows(mel2, [(0, False, notes)]) == [expected]


def test_gap_just_under_a_bar_keeps_melody(mel2):
    notes = [(C, 0, 4), (E, 19, 32)]
    expected = [mel(C), _, _, _, OFF] + [_] * 14 + [mel(E)] + [_] * 12
    assert windows(mel2, [(0, False, notes)]) == [expected]


def test_melody_starts_on_bar_of_first_note(mel2):
    notes = [(C, 20, 24), (E, 32, 48)]  # first note in bar 1: windows start at bar 1
    expected = [_, _, _, _, mel(C), _, _, _, OFF] + [_] * 7 + [mel(E)] + [_] * 15
    assert windows(mel2, [(0, False, notes)]) == [expected]


def test_pitches_outside_piano_range_are_deleted(mel2):
    notes = [(C, 0, 16), (110, 8, 12), (10, 16, 20), (E, 16, 32)]
    assert windows(mel2, [(0, False, notes)]) == [[mel(C)] + [_] * 15 + [mel(E)] + [_] * 15]


def test_program_filter_and_16bar_accepts_any_program(mel2):
    notes = [(C + (i % 5), 16 * i, 16 * i + 8) for i in range(16)]
    assert windows(mel2, [(48, False, notes)]) == []
    w16 = windows(converter_for("hierdec-mel_16bar"), [(48, False, notes)])
    assert len(w16) == 1 and w16[0][0] == mel(C) and w16[0][8] == OFF


def test_drum_notes_are_ignored(mel2):
    assert windows(mel2, [(0, True, [(C, 0, 16), (E, 16, 32)])]) == []


@pytest.mark.parametrize("num,den,count", [(3, 4, 0), (6, 8, 0), (2, 2, 1), (4, 4, 1)])
def test_meter_filter(mel2, num, den, count):
    notes = [(C, 0, 16), (E, 16, 32)]
    assert len(windows(mel2, [(0, False, notes)], time_signatures=((num, den, 0.0),))) == count


def test_tempo_change_splits_the_file(mel2):
    # Notes placed at 120 qpm; the tempo becomes 90 qpm at 4.0 s (bar 2). The file is
    # split there: each piece is quantized at its own tempo (2 s = 12 steps at 90 qpm)
    # and no window straddles the change.
    notes = [(C, 0, 16), (E, 16, 32), (G, 32, 48), (A, 48, 64)]
    w = windows(mel2, [(0, False, notes)], tempo_changes=[(4.0, 90.0)])
    bar = lambda p: [mel(p)] + [_] * 15  # noqa: E731
    second = [mel(G)] + [_] * 11 + [mel(A)] + [_] * 11 + [OFF] + [_] * 7
    assert sorted(w) == sorted([bar(C) + bar(E), second])


def test_quantization_rounds_half_up(mel2):
    from raymvae.music.sequence import NoteArrays, quantized_pieces

    notes = NoteArrays(start=np.array([0.0625, 0.0624]), end=np.array([1.0, 1.0]), pitch=np.array([60, 62]),
                       velocity=np.array([100, 100]), instrument=np.array([0, 1]), program=np.array([0, 0]),
                       is_drum=np.array([False, False]), tempo_times=np.array([0.0]),
                       tempo_qpms=np.array([120.0]), total_time=1.0)
    (q,) = quantized_pieces(notes)
    step_of_pitch = dict(zip(q.pitch.tolist(), q.start.tolist()))
    assert step_of_pitch == {60: 1, 62: 0}  # 0.5 step rounds up, 0.4992 rounds down


def test_leading_note_off_becomes_no_event(mel2):
    notes = [(C, 0, 16), (E, 17, 32), (G, 33, 48)]
    w = windows(mel2, [(0, False, notes)])
    assert [_, mel(E)] == w[1][:2] or [_, mel(E)] == w[0][:2]
    assert all(row[0] != OFF for row in w)


def test_identical_windows_are_deduped(mel2):
    notes = [(C, 16 * i, 16 * i + 8) for i in range(6)]
    bar = [mel(C)] + [_] * 7 + [OFF] + [_] * 7
    assert windows(mel2, [(0, False, notes)]) == [bar + bar]


def test_empty_file_has_no_windows(mel2):
    out = mel2.encode_midi(midi_bytes([]))
    assert out.shape == (0, 32) and out.dtype == np.int16
