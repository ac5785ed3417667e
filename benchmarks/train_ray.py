"""Examples/s of Ray Train (1 and 2 workers) vs the in-process training loop, same shards, same run.

    python benchmarks/train_ray.py SHARDS [--config cat-mel_2bar_small] [--steps 300] [--hparams ...]

The baseline is the model benchmark's loop: ``train_step`` on batches of the
same windows in this process, no Ray. The Ray runs are ``raymvae train``'s
``fit`` (TorchTrainer, DDP for 2 workers, per-epoch window drawing from Ray
Data shards); their rate is measured inside the worker from its first step,
so cluster and worker start-up are excluded (and printed separately).
Target: 1-worker overhead <= 10%.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time

import numpy as np
import torch

from raymvae.config import load_config
from raymvae.data import read_windows
from raymvae.model import build
from raymvae.model.training import make_optimizer, train_step
from raymvae.runtime import init_ray
from raymvae.train.trainer import fit, run_summary


def plain_loop(config, shards: str, steps: int) -> float:
    cfg = load_config(config)
    windows, _ = read_windows(shards, "train", cfg)
    model = build(cfg)
    opt = make_optimizer(model, cfg.hparams)
    bs = int(cfg.hparams["batch_size"])
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.from_numpy(windows[rng.choice(len(windows), bs)].astype(np.int64)) for _ in range(8)]
    train_step(model, opt, batches[0], 0, cfg.hparams, gen)
    t = time.perf_counter()
    for i in range(steps):
        train_step(model, opt, batches[i % 8], i, cfg.hparams, gen)
    return steps * bs / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shards", help="shards folder from `raymvae prepare`")
    ap.add_argument("--config", default="cat-mel_2bar_small")
    ap.add_argument("--hparams", default="batch_size=64", help="overrides (default batch_size=64)")
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.config, args.hparams)
    print(f"config {cfg.name} ({args.hparams}), {args.steps} steps, torch threads {torch.get_num_threads()}")
    base = plain_loop(cfg, args.shards, args.steps)
    print(f"in-process loop      : {base:8.1f} ex/s")
    init_ray()
    for workers in (1, 2):
        run = tempfile.mkdtemp(prefix="raymvae-bench-run-")
        try:
            t = time.perf_counter()
            fit(cfg, args.shards, run, num_steps=args.steps, num_workers=workers, checkpoint_every=0,
                log_every=args.steps, wandb="disabled", eval_batches=1)
            wall = time.perf_counter() - t
            rate = run_summary(run)["train"]["examples_per_s"]
            print(f"Ray Train {workers} worker(s): {rate:8.1f} ex/s  ratio {rate / base:5.2f}  "
                  f"(overhead {100 * (1 - rate / base):5.1f}%; wall {wall:.0f} s incl. start-up)")
        finally:
            shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
