"""Compare raymvae's converters with Magenta's own output (../shared/data/magenta-ref).

Development check, not part of the test suite (users do not have that folder):
    python scripts/check_magenta_ref.py [REF_DIR] [MIDI_DIR]
Per file, class-index windows are compared as multisets (Magenta dedupes through a set); for configs
where the reference keeps at most 5 windows per file, the reference must be a subset of ours. GrooVAE
windows are compared in order, inputs and outputs, within 1e-6, in both pitch maps (training and
``#infer``). Chord-conditioned windows are compared as sets of (melody, chords) pairs, and their count; multitrack
windows in order. Configs raymvae does not support yet are listed and skipped.
"""
import collections
import sys
from pathlib import Path

import numpy as np

from raymvae.music import converter_for

ref_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/magenta-ref")
midi_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/data/dev-midi")


def converted(ref, status_key: str = "__status__"):
    """(name, MIDI bytes) of every file Magenta converted."""
    for name, status in zip(ref["__files__"], ref[status_key]):
        if status == "ok":
            yield name, (midi_dir / name).read_bytes()


def check_classes(cfg: str, ref) -> list:
    conv = converter_for(cfg)
    capped = cfg.endswith("16bar") and "trio" not in cfg
    bad = []
    for name, data in converted(ref):
        theirs = ref[f"{name}#outputs"]
        ours = conv.encode_midi(data)
        a = collections.Counter(r.tobytes() for r in ours.astype(np.int16))
        b = collections.Counter(r.tobytes() for r in theirs.astype(np.int16).reshape((-1,) + ours.shape[1:]))
        if not ((not (b - a)) if capped else (a == b)):
            bad.append((name, len(ours), len(theirs)))
    return bad


def check_chords(cfg: str, ref) -> list:
    """Sets of (melody, chords) pairs per file."""
    conv = converter_for(cfg)
    bad = []
    for name, data in converted(ref):
        mel, ctl = conv.encode_midi(data, with_controls=True)
        ours = {np.stack([m, c]).astype(np.int16).tobytes() for m, c in zip(mel, ctl)}
        theirs = {np.stack([m, c]).astype(np.int16).tobytes()
                  for m, c in zip(ref[f"{name}#outputs"], ref[f"{name}#controls"])}
        if ours != theirs or len(mel) != len(ref[f"{name}#outputs"]):
            bad.append((name, len(mel), len(theirs), len(ours & theirs)))
    return bad


def check_in_order(cfg: str, ref) -> list:
    """Multitrack: the windows in order (Magenta neither dedupes nor samples them)."""
    conv = converter_for(cfg)
    bad = []
    for name, data in converted(ref):
        ours = conv.encode_midi(data)
        theirs = ref[f"{name}#outputs"]
        if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
            same = sum(np.array_equal(a, b) for a, b in zip(ours, theirs))
            bad.append((name, len(ours), len(theirs), same))
    return bad


def check_groove(cfg: str, ref) -> list:
    bad = []
    for mode, suffix, status_key in (("train", "", "__status__"), ("infer", "#infer", "__status_infer__")):
        conv = converter_for(cfg, inference=mode == "infer")
        for name, data in converted(ref, status_key):
            ours = conv.encode_midi(data)
            outputs = ref[f"{name}{suffix}" + ("_outputs" if suffix else "#outputs")]
            inputs = ref[f"{name}{suffix}"]
            if ours.shape != outputs.shape:
                bad.append((mode, name, ours.shape, outputs.shape))
                continue
            err = max(np.abs(ours - outputs).max(initial=0), np.abs(conv.model_inputs(ours) - inputs).max(initial=0))
            if err > 1e-6:
                bad.append((mode, name, float(err)))
    return bad


bad_total = 0
for ref_file in sorted(ref_dir.glob("*.npz")):
    cfg = ref_file.stem
    try:
        conv = converter_for(cfg)
    except ValueError as exc:
        print(f"{cfg}: skipped ({exc})"[:160])
        continue
    ref = np.load(ref_file)
    check = {"groove": check_groove, "chord_melody": check_chords, "multitrack": check_in_order}.get(
        conv.family, check_classes)
    bad = check(cfg, ref)
    files = sum(s == "ok" for s in ref["__status__"]) + (sum(s == "ok" for s in ref["__status_infer__"])
                                                         if conv.family == "groove" else 0)
    bad_total += len(bad)
    print(f"{cfg}: {files - len(bad)}/{files} file conversions identical"
          + ("" if not bad else f"; differ: {bad[:8]}"))
sys.exit(1 if bad_total else 0)
