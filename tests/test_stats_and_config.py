"""Musical statistics and config presets / --hparams parsing."""
import numpy as np
import pytest

from raymvae.config import apply_hparams, config_names, load_config, parse_hparams
from raymvae.music import converter_for
from raymvae.music import stats


def melody_ns(classes):
    return converter_for("cat-mel_2bar_small").decode(np.array([classes]))[0]


def test_stats_of_a_known_melody():
    # C E G C' as quarter notes in bar 0, bar 1 empty.
    ns = melody_ns([41, 0, 0, 0, 45, 0, 0, 0, 48, 0, 0, 0, 53, 0, 0, 0, 1] + [0] * 15)
    assert stats.note_density(ns) == 4.0  # total_time is one bar (the last note ends at bar 1)
    assert stats.pitch_range(ns) == 12.0
    assert stats.mean_pitch(ns) == pytest.approx((60 + 64 + 67 + 72) / 4)
    assert stats.in_scale_rate(ns) == 1.0
    assert stats.polyphony_rate(ns) == 0.0
    assert stats.syncopation(ns) == 0.0
    assert stats.pitch_class_entropy(ns) == pytest.approx(1.5)  # C twice, E, G
    h = stats.pitch_class_histogram(ns)
    assert h[0] == 0.5 and h[4] == 0.25 and h.sum() == pytest.approx(1.0)


def test_empty_bar_rate_and_syncopation():
    ns = melody_ns([0, 41, 0, 1] + [0] * 12 + [0] * 15 + [45])
    assert stats.empty_bar_rate(ns) == 0.0
    assert stats.syncopation(ns) == 1.0
    ns2 = melody_ns([41, 1] + [0] * 30)
    ns2.total_time = 4.0  # two bars, second empty
    assert stats.empty_bar_rate(ns2) == 0.5


def test_groove_consistency_for_drums():
    conv = converter_for("cat-drums_2bar_small")
    same = conv.decode(np.array([[1, 0, 4, 0] * 8]))[0]
    assert stats.groove_consistency(same) == 1.0
    diff = conv.decode(np.array([[1] * 16 + [0] * 15 + [2]]))[0]
    assert stats.groove_consistency(diff) < 0.1


def test_every_preset_loads_with_its_converter():
    names = config_names()
    assert {"cat-mel_2bar_small", "hierdec-trio_16bar", "nade-drums_2bar_full", "hier-mel_16bar"} <= set(names)
    for name in names:
        cfg = load_config(name)
        conv = converter_for(name)
        assert conv.window_steps == cfg.hparams["max_seq_len"]


def test_hparams_syntax():
    assert parse_hparams("batch_size=32,learning_rate=0.0005,dec_rnn_size=[512,512]") == {
        "batch_size": 32, "learning_rate": 0.0005, "dec_rnn_size": [512, 512]}
    cfg = load_config("cat-mel_2bar_small", "sampling_schedule=constant,sampling_rate=0,free_bits=48")
    assert cfg.hparams["sampling_schedule"] == "constant" and cfg.hparams["free_bits"] == 48
    assert isinstance(cfg.hparams["sampling_rate"], float)


@pytest.mark.parametrize("text,msg", [("no_such_thing=3", "unknown hparam"), ("batch_size=abc", "expects int"),
                                      ("dec_rnn_size=[a]", "expects list"), ("batch_size", "expected name=value"),
                                      ("residual_encoder=5", "expects bool")])
def test_hparams_errors(text, msg):
    with pytest.raises(ValueError, match=msg):
        apply_hparams(load_config("cat-mel_2bar_small").hparams, text)


def test_unknown_config_name():
    with pytest.raises(ValueError, match="known configs"):
        converter_for("cat-mel_3bar_tiny")


def test_training_presets_overlay_the_config_before_hparams(tmp_path, monkeypatch):
    from raymvae.config import preset_hparams, preset_names
    from raymvae.errors import UserError

    assert "small-corpus" in preset_names()
    overlay = preset_hparams("small-corpus")
    assert overlay and set(overlay) <= set(load_config("cat-mel_2bar_small").hparams)
    cfg = load_config("cat-mel_2bar_small", preset="small-corpus")
    assert all(cfg.hparams[k] == pytest.approx(v) for k, v in overlay.items())
    assert load_config("cat-mel_2bar_small", "batch_size=7", preset="small-corpus").hparams["batch_size"] == 7
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine.yaml").write_text("hparams: {free_bits: 3.0}\n")
    monkeypatch.setenv("RAYMVAE_CONFIG_DIR", str(tmp_path))
    assert load_config("cat-drums_2bar_small", preset="mine").hparams["free_bits"] == 3.0
    assert "cat-mel_2bar_small" in config_names()  # the packaged presets are still there
    with pytest.raises(UserError, match="unknown preset 'nope'.*mine.*small-corpus"):
        load_config("cat-mel_2bar_small", preset="nope")


def test_a_source_checkout_without_install_finds_its_presets(monkeypatch):
    """With only the source tree on PYTHONPATH there is no `raymvae.configs` package: configs/ is used."""
    import importlib.resources
    from pathlib import Path

    import raymvae
    from raymvae.config import package_config_dir, preset_hparams

    def files(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(importlib.resources, "files", files)
    assert package_config_dir() == Path(raymvae.__file__).resolve().parent.parent / "configs"
    assert preset_hparams("small-corpus")
    assert load_config("cat-mel_2bar_small").hparams["z_size"] == 256


def test_python_dash_m_raymvae_is_the_cli():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "raymvae", "configs"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cat-mel_2bar_small" in done.stdout and "small-corpus" in done.stdout
