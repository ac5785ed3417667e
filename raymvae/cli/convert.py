"""`raymvae convert`: convert MIDI files with a config's converter and count what it finds (no Ray)."""
from __future__ import annotations

from collections import Counter
import argparse


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert MIDI files (local or on object storage) with a config's converter and report what was found."""
    from tqdm import tqdm

    from raymvae import storage
    from raymvae.data.inputs import resolve_inputs
    from raymvae.music import MidiError, converter_for

    conv = converter_for(args.config)
    paths = [s.uri for s in resolve_inputs(args.inputs) if s.kind == "midi"]
    status: Counter = Counter()
    total, dropped = 0, 0
    for path in tqdm(paths, desc=f"convert ({args.config})", unit="file", disable=len(paths) < 20):
        report: dict[str, int] = {}
        try:
            n = len(conv.midi_windows(storage.read_bytes(path), report))
        except MidiError as exc:
            status[f"unreadable: {exc}"] += 1
            if args.verbose:
                print(f"{path}: unreadable ({exc})")
            continue
        status["ok" if n else "no-windows"] += 1
        total += n
        dropped += report.get("notes_dropped", 0)
        if args.verbose:
            left = f", {report['notes_dropped']} notes left out" if report.get("notes_dropped") else ""
            print(f"{path}: {n} windows{left}")
    print(f"{len(paths)} files -> {total} {conv.window_steps}-step windows ({args.config})")
    if dropped:
        print(f"  {dropped} notes left out: {conv.describe_dropped()}")
    for k, v in status.most_common():
        print(f"  {v:6d} {k}")
    return 0


def add(sub) -> None:
    """The subcommand's parser."""
    p = sub.add_parser("convert", help="convert MIDI files to windows and report counts",
                       description=cmd_convert.__doc__)
    p.add_argument("--config", required=True, help="Magenta config name, e.g. cat-mel_2bar_small")
    p.add_argument("inputs", nargs="+", help="MIDI files, folders (recursive) or globs")
    p.add_argument("-v", "--verbose", action="store_true", help="print one line per file")
    p.set_defaults(func=cmd_convert)
