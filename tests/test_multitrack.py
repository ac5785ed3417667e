"""Multitrack measures (hier-multiperf_vel_1bar_*): tokens, rules, sustain, decoding, augmentation, pipeline."""
from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest

from midi_fixtures import STEP, midi_bytes
from raymvae.music import converter_for, multitrack

NAME = "hier-multiperf_vel_1bar_med"
PIANO = [(60 + 2 * k, 4 * k, 4 * k + 4, 10 + 16 * k) for k in range(8)]  # 2 bars of quarters, each louder
DRUMS = [(36, 8 * k, 8 * k + 1, 100) for k in range(4)]
BASS = [(36, 0, 16), (43, 16, 32)]


def slot_tokens(window: np.ndarray) -> list[list[int]]:
    return [row[row >= 0].tolist() for row in window.reshape(8, 64)]


def test_a_bar_is_eight_track_slots_of_magenta_tokens():
    conv = converter_for(NAME)
    w = conv.encode_midi(midi_bytes([(0, False, PIANO), (33, False, BASS), (0, True, DRUMS)]))
    assert w.dtype == np.int16 and w.shape == (2, 512)
    slots = slot_tokens(w[0])
    # tracks by (drums last, program): piano (program 0), bass (33), drums
    assert [s[0] for s in slots[:3]] == [360, 360 + 33, multitrack.DRUM_TOKEN]
    assert all(s[-1] == multitrack.END_TOKEN for s in slots[:3]) and slots[3:] == [[multitrack.END_TOKEN]] * 5
    ons = [t for t in slots[0] if t < 128]
    assert ons == [60, 62, 64, 66]  # the first bar's piano notes; note-offs are 128 + pitch
    assert [t - 128 for t in slots[0] if 128 <= t < 256] == [60, 62, 64, 66]
    shifts = [t - 256 + 1 for t in slots[0] if 256 <= t < 352]
    assert sum(shifts) == multitrack.STEPS_PER_BAR  # 24 steps per quarter, one bar
    assert sum(t >= 352 and t < 360 for t in slots[0]) == 4  # a velocity bin before each louder note
    assert np.array_equal(conv.lengths(w)[0], [len(s) for s in slots])


def test_round_trip_through_midi_gives_the_same_windows():
    conv = converter_for(NAME)
    w = conv.encode_midi(midi_bytes([(0, False, PIANO), (33, False, BASS), (0, True, DRUMS)]))
    again = conv.encode_midi(conv.to_midi_bytes(conv.decode_joined(w)))
    assert np.array_equal(again, w)
    ns = conv.decode(w[:1])[0]
    assert {(n.instrument, n.program, n.is_drum) for n in ns.notes} == {(0, 0, False), (1, 33, False), (2, 0, True)}


def test_measures_outside_magentas_rules_are_left_out():
    conv = converter_for(NAME)
    assert len(conv.encode_midi(midi_bytes([(0, False, PIANO)]))) == 0  # one instrument: fewer than 2
    nine = [(p, False, [(60, 0, 16)]) for p in range(9)]
    assert len(conv.encode_midi(midi_bytes(nine))) == 0  # more than 8
    busy = [(40 + k % 40, k, k + 1) for k in range(16)] + [(90, k, k + 1) for k in range(16)]  # 64 events + bar
    assert len(conv.encode_midi(midi_bytes([(0, False, busy), (33, False, BASS[:1])]))) == 0
    sparse = [(0, False, [(60, 0, 16)]), (33, False, [(36, 0, 16)])]  # 2 x (velocity, on, shift, off) = 8 events
    assert len(conv.encode_midi(midi_bytes(sparse))) == 1
    assert len(conv.encode_midi(midi_bytes([(0, False, [(60, 0, 16)]), (33, False, [(36, 0, 8)])]))) == 1


def test_the_sustain_pedal_holds_notes_to_its_release():
    def with_pedal(up_step: int) -> bytes:
        pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
        piano, bass = pretty_midi.Instrument(0), pretty_midi.Instrument(33)
        piano.notes.append(pretty_midi.Note(100, 60, 0.0, 2 * STEP))
        piano.control_changes += [pretty_midi.ControlChange(64, 127, 0.0),
                                  pretty_midi.ControlChange(64, 0, up_step * STEP)]
        bass.notes.append(pretty_midi.Note(100, 36, 0.0, 16 * STEP))
        pm.instruments += [piano, bass]
        buf = io.BytesIO()
        pm.write(buf)
        return buf.getvalue()

    conv = converter_for(NAME)

    def off_step(data: bytes) -> int:
        step = 0
        for t in slot_tokens(conv.encode_midi(data)[0])[0]:
            if 256 <= t < 352:
                step += t - 255
            elif t == 128 + 60:
                return step
        raise AssertionError("no note-off")
    assert off_step(with_pedal(2)) == 12 and off_step(with_pedal(8)) == 48  # 16ths -> 24 steps per quarter


