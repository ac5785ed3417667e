"""Chord-conditioned melodies (cat-mel_2bar_med_chords): chords per step, windows, model, generation, serving."""
from __future__ import annotations

import base64

import note_seq
import numpy as np
import pytest
import torch

from midi_fixtures import midi_bytes
from raymvae.music import chords, converter_for
from raymvae.music.converters import ChordMelodyConverter

NAME = "cat-mel_2bar_med_chords"
KEYED = "cat-mel_2bar_med_chords_key"
C, G, AM, F, DM = 1, 8, 22, 6, 15  # TriadChordOneHotEncoding classes
# Four bars: a melody of chord tones over whole-bar triads C, G, Am, F (a second instrument).
TUNE = [(72, 76, 79, 76), (74, 71, 67, 71), (69, 72, 76, 72), (65, 69, 72, 69)]
TRIADS = [(60, 64, 67), (55, 59, 62), (57, 60, 64), (53, 57, 60)]


def tune_midi(bars=TUNE, triads=TRIADS) -> bytes:
    melody = [(p, 16 * b + 4 * k, 16 * b + 4 * k + 4) for b, bar in enumerate(bars) for k, p in enumerate(bar)]
    accomp = [(p, 16 * b, 16 * b + 16) for b, triad in enumerate(triads) for p in triad]
    return midi_bytes([(0, False, melody), (0, False, accomp)])


def melody_class(pitch: int) -> int:
    return pitch - 21 + 2


def test_chords_are_inferred_per_step_from_every_instrument():
    conv = converter_for(NAME)
    melody, ctl = conv.encode_midi(tune_midi(), with_controls=True)
    assert melody.dtype == ctl.dtype == np.int16 and melody.shape == ctl.shape and melody.shape[1] == 32
    assert np.array_equal(conv.encode_midi(tune_midi()), melody)
    tune = [i for i, m in enumerate(melody) if m[0] == melody_class(72)]
    assert len(tune) == 1 and ctl[tune[0]].tolist() == [C] * 16 + [G] * 16
    later = [i for i, m in enumerate(melody) if m[0] == melody_class(69)]
    assert len(later) == 1 and ctl[later[0]].tolist() == [AM] * 16 + [F] * 16
    # the windows the model reads: (melody, chord) per step
    assert np.array_equal(conv.midi_windows(tune_midi()), np.stack([melody, ctl], -1))


def with_chord_symbols(data: bytes, symbols: list[tuple[float, str]]):
    ns = note_seq.midi_to_note_sequence(data)
    for t, text in symbols:
        ta = ns.text_annotations.add()
        ta.time, ta.text, ta.annotation_type = t, text, note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL
    return ns


def test_annotated_chords_are_used_as_they_are_and_a_non_triad_drops_the_piece():
    conv = converter_for(NAME)
    ns = with_chord_symbols(tune_midi(), [(0.0, "Dm"), (2.0, "G7")])  # bar 1 starts at 2 s (120 qpm)
    w = conv.encode_note_sequence(ns)
    first = [x for x in w if x[0, 0] == melody_class(72)][0]
    assert first[:, 1].tolist() == [DM] * 16 + [G] * 16
    assert set(w[..., 1].ravel().tolist()) == {DM, G}  # the last chord holds to the end
    assert len(conv.encode_note_sequence(with_chord_symbols(tune_midi(), [(0.0, "C"), (2.0, "Csus4")]))) == 0


def test_one_melody_over_two_chord_sequences_is_two_windows():
    conv = converter_for(NAME)
    data = tune_midi(bars=TUNE[:2] * 2, triads=[])
    ns = with_chord_symbols(data, [(0.0, "C"), (2.0, "G"), (4.0, "Am"), (6.0, "F")])
    w = conv.encode_note_sequence(ns)
    same = w[(w[:, :, 0] == w[0, :, 0]).all(1)]
    assert {tuple(x[:, 1]) for x in same} == {(C,) * 16 + (G,) * 16, (AM,) * 16 + (F,) * 16}


