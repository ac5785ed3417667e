"""`raymvae tune`: hyperparameter sweeps with Ray Tune; flags from TuneSettings."""
from __future__ import annotations

import argparse

from raymvae.cli.flags import settings_flags
from raymvae.tune.settings import TuneSettings


def cmd_tune(args: argparse.Namespace) -> int:
    """Sweep hparams (default: max_beta, free_bits, learning_rate, beta_rate) with Ray Tune; every trial
    runs the training loop of `raymvae train`, evaluates periodically and gets its own W&B run."""
    from raymvae.config import load_config
    from raymvae.runtime import init_ray
    from raymvae.tune.sweep import format_front, format_table, sweep

    config = load_config(args.config, args.hparams, preset=args.preset)
    init_ray(args.address)
    res = sweep(config, args.examples, args.output,
                **{name: getattr(args, name) for name in TuneSettings.model_fields})
    print(f"sweep {res['name']}: {len(res['rows'])} trials, sorted by {res['metric']} ({res['mode']})")
    print(format_table(res["rows"], res["metric"]))
    if res["front"]:
        print(format_front(res["front"]))
    print(f"table: {res['output']}/results.csv (.parquet)")
    if res["best"] is not None:
        print(f"best trial {res['best']['trial_id']} exported to {res['output']}/best (use with generate / serve)")
    print(f"W&B: runs grouped as {res['name']}; offline runs under {res['output']}/trials/*/wandb "
          f"(wandb sync to upload)")
    return 0


def add(sub) -> None:
    """The subcommand's parser."""
    p = sub.add_parser("tune", help="hyperparameter sweep with Ray Tune (W&B run per trial)",
                       description=cmd_tune.__doc__)
    p.add_argument("--config", required=True, help="Magenta config name")
    p.add_argument("--examples", "--examples_path", dest="examples", required=True, help="shards folder")
    p.add_argument("--output", required=True, help="sweep folder: trials, results.csv/.parquet, best/")
    p.add_argument("--hparams", default=None, help="fixed overrides applied before the swept values")
    p.add_argument("--preset", default=None, help="a named hparams overlay applied before --hparams")
    settings_flags(p, TuneSettings)
    p.add_argument("--address", default=None, help="Ray cluster address")
    p.set_defaults(func=cmd_tune)
