"""GrooVAE from the user's side, on Ray: prepare performances, train, then humanize, tap2drum and groove
transfer from the command line, each file the same as the model computes it in-process."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from midi_fixtures import midi_bytes
from raymvae.cli import main
from raymvae.data import prepare, read_windows
from raymvae.export import load_export, save_export
from raymvae.model import build
from raymvae.model.seeded import decode_seeded
from raymvae.music import converter_for, midi_to_note_sequence
from raymvae.music.converters import REDUCED_DRUM_PITCH_CLASSES, ROLAND_DRUM_PITCH_CLASSES
from raymvae.train.trainer import fit
from test_groove import performance

pytestmark = pytest.mark.ray
CONFIG = "groovae_2bar_humanize"
TINY = "batch_size=8,enc_rnn_size=[32],dec_rnn_size=[32],z_size=16"
GM = [c[0] for c in REDUCED_DRUM_PITCH_CLASSES]
ROLAND = [c[0] for c in ROLAND_DRUM_PITCH_CLASSES]


def performance_midi(windows: np.ndarray, qpm: float = 120.0, roland: bool = True) -> bytes:
    """Windows played back as one MIDI file (Roland pitches: what groovae trains on)."""
    conv = converter_for(CONFIG)
    ns = conv.decode_joined(windows, qpm)
    if roland:
        for n in ns.notes:
            n.pitch = ROLAND[GM.index(n.pitch)]
    return conv.to_midi_bytes(ns)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """16 two-pattern performances (4 bars each, some at 96 qpm), a file with 3 GM-only kicks, a piano file."""
    d = tmp_path_factory.mktemp("grooves")
    perf = np.concatenate([performance(seed) for seed in range(2)])  # 24 windows
    for i in range(16):
        (d / f"groove_{i:02d}.mid").write_bytes(performance_midi(perf[[i, (i + 5) % 24]], 96.0 if i % 4 else 120.0))
    (d / "gm_kicks.mid").write_bytes(midi_bytes([(0, True, [(35, s, s + 1, 90) for s in (0, 8, 16)]
                                                  + [(36, 20, 21, 90)])]))
    (d / "piano.mid").write_bytes(midi_bytes([(0, False, [(60, 0, 32)])]))
    return d, perf


def test_prepare_train_and_the_three_modes(ray_session, corpus, tmp_path, capsys):
    folder, perf = corpus
    shards = tmp_path / "shards"
    m = prepare(CONFIG, [str(folder)], str(shards), eval_fraction=0.25).manifest
    assert m["dtype"] == "float32" and m["window_shape"] == [32, 27] and m["family"] == "groove"
    assert m["windows"]["train"] + m["windows"]["eval"] == 16 * 2 + 1
    assert m["notes_dropped"]["total"] == 3 and m["notes_dropped"]["files"] == 1
    assert m["files"]["by_status"] == {"ok": 17, "no-windows": 1}
    windows, _ = read_windows(str(shards), "train")
    assert windows.dtype == np.float32 and windows.shape[1:] == (32, 27)

    run = tmp_path / "run"
    metrics = fit(CONFIG, str(shards), str(run), hparams=TINY, num_steps=20, num_workers=0, checkpoint_every=20,
                  eval_every=20, log_every=10, eval_samples=16)
    for key in ("metrics/hits_loss", "metrics/velocities_loss", "metrics/offsets_loss", "metrics/hits_precision",
                "metrics/hits_recall", "metrics/hits_accuracy", "metrics/accuracy", "samples/oa/velocity_mean",
                "samples/oa/swing", "samples/oa_mean"):
        assert key in metrics and np.isfinite(metrics[key]), key
    model, _ = load_export(run)
    model.eval()

    # humanize: a quantized beat (velocity 100, on the grid, GM pitches) at 96 qpm
    beat = perf[3:5].copy()
    beat[..., 9:18] = beat[..., :9] * (100 / 127)
    beat[..., 18:] = 0
    (tmp_path / "beat.mid").write_bytes(performance_midi(beat, 96.0, roland=False))
    out = tmp_path / "out"
    assert main(["generate", "humanize", "--model", str(run), "--inputs", str(tmp_path / "beat.mid"),
                 "--output", str(out / "h"), "--precision", "fp32", "--seed", "5"]) == 0
    (row,) = pq.read_table(out / "h" / "manifest.parquet").to_pylist()
    assert row["kind"] == "humanize" and row["qpm"] == pytest.approx(96.0) and len(row["z"]) == 2
    conv = converter_for(CONFIG, inference=True)
    inputs = conv.encode_midi((tmp_path / "beat.mid").read_bytes())
    with torch.no_grad():
        mu = model.encode_windows(inputs)[0].numpy()
    expected = decode_seeded(model, mu, 0.0, [(5, [(0, 0), (0, 1)])])
    got = (out / "h" / row["path"]).read_bytes()
    assert got == conv.to_midi_bytes(conv.decode_joined(expected, 96.0))
    ns = midi_to_note_sequence(got)
    assert ns.tempos[0].qpm == pytest.approx(96.0) and ns.total_time <= 2 * 8 * 60 / 96 + 60 / 96

    # sampling and interpolation as for every config: one window per file, at 120 qpm
    assert main(["generate", "sample", "--model", str(run), "--num", "3", "--output", str(out / "s"),
                 "--precision", "fp32"]) == 0
    rows = pq.read_table(out / "s" / "manifest.parquet").to_pylist()
    assert len(rows) == 3 and all(len(r["z"]) == 16 and (out / "s" / r["path"]).exists() for r in rows)
    a, b = str(tmp_path / "beat.mid"), str(folder / "groove_00.mid")
    assert main(["generate", "interpolate", "--model", str(run), "--pairs", f"{a}:{b}", "--steps", "3",
                 "--output", str(out / "i"), "--precision", "fp32"]) == 0
    rows = pq.read_table(out / "i" / "manifest.parquet").to_pylist()
    assert [r["t"] for r in rows] == [0.0, 0.5, 1.0]
    with torch.no_grad():
        mu_b = model.encode_windows(conv.encode_midi(Path(b).read_bytes())[:1])[0].numpy()[0]
    assert np.allclose(rows[-1]["z"], mu_b, atol=1e-5) and (out / "i" / rows[-1]["path"]).exists()

    # tap2drum: a piano line is a rhythm; every note counts as a tap
    taps = midi_bytes([(0, False, [(60 + s % 5, s, s + 1, 40 + 2 * s) for s in range(0, 32, 3)])])
    (tmp_path / "taps.mid").write_bytes(taps)
    assert main(["generate", "tap2drum", "--model", str(run), "--inputs", str(tmp_path / "taps.mid"),
                 "--output", str(out / "t"), "--precision", "fp32"]) == 0
    (row,) = pq.read_table(out / "t" / "manifest.parquet").to_pylist()
    assert len(row["z"]) == 1 and (out / "t" / row["path"]).exists()
    assert len(conv.encode_performance(taps, taps=True)[0]) == 1 and len(conv.encode_midi(taps)) == 0  # a rhythm

    # a file with no drums is refused in one line, exit code 2
    capsys.readouterr()
    assert main(["generate", "humanize", "--model", str(run), "--inputs", str(folder / "piano.mid"),
                 "--output", str(out / "bad")]) == 2
    assert "piano.mid: no 2-bar drum performance" in capsys.readouterr().err
    assert main(["generate", "groove-transfer", "--model", str(run), "--groove", str(tmp_path / "beat.mid"),
                 "--pattern", str(tmp_path / "beat.mid"), "--output", str(out / "bad")]) == 2
    assert "groovae_2bar_hits_control" in capsys.readouterr().err


def test_groove_transfer_decodes_the_groove_under_the_patterns_hits(ray_session, corpus, tmp_path, capsys):
    _, perf = corpus
    torch.manual_seed(0)
    model = build("groovae_2bar_hits_control", dict(enc_rnn_size=[16], dec_rnn_size=[16], z_size=8)).eval()
    run = tmp_path / "hits_control"
    save_export(str(run), model, 0)
    (tmp_path / "groove.mid").write_bytes(performance_midi(perf[0:2], 120.0, roland=False))
    (tmp_path / "pattern.mid").write_bytes(performance_midi(perf[5:8], 90.0, roland=False))
    out = tmp_path / "x"
    assert main(["generate", "groove-transfer", "--model", str(run), "--groove", str(tmp_path / "groove.mid"),
                 "--pattern", str(tmp_path / "pattern.mid"), "--output", str(out), "--precision", "fp32"]) == 0
    (row,) = pq.read_table(out / "manifest.parquet").to_pylist()
    conv = converter_for("groovae_2bar_hits_control", inference=True)
    groove = conv.encode_midi((tmp_path / "groove.mid").read_bytes())
    pattern = conv.encode_midi((tmp_path / "pattern.mid").read_bytes())
    with torch.no_grad():
        z = model.encode_windows(groove)[0].numpy()[[0, 1, 0]]  # the groove's 2 windows loop over 3
    expected = decode_seeded(model, z, 0.0, [(0, [(0, 0), (0, 1), (0, 2)])], conv.controls(pattern))
    assert (out / row["path"]).read_bytes() == conv.to_midi_bytes(conv.decode_joined(expected, 90.0))
    assert np.asarray(row["controls"]).shape == (3, 32, 9) and json.dumps(row["source"]).count("|") == 1
    capsys.readouterr()
    assert main(["generate", "sample", "--model", str(run), "--num", "2", "--output", str(out / "s")]) == 2
    assert "decodes under the hits it is given" in capsys.readouterr().err
