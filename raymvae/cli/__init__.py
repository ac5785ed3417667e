"""The ``raymvae`` command: one subcommand per job.

Every path argument takes a local path or an ``s3://`` / ``gs://`` URI. A
mistake of the user's (a bad flag value, a missing file, shards that do not
fit the config) prints one line and exits with code 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from raymvae.cli import configs, convert, corpus, export, generate, import_magenta, prepare, serve, train, tune

SUBCOMMANDS = [convert, prepare, import_magenta, export, train, tune, generate, serve, configs, corpus]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="raymvae", description="MusicVAE on Ray: data, training, sampling, serving.")
    ap.add_argument("--log-level", default="INFO",
                    help="logging level (default INFO; DEBUG also shows Ray's own per-epoch and per-report lines)")
    sub = ap.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if str(args.log_level).upper() == "DEBUG":
        os.environ["RAYMVAE_RAY_LOGS"] = "1"  # Ray's own INFO lines too (runtime.init_ray)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:  # UserError is a ValueError
        logging.getLogger("raymvae").debug("%s failed", args.command, exc_info=True)  # --log-level DEBUG: where
        print(f"raymvae {args.command}: error: {exc}", file=sys.stderr)
        return 2