def test_decoded_windows_are_cut_at_each_tracks_end():
    import torch

    from raymvae.model.codecs import codec_for

    raw = np.full((1, 8, 64), 7, np.int64)
    raw[0, :, 0] = 360
    raw[0, :, 3] = multitrack.END_TOKEN
    cut = codec_for(converter_for(NAME)).windows(torch.from_numpy(raw.reshape(1, 512, 1))).numpy().reshape(8, 64)
    assert (cut[:, :4] == raw[0, :, :4]).all() and (cut[:, 4:] == -1).all()


def test_transposition_moves_pitched_tracks_and_keeps_drums():
    conv = converter_for(NAME)
    w = conv.encode_midi(midi_bytes([(0, False, PIANO), (33, False, BASS), (0, True, DRUMS)]))
    moved = conv.augment(w, np.random.default_rng(3))
    a, b = w.reshape(-1, 8, 64).astype(int), moved.reshape(-1, 8, 64).astype(int)
    assert np.array_equal(a[:, 2], b[:, 2])  # drums
    shift = (b - a)[:, :2][(a[:, :2] >= 0) & (a[:, :2] < 256)]
    assert len(set(shift.tolist())) >= 1 and np.array_equal(b[(a < 0) | (a >= 256)], a[(a < 0) | (a >= 256)])
    for k in range(len(a)):
        d = (b[k, :2] - a[k, :2])[(a[k, :2] >= 0) & (a[k, :2] < 256)]
        assert len(set(d.tolist())) == 1 and -3 <= d[0] <= 3


def test_chord_variant_gives_every_token_row_its_chord():
    conv = converter_for(NAME + "_chords")
    assert conv.window_shape == (512, 2) and conv.control_depth == 49 and conv.chord_conditioned
    triads = [(p, 0, 16, 90) for p in (60, 64, 67)] + [(p, 16, 32, 90) for p in (55, 59, 62)]  # C, then G
    bass = [(36, 0, 16), (43, 16, 32)]
    w = conv.encode_midi(midi_bytes([(0, False, triads), (33, False, bass)]))
    assert w.shape == (2, 512, 2)
    assert np.array_equal(w[..., 0], converter_for(NAME).encode_midi(midi_bytes([(0, False, triads),
                                                                                   (33, False, bass)])))
    assert ((w[..., 0] >= 0) == (w[..., 1] >= 0)).all()  # padding rows are padding in both columns
    rows = w[:, :, 1].reshape(2, 8, 64)
    lengths = conv.lengths(w)
    for bar, chord in ((0, 1), (1, 8)):  # C major, G major
        for slot in range(2):
            n = lengths[bar, slot]
            assert rows[bar, slot, 0] == 0 and set(rows[bar, slot, 1:n].tolist()) == {chord}
        assert rows[bar, 2, 0] == 0 and lengths[bar, 2] == 1  # an unused slot: END under N.C.
    ns = conv.decode(w[:1])[0]
    assert [a.text for a in ns.text_annotations] == ["C"]
    hist = conv.class_histogram(w)
    assert set(hist) == {"multitrack", "chords"} and sum(hist["chords"]) == sum(hist["multitrack"])
    assert hist["chords"][1] > 0 and hist["chords"][8] > 0
    controls = conv.progression_controls([["C"], ["Am", "F"]])
    assert controls.shape == (2, 512) and (controls.reshape(2, 8, 64)[:, :, 0] == 0).all()
    assert set(controls[0].tolist()) == {0, 1} and set(controls[1].tolist()) == {0, 22, 6}
    moved = conv.augment(w, np.random.default_rng(1))
    from raymvae.music import chords
    for k in range(2):
        on = np.flatnonzero((w[k, :, 0] >= 0) & (w[k, :, 0] < 128))[0]  # a note-on of the piano
        shift = int(moved[k, on, 0]) - int(w[k, on, 0])
        valid = w[k, :, 1] >= 0
        assert np.array_equal(moved[k, valid, 1], chords.transpose(w[k, valid, 1], shift))


