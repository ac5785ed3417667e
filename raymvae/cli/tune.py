"""`raymvae tune`: hyperparameter sweeps with Ray Tune."""
from __future__ import annotations

import argparse

from raymvae.cli.flags import settings_flags
from raymvae.train.settings import TrainSettings


def cmd_tune(args: argparse.Namespace) -> int:
    """Sweep hparams (default: max_beta, free_bits, learning_rate, beta_rate) with Ray Tune; every trial
    runs the training loop of `raymvae train`, evaluates periodically and gets its own W&B run."""
    from raymvae.config import load_config
    from raymvae.runtime import init_ray
    from raymvae.train.tracking import wandb_mode
    from raymvae.tune.sweep import format_front, format_table, sweep

    config = load_config(args.config, args.hparams, preset=args.preset)
    init_ray(args.address)
    res = sweep(config, args.examples, args.output, search=args.search, num_samples=args.num_samples,
                num_steps=args.num_steps, eval_every=args.eval_every, scheduler=args.scheduler,
                search_alg=args.search_alg, max_concurrent=args.max_concurrent,
                workers_per_trial=args.workers_per_trial, use_gpu=args.use_gpu, metric=args.metric,
                mode=args.mode, eval_batches=args.eval_batches, wandb=wandb_mode(args.wandb), seed=args.seed,
                objective=args.objective, eval_samples=args.eval_samples, sample_temperature=args.sample_temperature)
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
    p.add_argument("--search", default=None, help="search-space YAML (default configs/tune/default.yaml)")
    p.add_argument("--hparams", default=None, help="fixed overrides applied before the swept values")
    p.add_argument("--preset", default=None, help="a named hparams overlay applied before --hparams")
    p.add_argument("--objective", default=None,
                   help="rank trials by a weighted sum of eval metrics instead of --metric, e.g. "
                        "'metrics/accuracy + samples/oa_mean' or '0.5*metrics/accuracy + samples/oa_mean'")
    p.add_argument("--num-samples", type=int, default=8, help="trials (default 8)")
    p.add_argument("--num-steps", type=int, default=2000, help="training steps per trial (default 2000)")
    p.add_argument("--eval-every", type=int, default=None, help="steps between evals/reports (default num_steps/10)")
    p.add_argument("--scheduler", choices=["asha", "none"], default="asha", help="early stopping (default asha)")
    p.add_argument("--search-alg", choices=["random", "optuna"], default="random", help="default random")
    p.add_argument("--max-concurrent", type=int, default=1, help="trials at once (default 1)")
    p.add_argument("--workers-per-trial", type=int, default=0,
                   help="0: trials train in their own process (small machines); N>0: each trial drives a "
                        "TorchTrainer with N workers (clusters)")
    p.add_argument("--use-gpu", action="store_true", help="a GPU per trial (or per Train worker)")
    p.add_argument("--metric", default="losses/elbo",
                   help="eval metric to optimise (default losses/elbo; also metrics/accuracy, samples/oa_mean, ...)")
    p.add_argument("--mode", choices=["min", "max"], default="max", help="default max")
    settings_flags(p, TrainSettings, ["eval_batches", "eval_samples", "sample_temperature", "seed", "wandb"])
    p.add_argument("--address", default=None, help="Ray cluster address")
    p.set_defaults(func=cmd_tune)
