"""Files/s of ``raymvae prepare`` (Ray Data) vs the single-process converter loop.

    python benchmarks/prepare.py MIDI_DIR [--copies K] [--config NAME]

The files of MIDI_DIR are copied K times under new names (so there is enough
work to spread); both paths read and convert the same files in the same run.
The baseline reads each file and calls ``encode_midi`` in one process; the
Ray path is the whole ``prepare`` (read, convert, split, write shards,
files table, manifest), Ray started beforehand. Prints the extrapolated
wall time for the Lakh MIDI dataset (176,581 files) on one 16-core node,
scaling the measured per-CPU rate linearly.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
LAKH_FILES = 176_581


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("midi_dir", help="folder of real .mid files (e.g. multi-track pop MIDI)")
    ap.add_argument("--copies", type=int, default=10, help="copies of each file (default 10)")
    ap.add_argument("--config", default="cat-mel_2bar_small", help="config (default cat-mel_2bar_small)")
    args = ap.parse_args()

    import ray

    from raymvae.data import prepare
    from raymvae.music import converter_for
    from raymvae.runtime import init_ray

    logging.basicConfig(level=logging.WARNING)
    sources = sorted(p for p in Path(args.midi_dir).rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    work = Path(tempfile.mkdtemp(prefix="raymvae-bench-"))
    try:
        for k in range(args.copies):
            for i, p in enumerate(sources):
                shutil.copyfile(p, work / f"{k:03d}_{i:05d}.mid")
        files = sorted(work.glob("*.mid"))
        conv = converter_for(args.config)
        conv.encode_midi(files[0].read_bytes())  # compile kernels outside the timing
        t = time.perf_counter()
        windows = sum(len(conv.encode_midi(p.read_bytes())) for p in files)
        loop_s = time.perf_counter() - t

        init_ray()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        prepare(args.config, [str(work)], str(work / "warmup"), overwrite=True)  # workers up, kernels compiled
        t = time.perf_counter()
        result = prepare(args.config, [str(work)], str(work.parent / (work.name + "-shards")))
        ray_s = time.perf_counter() - t
        shutil.rmtree(result.output)
        got = result.manifest["windows"]["train"] + result.manifest["windows"]["eval"]
        assert got == windows, (got, windows)

        loop_rate, ray_rate = len(files) / loop_s, len(files) / ray_s
        lakh_h = LAKH_FILES / (ray_rate / cpus * 16) / 3600
        print(f"config {args.config}; {len(files)} files ({len(sources)} x {args.copies}), {windows} windows; "
              f"{cpus} CPUs, {os.cpu_count()} cores")
        print(f"single-process loop : {loop_rate:8.1f} files/s ({loop_s:.1f} s)")
        print(f"raymvae prepare     : {ray_rate:8.1f} files/s ({ray_s:.1f} s, incl. shards + manifest)")
        print(f"ratio prepare/loop  : {ray_rate / loop_rate:8.2f}x")
        print(f"Lakh MIDI ({LAKH_FILES} files) on one 16-core node, extrapolated: {lakh_h * 60:.1f} min")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
