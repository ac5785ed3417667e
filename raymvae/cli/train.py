"""`raymvae train`: train with Ray Train, or evaluate a run dir; flags from TrainSettings."""
from __future__ import annotations

import argparse

from raymvae.cli.flags import settings_flags
from raymvae.errors import UserError
from raymvae.train.settings import ScalingSettings, TrainSettings


def cmd_train(args: argparse.Namespace) -> int:
    """Train a MusicVAE config on prepared shards with Ray Train (DDP across workers), or evaluate a
    run dir (--mode eval). Running the same command again resumes from the newest checkpoint."""
    from raymvae.runtime import init_ray
    from raymvae.train.evaluation import eval_summary

    if args.mode == "eval":
        from raymvae.train.evaluation import evaluate_run

        if args.eval_examples:
            raise UserError("--mode eval evaluates on --examples; --eval-examples is for training runs")
        m = evaluate_run(args.config, args.examples, args.run_dir, hparams=args.hparams, seed=args.seed,
                         eval_samples=args.eval_samples, sample_temperature=args.sample_temperature)
        print(f"eval at step {m['step']} on {m['eval_set']['windows']} windows ({m['eval_set']['split']} split of "
              f"{args.examples}): {eval_summary(m)}")
        print(f"  written to {args.run_dir}/eval_latest.json")
        return 0
    from raymvae.config import load_config
    from raymvae.train.trainer import fit

    config = load_config(args.config, args.hparams, preset=args.preset)
    init_ray(args.address)
    names = [*ScalingSettings.model_fields, *TrainSettings.model_fields]
    metrics = fit(config, args.examples, args.run_dir, eval_shards=args.eval_examples,
                  **{name: getattr(args, name) for name in names})
    precision = f" ({metrics['precision']})" if "precision" in metrics else ""
    print(f"trained {args.config} to step {metrics.get('step')} in {args.run_dir}{precision}")
    if "metrics/accuracy" in metrics:
        print(f"  eval: {eval_summary(metrics)}")
    else:
        print("  no evaluation: the shards have no eval windows (see --eval-examples)")
    print(f"  model export: {args.run_dir}/export (use with generate / serve)")
    return 0


def add(sub) -> None:
    """The subcommand's parser."""
    p = sub.add_parser("train", help="train (or evaluate) a model on shards with Ray Train",
                       description=cmd_train.__doc__)
    p.add_argument("--config", required=True, help="Magenta config name, e.g. cat-mel_2bar_small")
    p.add_argument("--examples", "--examples_path", dest="examples", required=True,
                   help="shards folder written by `raymvae prepare` (local or s3://)")
    p.add_argument("--run-dir", "--run_dir", dest="run_dir", required=True,
                   help="where checkpoints, eval JSON, W&B runs and the model export go (local or s3://)")
    p.add_argument("--eval-examples", default=None,
                   help="evaluate on another (held-out) shards folder instead of --examples' eval split: its eval "
                        "windows, or all of it when prepared with --eval-fraction 1")
    p.add_argument("--hparams", default=None, help="Magenta-style overrides, e.g. 'batch_size=64,free_bits=48'")
    p.add_argument("--preset", default=None,
                   help="a named hparams overlay applied before --hparams (configs/presets/NAME.yaml), e.g. "
                        "small-corpus")
    p.add_argument("--mode", choices=["train", "eval"], default="train", help="train (default) or eval")
    settings_flags(p, ScalingSettings)
    settings_flags(p, TrainSettings, underscores=True)
    p.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    p.set_defaults(func=cmd_train)
