"""Latent constraints on a synthetic latent space where the answer is known (no Ray, no MusicVAE)."""
from __future__ import annotations

import numpy as np
import torch

from raymvae.generate.constraints import (ConstraintSettings, apply_actor, distance_penalty, load_actor,
                                          save_constraints, train_constraints)


def synthetic(n: int = 4000, z: int = 8, seed: int = 0):
    """Posteriors with std 0.5 around the origin (the prior has std 1); the attribute is z[0]:
    level 1 (top quartile) and level 0 (bottom quartile)."""
    rng = np.random.default_rng(seed)
    mu = (0.5 * rng.standard_normal((n, z))).astype(np.float32)
    lo, hi = np.quantile(mu[:, 0], [0.25, 0.75])
    keep = (mu[:, 0] <= lo) | (mu[:, 0] >= hi)
    return mu[keep], np.full_like(mu[keep], 0.05), (mu[keep, 0] >= hi).astype(np.int64), lo, hi


def test_distance_penalty_formula():
    z, z2 = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])
    assert torch.isclose(distance_penalty(z2, z), torch.log(torch.tensor(2.0)))
    assert distance_penalty(z, z) == 0


def test_actor_moves_prior_draws_to_the_requested_level_and_toward_the_data(tmp_path):
    mu, sigma, levels, lo, hi = synthetic()
    actor, critic, info = train_constraints(mu, sigma, levels, ConstraintSettings(hidden=[128, 128], steps=2000,
                                                                                  batch_size=128))
    z = np.random.default_rng(1).standard_normal((1000, 8)).astype(np.float32)
    high, low = apply_actor(actor, z, "high"), apply_actor(actor, z, "low")
    assert high[:, 0].mean() > hi and low[:, 0].mean() < lo            # the attribute reaches its quartile
    assert (high[:, 0] > low[:, 0]).mean() > 0.95
    assert np.abs(high[:, 1:]).mean() < np.abs(z[:, 1:]).mean()        # other dims move toward the data (std 0.5)
    with torch.no_grad():  # the critic prefers real latents of the right level to prior draws
        y = torch.from_numpy(levels)
        real = critic(torch.from_numpy(mu), y).mean()
        prior = critic(torch.from_numpy(z[:len(mu)]), y[:len(z)]).mean()
        wrong = critic(torch.from_numpy(mu), 1 - y).mean()
    assert real > prior and real > wrong
    save_constraints(tmp_path, "z0", actor, critic, info)
    again = load_actor(tmp_path, "z0")
    np.testing.assert_allclose(apply_actor(again, z[:5], "high"), high[:5], atol=1e-6)
    assert load_actor(tmp_path, "other") is None
