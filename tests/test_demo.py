"""The demo's own choices (no Ray): which part of a chorale it interpolates between."""
from __future__ import annotations

import pretty_midi

from raymvae.demo import chorale_tune


def _chorale(path, parts: list[str]) -> str:
    midi = pretty_midi.PrettyMIDI()
    for k, name in enumerate(parts):
        inst = pretty_midi.Instrument(0, name=name)
        inst.notes = [pretty_midi.Note(80, 72 - 7 * k + i, i * 0.5, i * 0.5 + 0.5) for i in range(4)]
        midi.instruments.append(inst)
    midi.write(str(path))
    return str(path)


def test_the_demo_interpolates_between_the_chorales_tunes(tmp_path):
    """BWV 1.6 starts with a horn descant; the demo takes the soprano part (the tune), in a file of its own."""
    source = _chorale(tmp_path / "bwv1.6.mid", ["Horn 2", "Soprano", "Alto", "Tenor", "Bass"])
    tune = chorale_tune(source, tmp_path / "tunes")
    assert tune == str(tmp_path / "tunes" / "bwv1.6-soprano.mid")
    (inst,) = pretty_midi.PrettyMIDI(tune).instruments
    assert inst.name == "Soprano" and [n.pitch for n in inst.notes] == [65, 66, 67, 68]
    plain = _chorale(tmp_path / "reel.mid", ["Fiddle"])
    assert chorale_tune(plain, tmp_path / "tunes") == plain  # no soprano part: the file as it is
