"""Drum and trio converter rules (spec 1.3-1.4), expected windows written by hand."""
import numpy as np
import pytest

from midi_fixtures import midi_bytes, mel
from raymvae.music import converter_for

KICK, SNARE, CHH, CRASH = 36, 38, 42, 49
K, S, H, X = 1, 2, 4, 128  # class bits: kick 0, snare 1, closed hat 2, crash 7


@pytest.fixture(scope="module")
def drums():
    return converter_for("cat-drums_2bar_small")


def hits(pitch, steps, vel=100):
    return [(pitch, s, s + 1, vel) for s in steps]


def test_drum_classes_merge_instruments_and_pitches(drums):
    kit = hits(KICK, [0, 8, 16, 24]) + hits(35, [4]) + hits(CHH, range(0, 32, 2)) + hits(49, [0])
    snare_track = hits(SNARE, [4, 12, 20, 28]) + hits(40, [30])  # 40 is a snare-class pitch
    w = drums.encode_midi(midi_bytes([(0, True, kit), (0, True, snare_track)]))
    expected = np.zeros(32, np.int64)
    for s in (0, 8, 16, 24, 4):
        expected[s] |= K
    for s in range(0, 32, 2):
        expected[s] |= H
    for s in (4, 12, 20, 28, 30):
        expected[s] |= S
    expected[0] |= X
    assert w.tolist() == [expected.tolist()]


def test_unknown_pitches_and_pitched_notes_are_dropped(drums):
    kit = hits(KICK, [0, 16]) + hits(90, [2, 3])  # 90 is not a drum pitch
    piano = [(60, 0, 32)]
    w = drums.encode_midi(midi_bytes([(0, True, kit), (0, False, piano)]))
    expected = [K] + [0] * 15 + [K] + [0] * 15
    assert w.tolist() == [expected]


def test_silent_bar_ends_drum_track(drums):
    kit = hits(KICK, [0]) + hits(SNARE, [17, 32])  # 16 empty steps after the kick
    w = drums.encode_midi(midi_bytes([(0, True, kit)]))
    expected = [0] + [S] + [0] * 14 + [S] + [0] * 15
    assert w.tolist() == [expected]


def test_roll_input_adds_no_hit_bit(drums):
    import torch

    from raymvae.model.codecs import codec_for

    codec = codec_for(drums)
    roll = codec.encoder_inputs(torch.tensor([[0, K | S, X]])).numpy()
    assert codec.input_depth == 10 and roll.shape == (1, 3, 10)
    assert roll[0, 0].tolist() == [0] * 9 + [1]
    assert roll[0, 1].tolist() == [1, 1] + [0] * 8
    assert roll[0, 2].tolist() == [0] * 7 + [1, 0, 0]


def test_full_drum_classes_for_nade_full():
    conv = converter_for("nade-drums_2bar_full")
    w = conv.encode_midi(midi_bytes([(0, True, hits(35, [0]) + hits(36, [16]))]))
    assert conv.num_drum_classes == 61
    assert w[0, 0] == 1 << 1 and w[0, 16] == 1 << 0  # 36 is class 0, 35 class 1


def trio_tracks(bass_rest_bars=(), bars=16):
    melody = [(72 + (b % 3), 16 * b, 16 * b + 8) for b in range(bars)]
    bass = [(36, 16 * b, 16 * b + 16) for b in range(bars) if b not in bass_rest_bars]
    kit = hits(KICK, [16 * b for b in range(bars)])
    return [(0, False, melody), (33, False, bass), (0, True, kit)]


def test_trio_window_concatenates_instruments():
    conv = converter_for("hierdec-trio_16bar")
    w = conv.encode_midi(midi_bytes(trio_tracks()))
    assert w.shape == (1, 256, 3)
    assert w[0, :17, 0].tolist() == [mel(72)] + [0] * 7 + [1] + [0] * 7 + [mel(73)]
    assert w[0, :17, 1].tolist() == [mel(36)] + [0] * 15 + [mel(36)]
    assert w[0, :17, 2].tolist() == [K] + [0] * 15 + [K]


def test_trio_needs_all_three_types():
    conv = converter_for("hierdec-trio_16bar")
    tracks = trio_tracks()
    assert conv.encode_midi(midi_bytes([tracks[0], tracks[2]])).shape == (0, 256, 3)
    strings = (48, False, tracks[1][2])  # program 48 is neither melody nor bass
    assert conv.encode_midi(midi_bytes([tracks[0], strings, tracks[2]])).shape == (0, 256, 3)


def test_trio_coverage_tolerates_short_gaps_only():
    conv = converter_for("hierdec-trio_16bar")
    assert len(conv.encode_midi(midi_bytes(trio_tracks(bass_rest_bars=(6, 7, 8, 9))))) == 1
    assert len(conv.encode_midi(midi_bytes(trio_tracks(bass_rest_bars=(5, 6, 7, 8, 9, 10))))) == 0


def test_trio_cross_product_of_instruments():
    conv = converter_for("hierdec-trio_16bar")
    t = trio_tracks()
    second_lead = (5, False, [(p + 12, s, e) for p, s, e in t[0][2]])
    w = conv.encode_midi(midi_bytes([t[0], second_lead, t[1], t[2]]))
    assert w.shape == (2, 256, 3)
    assert sorted(w[:, 0, 0].tolist()) == [mel(72), mel(84)]
