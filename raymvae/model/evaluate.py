"""Evaluate a model: teacher-forced and sampled (free-running) accuracy, losses, ELBO over batches; and how
musical its prior samples are next to real windows."""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from raymvae.model import metrics, schedules
from raymvae.model.vae import MusicVAE
from raymvae.music import converter_for, quality

REFERENCE_WINDOWS = 4096  # real windows (a random sample of a split) that sample statistics compare with


@torch.no_grad()
def evaluate(model: MusicVAE, batches: Iterable[torch.Tensor], step: int = 0,
             generator: torch.Generator | None = None) -> dict[str, Any]:
    """Metrics over all batches: both accuracies whatever the config, with z sampled as in Magenta's eval."""
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
    result = metrics.summarize(model, forced)
    result.update(metrics.summarize(model, sampled, prefix="sampled_"))
    result["per_class_accuracy"] = metrics.per_class_accuracy(model, forced)
    result["examples"] = int(forced["sequences"])
    return result


@torch.no_grad()
def sample_quality(model: MusicVAE, reference: np.ndarray, ceiling: np.ndarray | None = None, num: int = 512,
                   temperature: float = 0.5, seed: int = 0, batch_size: int = 256) -> dict[str, float]:
    """How musical the model's prior samples are: ``samples/oa/<feature>``, ``samples/oa_mean`` and
    ``samples/empty_rate`` of ``num`` samples (z and sampling seeded by ``seed``) against the
    ``reference`` windows (the eval set); with ``ceiling`` (training windows) the same figures for
    them as ``ceiling/...``, what real data reaches (raymvae.music.quality says how). A model with
    controls samples under the controls of ``num`` reference windows drawn at random (seeded)."""
    conv = converter_for(model.config)
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    controls = None
    if model.control_depth:
        pick = np.random.default_rng(seed).integers(0, len(reference), num)
        controls = model.controls(model.as_tensor(reference[pick]))
    was_training = model.training
    model.eval()
    samples = np.concatenate([
        model.sample(min(batch_size, num - i), temperature=temperature or None, generator=generator,
                     controls=None if controls is None else controls[i:i + batch_size]).cpu().numpy()
        for i in range(0, num, batch_size)])
    model.train(was_training)
    out = {f"samples/{k}": v for k, v in quality.compare(conv, samples, reference).items()}
    if ceiling is not None and len(ceiling):
        out.update({f"ceiling/{k}": v for k, v in quality.compare(conv, ceiling, reference).items()})
    return out


class Reservoir:
    """A uniform random sample of at most ``size`` rows of everything pushed (seeded): the windows that
    sample statistics compare against, without holding a whole split."""

    def __init__(self, size: int, seed: int = 0):
        self.size, self.seen = size, 0
        self.rng = np.random.default_rng(seed)
        self.rows: np.ndarray | None = None

    def push(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        if not len(rows):
            return
        if self.rows is None:
            self.rows = np.empty((self.size,) + rows.shape[1:], rows.dtype)
        fill = min(len(rows), max(0, self.size - self.seen))
        self.rows[self.seen:self.seen + fill] = rows[:fill]
        rest = rows[fill:]
        if len(rest):  # algorithm R: row number k replaces a random kept row with probability size / (k + 1)
            slot = self.rng.integers(0, np.arange(self.seen + fill, self.seen + len(rows)) + 1)
            keep = slot < self.size
            self.rows[slot[keep]] = rest[keep]
        self.seen += len(rows)

    def sample(self) -> np.ndarray | None:
        return None if self.rows is None else self.rows[:min(self.seen, self.size)]
