"""Evaluate a model over batches: teacher-forced and sampled (free-running) accuracy, losses, ELBO."""
from __future__ import annotations

from typing import Any, Iterable

import torch

from raymvae.model import metrics, schedules
from raymvae.model.vae import MusicVAE


@torch.no_grad()
def evaluate(model: MusicVAE, batches: Iterable[torch.Tensor], step: int = 0,
             generator: torch.Generator | None = None, reduce=None) -> dict[str, Any]:
    """Metrics over all batches: both accuracies whatever the config, with z sampled as in Magenta's eval.

    ``reduce`` (e.g. an all-reduce across workers) is applied to the summed
    count tensors before the scalars are computed.
    """
    hp = model.config.hparams
    beta = schedules.beta(step, float(hp["max_beta"]), float(hp["beta_rate"]))
    was_training = model.training
    model.eval()
    forced = sampled = None
    for windows in batches:
        out = model(windows, beta=beta, free_bits=float(hp["free_bits"]), sampling_probability=0.0,
                    generator=generator)
        forced = metrics.add(forced, metrics.counts(model, out))
        out = model(windows, beta=beta, free_bits=float(hp["free_bits"]), sampling_probability=1.0,
                    generator=generator)
        sampled = metrics.add(sampled, metrics.counts(model, out))
    model.train(was_training)
    if forced is None:
        raise ValueError("no evaluation batches")
    if reduce is not None:
        forced, sampled = reduce(forced), reduce(sampled)
    result = metrics.summarize(model, forced)
    result.update(metrics.summarize(model, sampled, prefix="sampled_"))
    result["per_class_accuracy"] = metrics.per_class_accuracy(model, forced)
    result["examples"] = int(forced["sequences"])
    return result
