"""WAV rendering through FluidSynth: files, the service's format=wav, and what a machine without it is told."""
from __future__ import annotations

import base64
import io
import wave

import numpy as np
import pytest

from raymvae import audio
from raymvae.music import converter_for

NO_AUDIO = audio.missing()
needs_fluidsynth = pytest.mark.skipif(NO_AUDIO is not None, reason=str(NO_AUDIO))


def two_bars() -> bytes:
    conv = converter_for("cat-mel_2bar_small")
    w = np.zeros((1, 32), np.int16)
    w[0, ::4] = np.arange(8) + 41  # eight quarter notes from C4
    return conv.to_midi_bytes(conv.decode(w)[0])


@needs_fluidsynth
def test_a_two_bar_file_renders_to_four_seconds_of_stereo_wav():
    with wave.open(io.BytesIO(audio.render_wav(two_bars()))) as w:
        seconds = w.getnframes() / w.getframerate()
        frames = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        assert w.getnchannels() == 2 and w.getframerate() == audio.SAMPLE_RATE and 4.0 <= seconds < 7.0
    assert np.abs(frames).max() > 1000  # it sounds


def test_without_fluidsynth_the_message_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("RAYMVAE_SOUNDFONT", str(tmp_path / "none.sf2"))
    assert audio.missing() == audio.INSTALL and "apt install fluidsynth fluid-soundfont-gm" in audio.INSTALL
    with pytest.raises(RuntimeError, match="apt install fluidsynth"):
        audio.render_wav(two_bars())


def test_the_service_answers_wav_or_says_why_not(tmp_path, monkeypatch):
    import torch

    from raymvae.export import save_export
    from raymvae.model import build
    from raymvae.serve.service import BadRequest, ModelService
    from raymvae.serve.settings import ServeSettings

    torch.manual_seed(0)
    save_export(tmp_path, build("cat-mel_2bar_small", dict(enc_rnn_size=[8], dec_rnn_size=[8], z_size=4)).eval(), 1)
    service = ModelService(ServeSettings(model=str(tmp_path)))
    windows = converter_for("cat-mel_2bar_small").encode_midi(two_bars())
    if NO_AUDIO is None:
        out = service.render(windows, np.zeros((1, 4)), fmt="wav")[0]
        assert base64.b64decode(out["wav"])[:4] == b"RIFF" and "midi" in out
    assert "wav" not in service.render(windows, np.zeros((1, 4)))[0]
    monkeypatch.setenv("RAYMVAE_SOUNDFONT", str(tmp_path / "none.sf2"))
    with pytest.raises(BadRequest, match="format=wav: this server cannot render audio: audio needs") as err:
        service.check_format("wav")
    assert err.value.status == 422
    service.check_format("midi")


def test_generate_audio_without_fluidsynth_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    from raymvae.cli import main
    from raymvae.export import save_export
    from raymvae.model import build

    save_export(tmp_path / "run", build("cat-mel_2bar_small", dict(enc_rnn_size=[8], dec_rnn_size=[8], z_size=4)), 1)
    monkeypatch.setenv("RAYMVAE_SOUNDFONT", str(tmp_path / "none.sf2"))
    assert main(["generate", "sample", "--model", str(tmp_path / "run"), "--num", "2", "--output",
                 str(tmp_path / "out"), "--audio"]) == 2
    assert "--audio: audio needs FluidSynth" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
