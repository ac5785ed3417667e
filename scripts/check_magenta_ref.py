"""Compare raymvae's converters with Magenta's own output (../shared/data/magenta-ref).

Development check, not part of the test suite (users do not have that folder):
    python scripts/check_magenta_ref.py [REF_DIR] [MIDI_DIR]
Per file, windows are compared as multisets; for configs where the reference
keeps at most 5 windows per file, the reference must be a subset of ours.
"""
import collections
import sys
from pathlib import Path

import numpy as np

from raymvae.music import converter_for

ref_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/magenta-ref")
midi_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/data/dev-midi")
bad_total = 0
for ref_file in sorted(ref_dir.glob("*.npz")):
    cfg = ref_file.stem
    conv = converter_for(cfg)
    ref = np.load(ref_file)
    capped = cfg.endswith("16bar") and "trio" not in cfg
    same = 0
    bad = []
    for name, status in zip(ref["__files__"], ref["__status__"]):
        if status != "ok":
            continue
        theirs = ref[f"{name}#outputs"]
        ours = conv.encode_midi((midi_dir / name).read_bytes())
        a = collections.Counter(r.tobytes() for r in ours.astype(np.int16))
        b = collections.Counter(r.tobytes() for r in theirs.astype(np.int16).reshape((-1,) + ours.shape[1:]))
        ok = (not (b - a)) if capped else (a == b)
        if ok:
            same += 1
        else:
            bad.append((name, len(ours), len(theirs)))
    bad_total += len(bad)
    print(f"{cfg}: {same}/{same + len(bad)} files identical" + ("" if not bad else f"; differ: {bad[:8]}"))
sys.exit(1 if bad_total else 0)