def test_chord_conditioned_multitrack_model_decodes_under_its_chords():
    import torch

    from raymvae.model import build

    torch.manual_seed(0)
    model = build(NAME + "_chords", dict(enc_rnn_size=[16], dec_rnn_size=[16], z_size=4)).eval()
    conv = model.codec.converter
    c = torch.from_numpy(conv.progression_controls([["C"]]).astype(np.int64)).repeat(2, 1)
    g = torch.from_numpy(conv.progression_controls([["G"]]).astype(np.int64)).repeat(2, 1)
    with torch.no_grad():
        out, logits = model.decode(torch.zeros(2, 4), temperature=None, controls=c, return_logits=True)
        _, other = model.decode(torch.zeros(2, 4), temperature=None, controls=g, return_logits=True)
        mu, _ = model.encode_windows(out)
    assert out.shape == (2, 512, 2) and not torch.allclose(logits, other)
    from raymvae.model.evaluate import evaluate
    m = evaluate(model, [out.long()], generator=torch.Generator().manual_seed(0))
    assert set(k for k in m if k.startswith("metrics/accuracy/chord_")) <= {"metrics/accuracy/chord_no_chord",
                                                                          "metrics/accuracy/chord_major"}
    assert "metrics/accuracy/chord_major" in m
    assert all(0.0 <= m[f"segment/{k:03d}/accuracy"] <= 1.0 for k in range(8))  # one per track slot
    assert ((out[..., 0] >= 0) == (out[..., 1] >= 0)).all()
    assert set(out[..., 1][out[..., 1] >= 0].tolist()) <= {0, 1}
    assert torch.isfinite(mu).all()


@pytest.mark.ray
def test_prepare_train_sample_and_interpolate_multitrack(ray_session, tmp_path):
    import pyarrow.parquet as pq

    from raymvae.cli import main
    from raymvae.data import prepare, read_windows
    from raymvae.train.trainer import fit

    corpus = tmp_path / "midi"
    corpus.mkdir()
    for k in range(5):
        piano = [(p + k, s, e, v) for p, s, e, v in PIANO]
        (corpus / f"band_{k}.mid").write_bytes(midi_bytes([(k, False, piano), (33, False, BASS), (0, True, DRUMS)]))
    shards = tmp_path / "shards"
    m = prepare(NAME, [str(corpus)], str(shards), eval_fraction=0.4).manifest
    assert m["window_shape"] == [512] and m["family"] == "multitrack"
    windows, _ = read_windows(str(shards), "train")
    assert windows.shape[1:] == (512,) and (windows == -1).any()
    run = tmp_path / "run"
    metrics = fit(NAME, str(shards), str(run), hparams="batch_size=4,enc_rnn_size=[16],dec_rnn_size=[16],z_size=8",
                  num_steps=4, num_workers=0, checkpoint_every=4, eval_every=4, log_every=4, eval_samples=4)
    assert np.isfinite(metrics["metrics/accuracy"]) and "samples/oa/instruments" in metrics
    assert main(["generate", "sample", "--model", str(run), "--num", "3", "--output", str(tmp_path / "s")]) == 0
    assert len(pq.read_table(tmp_path / "s" / "manifest.parquet")) == 3
    assert main(["generate", "interpolate", "--model", str(run), "--output", str(tmp_path / "i"), "--steps", "3",
                 "--pairs", f"{corpus / 'band_0.mid'}:{corpus / 'band_4.mid'}"]) == 0
    assert len(pq.read_table(tmp_path / "i" / "manifest.parquet")) == 3


def test_a_progression_is_arranged_bar_by_bar_in_serve_and_generate(tmp_path):
    import torch

    from raymvae.export import save_export
    from raymvae.generate.batch import Decoder, _write_files
    from raymvae.generate.plan import sample_rows, with_chords
    from raymvae.model import build
    from raymvae.serve.service import Job, ModelService
    from raymvae.serve.settings import ServeSettings

    torch.manual_seed(0)
    model = build(NAME + "_chords", dict(enc_rnn_size=[16], dec_rnn_size=[16], z_size=4)).eval()
    save_export(tmp_path / "run", model, 1)
    service = ModelService(ServeSettings(model=str(tmp_path / "run"), max_n=8, precision="fp32"))
    bars = service.chord_controls("C G Am", 1)
    assert bars.shape == (3, 512)
    z = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    res = service.run([Job(z=z, temperature=0.5, seed=3, chords=bars)])[0]
    assert res.windows.shape == (2, 3, 512, 2)
    song = service.render(res.windows, z)[0]["note_sequence"]
    texts = [a["text"] for a in song.get("textAnnotations", [])]
    # bar by bar, the chord of each event's row (N.C. where an event sits on a track's first row)
    assert set(texts) <= {"C", "G", "Am", "N.C."} and {"C", "G", "Am"} <= set(texts)
    # generate plans the same rows and decodes them to the same windows (window j of file i: noise (seed, i, j))
    rows = with_chords(sample_rows(model, 2, 3, 0.5), bars)
    rows[0]["z"], rows[1]["z"] = np.repeat(z[:1], 3, 0), np.repeat(z[1:], 3, 0)
    batch = {k: np.array([r[k] for r in rows], dtype=object if k in ("path", "kind", "source") else None)
             for k in rows[0]}
    out = Decoder(str(tmp_path / "run"), "fp32")(batch)
    assert np.array_equal(np.stack(list(out["windows"])), res.windows)
    written = _write_files(out, model.config.to_dict(), str(tmp_path / "files"))
    assert all((tmp_path / "files" / p).exists() for p in written["path"])
