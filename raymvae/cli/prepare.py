"""`raymvae prepare`: a MIDI collection -> train/eval Parquet shards on Ray Data."""
from __future__ import annotations

import argparse

from raymvae.cli.flags import settings_flags
from raymvae.data.settings import PrepareSettings


def cmd_prepare(args: argparse.Namespace) -> int:
    """Convert a MIDI collection (folders, globs, files, s3:// or gs:// URIs, NoteSequence
    TFRecords) into train/eval Parquet shards with a manifest, in parallel on Ray."""
    from raymvae.data import prepare
    from raymvae.runtime import init_ray

    init_ray(args.address)
    result = prepare(args.config, args.input, args.output,
                     **{name: getattr(args, name) for name in PrepareSettings.model_fields})
    m = result.manifest
    files = m["files"]
    print(f"{files['total']} files -> {m['windows']['train']} train + {m['windows']['eval']} eval windows "
          f"({m['config_name']}, {m['seconds']:.1f} s) in {result.output}")
    for status in ("ok", "no-windows", "unreadable"):
        print(f"  {files['by_status'].get(status, 0):7d} {status}")
    for reason, n in list(files["by_reason"].items())[:5]:
        print(f"      {n:7d} {reason}")
    if m["notes_dropped"]["total"]:
        print(f"  {m['notes_dropped']['total']} notes left out in {m['notes_dropped']['files']} files: "
              f"{m['notes_dropped']['why']}")
    print(f"  per-file table: {result.output}/files.parquet; summary: {result.output}/manifest.json")
    return 0


def add(sub) -> None:
    """The subcommand's parser."""
    p = sub.add_parser("prepare", help="MIDI collection -> train/eval Parquet shards (Ray Data)",
                       description=cmd_prepare.__doc__)
    p.add_argument("--config", required=True, help="Magenta config name, e.g. cat-mel_2bar_small")
    p.add_argument("--input", nargs="+", required=True,
                   help="MIDI files, folders (recursive), globs, s3:// or gs:// URIs, NoteSequence .tfrecord files")
    p.add_argument("--output", required=True, help="output folder (local or s3:// / gs://)")
    settings_flags(p, PrepareSettings)
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    p.set_defaults(func=cmd_prepare)