def test_augmentation_moves_melody_and_chord_roots_together():
    conv = converter_for(NAME)
    assert conv.transpose_range == (-3, 3)
    w = conv.midi_windows(tune_midi())
    moved = conv.augment(w, np.random.default_rng(0))
    shift = (moved[:, :, 0].astype(int) - w[:, :, 0])[w[:, :, 0] >= 2].reshape(-1)
    assert np.any(shift != 0)
    for a, b in zip(w, moved):
        s = int(b[b[:, 0] >= 2, 0][0]) - int(a[a[:, 0] >= 2, 0][0])
        assert np.array_equal(b[:, 1], chords.transpose(a[:, 1], s))
    assert chords.transpose(np.array([0, C, AM]), 2).tolist() == [0, 3, 24]  # N.C. stays; C -> D, Am -> Bm


def with_key_signature(data: bytes, key_number: int) -> bytes:
    import io

    import pretty_midi

    pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    pm.key_signature_changes.append(pretty_midi.KeySignature(key_number, 0.0))
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def test_the_key_of_every_step_from_the_file_or_inferred():
    conv = converter_for(KEYED)
    assert conv.window_shape == (32, 3) and conv.control_depth == 61
    # a G major signature but no chord symbols: Magenta infers chords and keys together (C major here)
    melody, ctl = conv.encode_midi(with_key_signature(tune_midi(), 7), with_controls=True)
    assert ctl.shape == melody.shape + (2,) and set(ctl[..., 1].ravel().tolist()) == {0}
    first = [i for i, m in enumerate(melody) if m[0] == melody_class(72)][0]
    assert ctl[first, :, 0].tolist() == [C] * 16 + [G] * 16
    # chord symbols and a key signature: both as the file has them
    ns = with_chord_symbols(with_key_signature(tune_midi(), 7), [(0.0, "C"), (2.0, "G")])
    keyed = conv.encode_note_sequence(ns)
    assert set(keyed[..., 2].ravel().tolist()) == {7} and set(keyed[..., 1].ravel().tolist()) == {C, G}
    # chord symbols without a key: inference would have to add keys to a sequence with chords, which note-seq
    # refuses; Magenta drops such a piece
    assert len(conv.encode_note_sequence(with_chord_symbols(tune_midi(), [(0.0, "C")]))) == 0
    w = conv.midi_windows(tune_midi())
    moved = conv.augment(w, np.random.default_rng(0))
    for a, b in zip(w, moved):
        s = int(b[b[:, 0] >= 2, 0][0]) - int(a[a[:, 0] >= 2, 0][0])
        assert (b[:, 2] == (a[:, 2] + s) % 12).all() and np.array_equal(b[:, 1], chords.transpose(a[:, 1], s))
    ns = conv.decode(w[:1])[0]
    assert [(k.time, k.key) for k in ns.key_signatures] == [(0.0, 0)]
    ns.key_signatures[0].key = 10
    assert [k.key for k in note_seq.midi_to_note_sequence(conv.to_midi_bytes(ns)).key_signatures] == [10]
    assert conv.progression_controls([["C"], ["G"]], key=chords.key_class("Bb")).tolist() == \
        [[[C, 10]] * 16 + [[G, 10]] * 16]
    with pytest.raises(chords.ChordError, match="conditioned on a key"):
        conv.progression_controls([["C"]])
    with pytest.raises(chords.ChordError, match="not conditioned on a key"):
        converter_for(NAME).progression_controls([["C"]], key=3)
    assert chords.key_class("F#") == chords.key_class("6") == 6
    with pytest.raises(chords.ChordError, match="key 'H'"):
        chords.key_class("H")


