"""Eval-only runs (``raymvae train --mode eval``): a run dir's model on a shard set's held-out windows. No Ray."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from raymvae import storage
from raymvae.config import Config, load_config
from raymvae.errors import UserError

log = logging.getLogger(__name__)


def evaluate_run(config: str | Config | None, shards: str, run_dir: str, *, hparams: str | dict | None = None,
                 batch_size: int | None = None, seed: int = 0, device: str = "cpu", eval_samples: int = 512,
                 sample_temperature: float = 0.5) -> dict[str, Any]:
    """``--mode eval``: the run dir's newest checkpoint (or its export) on a shard set's held-out windows
    (its eval split, or all of it when it was prepared for evaluation only), and ``eval_samples`` prior
    samples against them (with the shard set's training windows as the ceiling when it has both)."""
    from raymvae.data import check_compatible, read_manifest, read_windows
    from raymvae.data.shards import eval_split, sample_windows
    from raymvae.export import load_export
    from raymvae.model import build
    from raymvae.model.evaluate import REFERENCE_WINDOWS, evaluate, sample_quality
    from raymvae.train import checkpoints

    run_dir = storage.normalize(run_dir)
    state = checkpoints.load_latest(run_dir)
    if state is not None:
        cfg = Config.from_dict(state["config"])
        model = build(cfg)
        model.load_state_dict(state["model"])
        step = int(state["step"])
    else:
        model, info = load_export(run_dir)
        cfg, step = model.config, int(info["step"])
    if config is not None and load_config(config).name != cfg.name:
        raise UserError(f"{run_dir} holds a {cfg.name} model, not {load_config(config).name}")
    if hparams:
        cfg = load_config(cfg, hparams)
        model.config = cfg
    manifest = read_manifest(shards)
    check_compatible(manifest, cfg)
    split = eval_split(shards, manifest)
    windows, _ = read_windows(shards, split, cfg)
    log.info("evaluating step %d on %d windows of %s (%s split)", step, len(windows), shards, split)
    model.to(device).eval()
    bs = batch_size or int(cfg.hparams["batch_size"])
    batches = (model.as_tensor(windows[i:i + bs]) for i in range(0, len(windows), bs))
    metrics = {"step": step, **evaluate(model, batches, step, torch.Generator(device=device).manual_seed(seed))}
    if eval_samples:
        rng = np.random.default_rng(seed)
        reference = windows[rng.permutation(len(windows))[:REFERENCE_WINDOWS]]
        ceiling = sample_windows(shards, "train", REFERENCE_WINDOWS, seed + 1) if split == "eval" else None
        metrics.update(sample_quality(model, reference, ceiling, num=eval_samples, temperature=sample_temperature,
                                      seed=seed))
    metrics["eval_set"] = {"shards": storage.normalize(shards), "split": split, "windows": int(len(windows))}
    storage.write_json(storage.join(run_dir, "eval", f"step_{step:09d}.json"), metrics)
    storage.write_json(storage.join(run_dir, "eval_latest.json"), metrics)
    return metrics


def eval_summary(m: dict[str, Any]) -> str:
    """One line: losses, both accuracies and the no-event baseline; prior samples' OA and empty rate."""
    line = (f"r_loss {m['losses/r_loss']:.2f}  kl_bits {m['losses/kl_bits']:.1f}  elbo {m['losses/elbo']:.2f}  "
            f"accuracy {m['metrics/accuracy']:.4f} (sampled {m['metrics/sampled_accuracy']:.4f}; "
            f"always-no-event baseline {m['metrics/no_event_baseline_accuracy']:.4f})")
    if "samples/oa_mean" in m:
        ceiling = f" (training windows: {m['ceiling/oa_mean']:.3f})" if "ceiling/oa_mean" in m else ""
        line += (f"  prior samples: OA {m['samples/oa_mean']:.3f}{ceiling}, "
                 f"empty {m['samples/empty_rate']:.1%}")
    return line
