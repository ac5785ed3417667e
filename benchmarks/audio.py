"""WAV rendering through FluidSynth: seconds per 2-bar file, beside writing the same file as MIDI.

    python benchmarks/audio.py [--files 20]

Renders 2-bar melodies (a note per beat) and 2-bar drum beats; the baseline is the MIDI writer on the
same NoteSequences, measured in the same run.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

from raymvae import audio
from raymvae.model.precision import cpu_summary
from raymvae.music import converter_for


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20)
    args = ap.parse_args()
    if audio.missing():
        sys.exit(audio.missing())
    rng = np.random.default_rng(0)
    mel, drums = converter_for("cat-mel_2bar_small"), converter_for("cat-drums_2bar_small")
    melodies = np.zeros((args.files, 32), np.int16)
    melodies[:, ::4] = rng.integers(30, 60, (args.files, 8))
    beats = rng.integers(0, 512, (args.files, 32)) * (rng.random((args.files, 32)) < 0.5)
    print(f"{platform.machine()}, {cpu_summary()}; fluidsynth with {audio.soundfont()}")
    for name, conv, windows in (("melody", mel, melodies), ("drums", drums, beats)):
        sequences = conv.decode(windows)
        t = time.perf_counter()
        midis = [conv.to_midi_bytes(ns) for ns in sequences]
        t_midi = (time.perf_counter() - t) / len(midis)
        t = time.perf_counter()
        for m in midis:
            audio.render_wav(m)
        t_wav = (time.perf_counter() - t) / len(midis)
        print(f"{name}: {t_wav * 1000:.0f} ms per 2-bar WAV, {t_midi * 1000:.2f} ms per MIDI file "
              f"(ratio {t_wav / t_midi:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