def test_a_key_conditioned_model_decodes_in_the_key_it_is_given():
    from raymvae.errors import UserError
    from raymvae.generate.plan import chord_controls
    from raymvae.model import build

    torch.manual_seed(0)
    model = build(KEYED, dict(enc_rnn_size=[16], dec_rnn_size=[16, 16], z_size=4)).eval()
    in_d = torch.from_numpy(chord_controls(model, "C G", 1, "D").astype(np.int64))
    in_e = torch.from_numpy(chord_controls(model, "C G", 1, 4).astype(np.int64))
    with torch.no_grad():
        out, a = model.decode(torch.zeros(1, 4), temperature=None, controls=in_d, return_logits=True)
        _, b = model.decode(torch.zeros(1, 4), temperature=None, controls=in_e, return_logits=True)
    assert out.shape == (1, 32, 3) and set(out[..., 2].ravel().tolist()) == {2} and not torch.allclose(a, b)
    with pytest.raises(UserError, match="conditioned on a key: give one"):
        chord_controls(model, "C G")
    with pytest.raises(UserError, match="--key: key 'X'"):
        chord_controls(model, "C G", 1, "X")
    with pytest.raises(UserError, match="--key: cat-mel_2bar_small is not conditioned on key"):
        chord_controls(build("cat-mel_2bar_small", dict(enc_rnn_size=[8], dec_rnn_size=[8], z_size=4)), None, 1, "C")


def test_progressions_and_chord_names():
    assert chords.progression(["C", "G", "Am", "F"], 32).tolist() == [C] * 8 + [G] * 8 + [AM] * 8 + [F] * 8
    assert chords.progression(["C", "G", "Am"], 32).tolist() == [C] * 11 + [G] * 11 + [AM] * 10  # as magenta-js
    assert all(chords.encode(chords.name(k)) == k for k in range(chords.NUM_CLASSES))
    assert chords.encode("Cmaj7") == C and chords.encode("N.C.") == 0 and chords.encode("Bdim") == 48
    with pytest.raises(chords.ChordError, match="Csus4"):
        chords.encode("Csus4")
    with pytest.raises(chords.ChordError, match="do not fit"):
        chords.progression(["C"] * 33, 32)


def test_decoded_windows_carry_their_chords_as_chord_symbols():
    conv = converter_for(NAME)
    melody = np.zeros(32, np.int16)
    melody[0], melody[16] = melody_class(60), melody_class(67)
    ns = conv.decode(conv.with_chords(melody[None], chords.progression(["C", "G"], 32)))[0]
    assert [(a.time, a.text) for a in ns.text_annotations] == [(0.0, "C"), (2.0, "G")]
    assert [n.pitch for n in ns.notes] == [60, 67]
    data = conv.to_midi_bytes(ns)
    assert np.array_equal(conv.encode_midi(data)[0], melody)
    import io

    import mido
    texts = [(m.text, m.time) for m in mido.MidiFile(file=io.BytesIO(data)).tracks[0] if m.type == "text"]
    assert texts == [("C", 0), ("G", 880)]  # the chord symbols as MIDI text events (delta ticks at 220 ppq)


def tiny_model():
    from raymvae.model import build

    torch.manual_seed(0)
    return build(NAME, dict(enc_rnn_size=[16], dec_rnn_size=[16, 16], z_size=4)).eval()


def test_the_model_decodes_under_the_chords_it_is_given():
    from raymvae.model.seeded import decode_seeded

    model = tiny_model()
    classes = torch.from_numpy(chords.progression(["C", "G", "Am", "F"], 32).astype(np.int64)).repeat(3, 1)
    with torch.no_grad():
        out, logits = model.decode(torch.zeros(3, 4), temperature=None, controls=classes, return_logits=True)
        other, other_logits = model.decode(torch.zeros(3, 4), temperature=None, controls=torch.full((3, 32), F),
                                           return_logits=True)
    assert out.shape == (3, 32, 2) and torch.equal(out[..., 1], classes.to(out.dtype))
    assert torch.equal(other[..., 1], torch.full((3, 32), F, dtype=other.dtype))
    assert not torch.allclose(logits, other_logits)  # the chords reach every decoder step
    seeded = decode_seeded(model, np.zeros((3, 4), np.float32), 0.5, [(1, range(3))], classes.numpy())
    assert np.array_equal(seeded, decode_seeded(model, np.zeros((3, 4), np.float32), 0.5, [(1, range(3))],
                                                np.eye(49, dtype=np.float32)[classes.numpy()]))
    with pytest.raises(ValueError, match="control classes"):
        model.decode(torch.zeros(1, 4), controls=torch.full((1, 32), 49))


