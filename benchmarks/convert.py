"""Files/s of ``encode_midi`` per converter family vs note-seq's MIDI parsing.

    python benchmarks/convert.py [MIDI_DIR] [--repeat N]

Without MIDI_DIR, a set of real pieces is exported from the music21 corpus.
The baseline is ``note_seq.midi_file_to_note_sequence`` over the same files,
in the same run (parsing only: Magenta's converters then do more work). Both sides
report their best of --repeat passes, which filters out noise from other load.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from raymvae.music import converter_for  # noqa: E402

FAMILIES = {"melody (cat-mel_2bar_small)": "cat-mel_2bar_small",
            "melody 16-bar (hierdec-mel_16bar)": "hierdec-mel_16bar",
            "drums (cat-drums_2bar_small)": "cat-drums_2bar_small",
            "trio (hierdec-trio_16bar)": "hierdec-trio_16bar"}


def _time(fn, paths, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for p in paths:
            fn(p)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("midi_dir", nargs="?", help="folder of .mid files (default: music21 exports)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N passes (default 3)")
    args = ap.parse_args()
    if args.midi_dir:
        paths = sorted(p for p in Path(args.midi_dir).rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    else:
        from raymvae.corpus import export_pieces
        tmp = Path(tempfile.mkdtemp())
        export_pieces("folk", tmp, limit=60)
        paths = sorted(tmp.rglob("*.mid"))
    import note_seq

    datas = {p: p.read_bytes() for p in paths}
    n = len(paths)
    base = _time(lambda p: note_seq.midi_file_to_note_sequence(str(p)), paths, args.repeat)
    print(f"{n} files, {sum(len(d) for d in datas.values()) / 1e6:.2f} MB")
    print(f"baseline note_seq.midi_file_to_note_sequence: {n / base:8.1f} files/s")
    for label, cfg in FAMILIES.items():
        conv = converter_for(cfg)
        conv.encode_midi(next(iter(datas.values())))  # compile / warm up
        t = _time(lambda p: conv.encode_midi(datas[p]), paths, args.repeat)
        print(f"{label:36s} {n / t:8.1f} files/s   ratio vs note-seq: {base / t:6.1f}x")


if __name__ == "__main__":
    main()
