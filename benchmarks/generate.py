"""MIDI files/s of `raymvae generate sample` (Ray Data) vs a single-process loop, same model, same run.

    python benchmarks/generate.py [--num 10000] [--model RUN_DIR]

Without --model, a cat-mel_2bar_small model (full size, untrained weights:
decoding cost does not depend on training) is exported to a temporary run
dir. The baseline decodes in batches of 256 in this process and writes
each file with pretty_midi; the Ray path is the whole job (plan, actor-pool
decoding, parallel MIDI writing with statistics, manifest, contact sheet),
Ray started beforehand. Target: >= 200 files/s on 2 cores.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from raymvae.export import load_export, save_export
from raymvae.generate.batch import run
from raymvae.generate.plan import sample_rows
from raymvae.model import build
from raymvae.runtime import init_ray


def baseline(model, rows, out: Path) -> float:
    import pretty_midi

    t = time.perf_counter()
    for i in range(0, len(rows), 256):
        z = torch.tensor(np.array([r["z"] for r in rows[i:i + 256]], np.float32))
        with torch.no_grad():
            windows = model.decode(z, temperature=0.5, generator=torch.Generator().manual_seed(i)).numpy()
        for k, w in enumerate(windows):
            pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
            inst = pretty_midi.Instrument(program=0)
            pitch, start = None, 0
            for step, c in enumerate(list(w) + [1]):
                if c >= 1 and pitch is not None:
                    inst.notes.append(pretty_midi.Note(80, pitch, start * 0.125, step * 0.125))
                    pitch = None
                if c >= 2:
                    pitch, start = int(c) + 19, step
            pm.instruments.append(inst)
            pm.write(str(out / f"{i + k:06d}.mid"))
    return len(rows) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=10_000)
    ap.add_argument("--model", default=None, help="run dir (default: a fresh cat-mel_2bar_small)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="raymvae-genbench-"))
    try:
        run_dir = args.model or str(work / "run")
        if args.model is None:
            save_export(run_dir, build("cat-mel_2bar_small").eval(), 0)
        model, _ = load_export(run_dir)
        rows = sample_rows(model, args.num, 0, 0.5)
        (work / "base").mkdir()
        base = baseline(model, rows, work / "base")
        print(f"single-process loop (decode + pretty_midi): {base:8.1f} files/s")
        init_ray()
        run(run_dir, str(work / "warm"), rows[:256])  # actors up, kernels compiled
        t = time.perf_counter()
        res = run(run_dir, str(work / "ray"), rows)
        rate = res["written"] / (time.perf_counter() - t)
        print(f"raymvae generate (Ray Data)               : {rate:8.1f} files/s ({res['written']} files)")
        print(f"ratio: {rate / base:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