def test_evaluation_reports_accuracy_per_chord_quality():
    from raymvae.model.evaluate import evaluate

    conv = converter_for(NAME)
    windows = torch.from_numpy(conv.midi_windows(tune_midi()).astype(np.int64))
    m = evaluate(tiny_model(), [windows], generator=torch.Generator().manual_seed(0))
    per = {k: v for k, v in m.items() if k.startswith("metrics/accuracy/chord_")}
    assert set(per) == {"metrics/accuracy/chord_major", "metrics/accuracy/chord_minor"}  # C, G, F; Am
    assert all(0.0 <= v <= 1.0 for v in per.values())
    assert not any(k.startswith("metrics/sampled_accuracy/chord") for k in m)


def test_the_service_decodes_under_a_requests_chords(tmp_path):
    from raymvae.export import save_export
    from raymvae.serve.service import BadRequest, Job, ModelService
    from raymvae.serve.settings import ServeSettings

    save_export(tmp_path, tiny_model(), 1)
    service = ModelService(ServeSettings(model=str(tmp_path), max_n=8))
    controls = service.chord_controls("C G")  # one chord per bar: one 2-bar window
    assert controls.shape == (1, 32)
    window, _ = service.midi_window(base64.b64encode(tune_midi()).decode(), 0, "a")
    assert window.shape == (1, 32, 2)  # the file's own chords, for encoding
    z = np.zeros((3, 4), np.float32)
    long = service.chord_controls(["C", "G", "Am", "F", "C"], 1)  # five bars: three windows, the last C held
    assert long.shape == (3, 32) and long[2].tolist() == [C] * 32
    res = service.run([Job(z=z, temperature=0.0, seed=1, chords=controls),
                       Job(windows=window, latent=lambda mu: np.repeat(mu, 2, 0), chords=controls),
                       Job(z=z[:2], temperature=0.0, seed=1, chords=long)])
    assert res[0].windows.shape == (3, 32, 2) and (res[0].windows[..., 1] == controls).all()
    assert res[1].windows.shape == (2, 32, 2)
    assert res[2].windows.shape == (2, 3, 32, 2)  # two files of three windows each
    assert np.array_equal(res[2].windows[0, 0], res[0].windows[0])  # window 0 of row 0: the same noise
    rendered = service.render(res[0].windows, z)
    assert [a["text"] for a in rendered[0]["note_sequence"]["textAnnotations"]] == ["C", "G"]
    joined = service.render(res[2].windows, z[:2])
    assert [a["text"] for a in joined[0]["note_sequence"]["textAnnotations"]] == ["C", "G", "Am", "F", "C"]
    for bad, message in ((None, "conditioned on chords"), (["C", "Xq"], "chords: chord 'Xq'")):
        with pytest.raises(BadRequest, match=message) as err:
            service.chord_controls(bad)
        assert err.value.status == 422


