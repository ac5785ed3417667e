"""`raymvae corpus`: export the embedded corpus (music21) to MIDI."""
from __future__ import annotations

import argparse


def cmd_corpus_export(args: argparse.Namespace) -> int:
    """Export real pieces of the music21 corpus to MIDI files, in parallel on Ray."""
    from raymvae.corpus import export_pieces

    report = export_pieces(args.name, args.output, limit=args.limit)
    print(f"wrote {len(report.written)} MIDI files under {args.output}")
    for reason, n in sorted(report.skipped.items()):
        print(f"  skipped {n:5d}: {reason}")
    return 0


def add(sub) -> None:
    """The subcommand's parser."""
    corpus = sub.add_parser("corpus", help="the embedded default corpus (music21)")
    csub = corpus.add_subparsers(dest="corpus_command", required=True)
    p = csub.add_parser("export", help="export corpus pieces to MIDI", description=cmd_corpus_export.__doc__)
    p.add_argument("--name", default="folk", help="collection: folk (default) or chorales")
    p.add_argument("--output", required=True, help="folder to write MIDI files into")
    p.add_argument("--limit", type=int, default=None, help="stop after this many pieces (default: all)")
    p.set_defaults(func=cmd_corpus_export)
