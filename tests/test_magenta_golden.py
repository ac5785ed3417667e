"""Magenta's own checkpoints in, Magenta's own numbers out (fixtures from Magenta's TF code)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from raymvae.model import CheckpointMismatchError, load_magenta_checkpoint
from raymvae.model.tf_checkpoint import CheckpointFormatError, read_checkpoint

GOLDEN = Path(__file__).parent / "fixtures" / "magenta_golden"
CONFIGS = ["cat-mel_2bar_small", "cat-drums_2bar_small", "flat-mel_16bar", "hierdec-mel_16bar", "hierdec-trio_16bar",
           "hier-mel_16bar", "nade-drums_2bar_reduced"]


def close(a, b, tol=1e-4):
    return np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max() <= tol


@pytest.mark.parametrize("name", CONFIGS)
def test_golden_checkpoint_computes_magentas_function(name):
    d = GOLDEN / name
    override = json.loads((d / "hparams.json").read_text())["hparams_override"]
    model = load_magenta_checkpoint(d, name, override)
    io = np.load(d / "io.npz")
    x = torch.from_numpy(io["outputs_idx"].astype(np.int64))
    assert model.magenta_global_step == int(io["global_step"])
    with torch.no_grad():
        mu, sigma = model.encode(x)
        rows = io["logits_window_index"]
        logits = model.teacher_forced_logits(mu[rows], x[rows])
        out = model(x, beta=float(io["beta"]), use_mean=True)
        greedy, greedy_logits = model.decode(mu, temperature=None, return_logits=True)
    assert close(mu, io["mu"]) and close(sigma, io["sigma"])
    assert close(logits, io["logits"])
    assert np.array_equal(greedy.numpy(), io["sample_argmax_idx"])
    assert close(greedy_logits[io["sample_logits_window_index"]], io["sample_logits"])
    assert np.allclose(out.r_loss.numpy(), io["r_loss"], rtol=1e-4)
    assert np.allclose(out.kl.numpy(), io["kl_nats"], rtol=1e-4)
    assert float(out.loss) == pytest.approx(float(io["loss"]), rel=1e-4)
    with torch.enable_grad():  # fp32 training's own LSTM path on CPU (cpu_lstm) computes the same function
        trained = model(x, beta=float(io["beta"]), use_mean=True)
        trained_logits = model.teacher_forced_logits(mu[rows], x[rows])
    assert close(trained.mu.detach(), io["mu"]) and close(trained.sigma.detach(), io["sigma"])
    assert close(trained_logits.detach(), io["logits"])
    assert np.allclose(trained.r_loss.detach().numpy(), io["r_loss"], rtol=1e-4)
    assert float(trained.loss) == pytest.approx(float(io["loss"]), rel=1e-4)


def test_groovae_golden_checkpoint_computes_magentas_function():
    """GrooVAE (humanize): float inputs and targets, sigmoid / sigmoid / tanh outputs, the groove loss."""
    d = GOLDEN / "groovae_2bar_humanize"
    override = json.loads((d / "hparams.json").read_text())["hparams_override"]
    model = load_magenta_checkpoint(d, "groovae_2bar_humanize", override)
    io = np.load(d / "io.npz")
    from raymvae.music import converter_for

    conv = converter_for("groovae_2bar_humanize", inference=True)
    assert np.array_equal(conv.model_inputs(io["outputs"]), io["inputs"])
    with torch.no_grad():
        mu, sigma = model.encode(torch.from_numpy(io["inputs"]))
        assert close(mu, io["mu"]) and close(sigma, io["sigma"])
        assert close(model.encode_windows(io["outputs"])[0], io["mu"])
        targets = torch.from_numpy(io["outputs"])
        assert close(model.teacher_forced_logits(mu, targets), io["logits"])
        out = model(targets, beta=float(io["beta"]), use_mean=True)
        # Magenta's greedy frames fed back give its free-running logits; our own greedy decode matches it
        assert close(model.teacher_forced_logits(mu, torch.from_numpy(io["sample_argmax"])), io["sample_logits"])
        greedy = model.decode(mu, temperature=None).numpy()
    assert np.array_equal(greedy[..., :9], io["sample_argmax_idx"]) and close(greedy, io["sample_argmax"])
    assert np.allclose(out.r_loss.numpy(), io["r_loss"], rtol=1e-4)
    assert np.allclose(out.kl.numpy(), io["kl_nats"], rtol=1e-4)
    assert float(out.loss) == pytest.approx(float(io["loss"]), rel=1e-4)


def test_chord_conditioned_golden_checkpoint_computes_magentas_function():
    """cat-mel_2bar_med_chords: the chord of every step, one-hot, read by the encoder and every decoder step."""
    name = "cat-mel_2bar_med_chords"
    d = GOLDEN / name
    override = json.loads((d / "hparams.json").read_text())["hparams_override"]
    model = load_magenta_checkpoint(d, name, override)
    io = np.load(d / "io.npz")
    melody = torch.from_numpy(io["outputs_idx"].astype(np.int64))
    chords = torch.from_numpy(io["controls_idx"].astype(np.int64))
    with torch.no_grad():
        mu, sigma = model.encode(melody, controls=chords)
        logits = model.teacher_forced_logits(mu, melody, controls=chords)
        windows = torch.stack([melody, chords], -1)  # the converter's [n, T, 2] form carries its own chords
        assert close(model.encode_windows(windows)[0], io["mu"])
        out = model(windows, beta=float(io["beta"]), use_mean=True)
        greedy, greedy_logits = model.decode(mu, temperature=None, return_logits=True, controls=chords)
    assert close(mu, io["mu"]) and close(sigma, io["sigma"]) and close(logits, io["logits"])
    assert np.array_equal(greedy[..., 0].numpy(), io["sample_argmax_idx"]) and close(greedy_logits, io["sample_logits"])
    assert torch.equal(greedy[..., 1], chords)
    assert np.allclose(out.r_loss.numpy(), io["r_loss"], rtol=1e-4)
    assert np.allclose(out.kl.numpy(), io["kl_nats"], rtol=1e-4)
    assert float(out.loss) == pytest.approx(float(io["loss"]), rel=1e-4)
    with pytest.raises(ValueError, match="controls"):
        model.encode(melody)


def test_multitrack_golden_checkpoint_computes_magentas_function():
    """hier-multiperf_vel_1bar_med: the encoder reads each track up to its length, the conductor emits one
    embedding per track, loss and logits count token rows only (-1 padding rows are all-zero frames)."""
    name = "hier-multiperf_vel_1bar_med"
    d = GOLDEN / name
    model = load_magenta_checkpoint(d, name, json.loads((d / "hparams.json").read_text())["hparams_override"])
    io = np.load(d / "io.npz")
    x = torch.from_numpy(io["outputs_idx"].astype(np.int64))
    assert np.array_equal(model.codec.segment_lengths(x).numpy(), io["lengths"])
    with torch.no_grad():
        mu, sigma = model.encode(x)
        rows = io["logits_window_index"]
        logits = model.teacher_forced_logits(mu[rows], x[rows]).numpy()
        out = model(x, beta=float(io["beta"]), use_mean=True)
        greedy, greedy_logits = model.decode(mu, temperature=None, return_logits=True)
    assert close(mu, io["mu"]) and close(sigma, io["sigma"])
    valid = io["logits_valid"]
    assert close(logits[valid], io["logits"][valid])
    steps = io["sample_logits"].shape[1]
    assert close(greedy_logits[io["sample_logits_window_index"], :steps], io["sample_logits"])
    # greedy frames agree up to each window's first near-tie (Magenta's own margin < 1e-3), then both are right
    for g, ref, margin in zip(greedy.numpy(), io["sample_argmax_idx"], io["sample_top2_margin"]):
        first_tie = int(np.argmax(margin < 1e-3)) if (margin < 1e-3).any() else len(margin)
        cut = model.windows_from_targets(torch.from_numpy(ref.astype(np.int64))[None, :, None])[0].numpy()
        assert np.array_equal(g[:first_tie], cut[:first_tie])
    assert np.allclose(out.r_loss.numpy(), io["r_loss"], rtol=1e-4)
    assert np.allclose(out.kl.numpy(), io["kl_nats"], rtol=1e-4)
    assert float(out.loss) == pytest.approx(float(io["loss"]), rel=1e-4)


def test_mismatched_config_names_the_variable_and_shapes():
    with pytest.raises(CheckpointMismatchError, match=r"encoder/cell_0/.*kernel.*\(154, 256\).*\(602, 2048\)"):
        load_magenta_checkpoint(GOLDEN / "cat-mel_2bar_small", "cat-mel_2bar_small")
    with pytest.raises(CheckpointMismatchError, match="no variable 'decoder/hierarchical_level_0"):
        load_magenta_checkpoint(GOLDEN / "flat-mel_16bar", "hierdec-mel_16bar",
                                "enc_rnn_size=[64,64],dec_rnn_size=[48,48],z_size=16")


def test_reader_accepts_prefix_folder_and_tar_and_detects_corruption(tmp_path):
    import tarfile

    src = GOLDEN / "cat-mel_2bar_small"
    by_folder = read_checkpoint(src)
    by_prefix = read_checkpoint(src / "model.ckpt")
    with tarfile.open(tmp_path / "cat-mel.tar", "w") as tar:
        for f in ("model.ckpt.index", "model.ckpt.data-00000-of-00001"):
            tar.add(src / f, arcname=f"cat-mel_2bar_small/{f}")
    by_tar = read_checkpoint(tmp_path / "cat-mel.tar")
    assert set(by_folder) == set(by_prefix) == set(by_tar)
    assert all(np.array_equal(by_folder[k], by_tar[k]) for k in by_folder)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.ckpt.index").write_bytes((src / "model.ckpt.index").read_bytes())
    data = bytearray((src / "model.ckpt.data-00000-of-00001").read_bytes())
    data[100] ^= 0xFF
    (bad / "model.ckpt.data-00000-of-00001").write_bytes(bytes(data))
    with pytest.raises(CheckpointFormatError, match="checksum"):
        read_checkpoint(bad)
    (bad / "model.ckpt.index").write_bytes(b"not an index")
    with pytest.raises(CheckpointFormatError, match="magic"):
        read_checkpoint(bad)


def test_import_magenta_writes_a_run_dir_that_loads_back(tmp_path, capsys):
    from raymvae.cli import main
    from raymvae.export import load_export

    name = "cat-drums_2bar_small"
    override = json.loads((GOLDEN / name / "hparams.json").read_text())["hparams_override"]
    assert main(["import-magenta", "--checkpoint", str(GOLDEN / name), "--config", name,
                 "--hparams", override, "--output", str(tmp_path / "run")]) == 0
    model, info = load_export(tmp_path / "run")
    assert info["step"] == 20 and info["config"]["name"] == name and info["config"]["hparams"]["z_size"] == 16
    io = np.load(GOLDEN / name / "io.npz")
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(io["outputs_idx"].astype(np.int64)))
    assert close(mu, io["mu"])
    assert main(["import-magenta", "--checkpoint", str(GOLDEN / name), "--config", name,
                 "--output", str(tmp_path / "bad")]) == 2
    assert "model built from the config expects" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "export").exists()


@pytest.mark.parametrize("form", ["prefix", "folder", "tar"])
def test_import_magenta_from_and_to_object_storage(s3_dir, tmp_path, form):
    import tarfile

    from raymvae import storage
    from raymvae.cli import main
    from raymvae.export import load_export

    name = "cat-mel_2bar_small"
    src = GOLDEN / name
    files = ("model.ckpt.index", "model.ckpt.data-00000-of-00001")
    if form == "tar":
        with tarfile.open(tmp_path / "ckpt.tar", "w") as tar:
            for f in files:
                tar.add(src / f, arcname=f"{name}/{f}")
        storage.write_bytes(storage.join(s3_dir, "ckpt.tar"), (tmp_path / "ckpt.tar").read_bytes())
        checkpoint = storage.join(s3_dir, "ckpt.tar")
    else:
        for f in files:
            storage.write_bytes(storage.join(s3_dir, "ckpt", f), (src / f).read_bytes())
        checkpoint = storage.join(s3_dir, "ckpt", "model.ckpt" if form == "prefix" else "")
    override = json.loads((src / "hparams.json").read_text())["hparams_override"]
    run = storage.join(s3_dir, "run")
    assert main(["import-magenta", "--checkpoint", checkpoint, "--config", name, "--hparams", override,
                 "--output", run]) == 0
    model, info = load_export(run)
    io = np.load(src / "io.npz")
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(io["outputs_idx"].astype(np.int64)))
    assert close(mu, io["mu"]) and info["step"] == int(io["global_step"])