def test_progressions_by_bar_and_chords_for_a_model_without_them():
    from raymvae.errors import UserError
    from raymvae.generate.plan import chord_controls
    from raymvae.model import build

    assert chords.parse("C, G  Am F") == chords.parse(["C G", "Am", "F"]) == ["C", "G", "Am", "F"]
    assert chords.by_bar(["C", "G", "Am"], 2) == [["C", "G"], ["Am", "Am"]]
    chord_model = tiny_model()
    per_step = chord_controls(chord_model, "C G Am F", 2)  # two chords a bar: one window of four half bars
    assert per_step.tolist() == [[C] * 8 + [G] * 8 + [AM] * 8 + [F] * 8]
    with pytest.raises(UserError, match="--chords: chord 'H7'"):
        chord_controls(chord_model, "C H7")
    model = build("cat-mel_2bar_small", dict(enc_rnn_size=[16], dec_rnn_size=[16], z_size=4))
    assert chord_controls(model, None) is None
    with pytest.raises(UserError, match="not conditioned on chords"):
        chord_controls(model, ["C"])
    assert isinstance(converter_for(NAME), ChordMelodyConverter)


@pytest.mark.ray
def test_prepare_train_and_generate_under_chords(ray_session, tmp_path, capsys):
    import pyarrow.parquet as pq

    from raymvae.cli import main
    from raymvae.data import prepare, read_windows
    from raymvae.train.trainer import fit

    corpus = tmp_path / "midi"
    corpus.mkdir()
    for k in range(6):  # the tune in six keys
        up = lambda bars: [tuple(p + k for p in bar) for bar in bars]  # noqa: E731
        (corpus / f"tune_{k}.mid").write_bytes(tune_midi(up(TUNE), up(TRIADS)))
    shards = tmp_path / "shards"
    m = prepare(NAME, [str(corpus)], str(shards), eval_fraction=0.34).manifest
    assert m["window_shape"] == [32, 2] and m["family"] == "chord_melody"
    hist = m["class_histogram"]
    assert set(hist) == {"melody", "chords"} and len(hist["chords"]) == 49
    assert sum(hist["chords"]) == sum(hist["melody"]) and hist["chords"][C] > 0 and hist["chords"][G] > 0
    windows, _ = read_windows(str(shards), "train")
    assert windows.shape[1:] == (32, 2) and (windows[..., 1] > 0).any()
    run = tmp_path / "run"
    metrics = fit(NAME, str(shards), str(run), hparams="batch_size=8,enc_rnn_size=[16],dec_rnn_size=[16],z_size=8",
                  num_steps=6, num_workers=0, checkpoint_every=6, eval_every=6, log_every=6, eval_samples=8)
    assert np.isfinite(metrics["metrics/accuracy"]) and "samples/oa_mean" in metrics

    out = tmp_path / "samples"
    assert main(["generate", "sample", "--model", str(run), "--num", "4", "--output", str(out),
                 "--chords", "C", "G", "Am", "F"]) == 0
    assert len(pq.read_table(out / "manifest.parquet")) == 4
    # a progression longer than the window: each file is two windows of one z, the chords bar by bar
    assert main(["generate", "sample", "--model", str(run), "--num", "2", "--output", str(tmp_path / "arr"),
                 "--chords", "C G Am F", "--seed", "3"]) == 0
    rows = pq.read_table(tmp_path / "arr" / "manifest.parquet").to_pylist()
    assert len(rows) == 2 and all(np.asarray(r["z"]).shape == (2, 8) for r in rows)
    assert main(["generate", "similar", "--model", str(run), "--inputs", str(corpus / "tune_0.mid"), "--num", "3",
                 "--similarity", "0.9", "--output", str(tmp_path / "sim"), "--chords", "C G"]) == 0
    assert len(pq.read_table(tmp_path / "sim" / "manifest.parquet")) == 3
    capsys.readouterr()
    assert main(["generate", "sample", "--model", str(run), "--num", "2", "--output", str(tmp_path / "x")]) == 2
    assert "conditioned on chords: give a progression" in capsys.readouterr().err
    assert main(["generate", "sample", "--model", str(run), "--num", "2", "--output", str(tmp_path / "x"),
                 "--chords", "C", "Hm"]) == 2
    assert "--chords: chord 'Hm'" in capsys.readouterr().err
