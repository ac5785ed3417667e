"""MIDI -> WAV through FluidSynth and a General MIDI soundfont, for people who judge music by listening.

Uses the ``fluidsynth`` program (Debian: ``fluidsynth``) and the first soundfont found among
``RAYMVAE_SOUNDFONT`` and the usual system places (Debian: ``fluid-soundfont-gm``). Where either is
missing, ``missing()`` says what to install; nothing here is needed to train, generate MIDI or serve.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
              "/usr/share/soundfonts/default.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
INSTALL = ("audio needs FluidSynth and a General MIDI soundfont: apt install fluidsynth fluid-soundfont-gm "
           "(or set RAYMVAE_SOUNDFONT to an .sf2 file)")
SAMPLE_RATE = 44100


def soundfont() -> str | None:
    """The soundfont to render with: ``RAYMVAE_SOUNDFONT``, else the first of ``SOUNDFONTS`` that exists."""
    own = os.environ.get("RAYMVAE_SOUNDFONT")
    if own:
        return own if Path(own).is_file() else None
    return next((f for f in SOUNDFONTS if Path(f).is_file()), None)


def missing() -> str | None:
    """None where WAV rendering works here, else what to install (one line)."""
    if shutil.which("fluidsynth") is None or soundfont() is None:
        return INSTALL
    return None


def require(what: str) -> None:
    """UserError (one line, exit 2) naming ``what`` asked for audio where this machine cannot render it."""
    from raymvae.errors import UserError

    if missing():
        raise UserError(f"{what}: {missing()}")


def render_wav(midi: bytes, sample_rate: int = SAMPLE_RATE) -> bytes:
    """The MIDI file played by FluidSynth (stereo 16-bit WAV); RuntimeError with ``missing()``'s line where
    FluidSynth or a soundfont is absent, or with FluidSynth's own message where it fails."""
    reason = missing()
    if reason:
        raise RuntimeError(reason)
    with tempfile.TemporaryDirectory(prefix="raymvae-wav-") as tmp:
        src, out = Path(tmp, "in.mid"), Path(tmp, "out.wav")
        src.write_bytes(midi)
        done = subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.7", "-r", str(sample_rate), "-F", str(out),
                               str(soundfont()), str(src)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"fluidsynth failed: {(done.stderr or done.stdout).strip()[-300:]}")
        return out.read_bytes()
