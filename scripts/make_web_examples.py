"""Write the example MIDI files the web page offers (raymvae/serve/web/examples/), four per kind of model.

    python scripts/make_web_examples.py

Short pieces written in code (so they are ours to ship): 2-bar+ melodies for melody and chord models,
drum beats for drum and GrooVAE models, 16-bar trios, one-bar band measures for multitrack models.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pretty_midi

OUT = Path(__file__).resolve().parents[1] / "raymvae" / "serve" / "web" / "examples"
STEP = 0.125  # a 16th note at 120 qpm


def write(name: str, tracks: list[tuple[int, bool, list[tuple[int, int, int, int]]]]) -> str:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for program, drum, notes in tracks:
        inst = pretty_midi.Instrument(program=program, is_drum=drum)
        inst.notes = [pretty_midi.Note(v, p, s * STEP, e * STEP) for p, s, e, v in notes]
        pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    (OUT / name).write_bytes(buf.getvalue())
    return name


def melody(scale: list[int], rhythm: list[int], bars: int = 16, root: int = 60) -> list[tuple[int, int, int, int]]:
    notes, step, k = [], 0, 0
    while step < 16 * bars:
        length = rhythm[k % len(rhythm)]
        notes.append((root + scale[k % len(scale)], step, step + length, 90))
        step += length
        k += 1
    return notes


def beat(kick: list[int], snare: list[int], hat: list[int], bars: int = 4) -> list[tuple[int, int, int, int]]:
    out = []
    for b in range(bars):
        for steps, pitch, vel in ((kick, 36, 110), (snare, 38, 100), (hat, 42, 70)):
            out += [(pitch, 16 * b + s, 16 * b + s + 1, vel) for s in steps]
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    index: dict[str, list[str]] = {}
    major, minor, pent = [0, 2, 4, 5, 7, 9, 11, 12], [0, 2, 3, 5, 7, 8, 10, 12], [0, 3, 5, 7, 10, 12, 10, 7]
    index["melody"] = [
        write("melody_a.mid", [(0, False, melody(major, [2]))]),
        write("melody_b.mid", [(0, False, melody(minor[::-1], [4, 2, 2], root=62))]),
        write("melody_c.mid", [(0, False, melody(pent, [1, 1, 2, 4], root=57))]),
        write("melody_d.mid", [(0, False, melody([0, 7, 4, 12, 5, 9], [3, 3, 2], root=55))])]
    index["drums"] = [
        write("drums_a.mid", [(0, True, beat([0, 8], [4, 12], list(range(0, 16, 2))))]),
        write("drums_b.mid", [(0, True, beat([0, 6, 10], [4, 12], list(range(16))))]),
        write("drums_c.mid", [(0, True, beat([0, 3, 8, 11], [4, 12], [2, 6, 10, 14]))]),
        write("drums_d.mid", [(0, True, beat([0], [8], list(range(0, 16, 4))))])]
    bass = [(36, 0, 8, 90), (43, 8, 16, 90)]
    index["trio"] = [
        write(f"trio_{x}.mid", [(0, False, melody(scale, rhythm, 16, root)),
                                (33, False, [(p + (b % 4 == 2) * 5, 16 * b + s, 16 * b + e, v) for b in range(16)
                                             for p, s, e, v in bass]),
                                (0, True, beat(kick, [4, 12], list(range(0, 16, 2)), 16))])
        for x, scale, rhythm, root, kick in (("a", major, [2], 72, [0, 8]), ("b", minor, [4, 2, 2], 69, [0, 10]),
                                             ("c", pent, [1, 1, 2, 4], 67, [0, 6, 8]),
                                             ("d", major[::-1], [3, 3, 2], 74, [0]))]
    index["multitrack"] = [
        write(f"band_{x}.mid", [(program, False, [(p, 4 * k, 4 * k + 4, 60 + 8 * k) for k, p in enumerate(chord)]),
                                (33, False, [(chord[0] - 24, 0, 8, 90), (chord[0] - 17, 8, 16, 90)]),
                                (0, True, beat([0, 8], [4, 12], list(range(0, 16, 2)), 1))])
        for x, program, chord in (("a", 0, [60, 64, 67, 72]), ("b", 24, [57, 60, 64, 69]),
                                  ("c", 4, [65, 69, 72, 77]), ("d", 80, [55, 59, 62, 67]))]
    (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {sum(map(len, index.values()))} files to {OUT}")


if __name__ == "__main__":
    main()
