"""MusicVAE's loss: reconstruction summed over time, KL summed over z, free bits on each sequence's KL."""
from __future__ import annotations

import math

import torch


def kl_divergence(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) in nats, per sequence: [B]."""
    mu, sigma = mu.float(), sigma.float()
    return (-torch.log(sigma) + 0.5 * (sigma ** 2 + mu ** 2) - 0.5).sum(-1)


def free_nats(free_bits: float) -> float:
    return float(free_bits) * math.log(2.0)


def kl_cost(kl: torch.Tensor, free_bits: float) -> torch.Tensor:
    """max(KL - free_bits * ln 2, 0) per sequence: free bits count against the total KL, in bits."""
    return torch.clamp(kl - free_nats(free_bits), min=0.0)


def total_loss(r_loss: torch.Tensor, kl: torch.Tensor, beta: float, free_bits: float) -> torch.Tensor:
    """mean_b r_b + beta * mean_b max(KL_b - F ln 2, 0)."""
    return r_loss.mean() + beta * kl_cost(kl, free_bits).mean()
