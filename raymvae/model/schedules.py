"""Magenta's per-step schedules: KL weight, learning rate, scheduled-sampling probability."""
from __future__ import annotations

import math


def beta(step: int, max_beta: float, beta_rate: float) -> float:
    """KL weight: max_beta * (1 - beta_rate ** step) (rate 0: max_beta from step 1, 0 at step 0)."""
    return max_beta * (1.0 - beta_rate ** step)


def learning_rate(step: int, lr: float, decay_rate: float, min_lr: float) -> float:
    """(lr - min_lr) * decay_rate ** step + min_lr."""
    return (lr - min_lr) * decay_rate ** step + min_lr


def sampling_probability(step: int, schedule: str, rate: float) -> float:
    """Probability of feeding back a sample instead of the truth (Magenta's three schedules)."""
    if schedule == "constant":
        return float(rate)
    if schedule == "inverse_sigmoid":
        k = float(rate)
        x = step / k
        return 1.0 - k / (k + math.exp(x)) if x < 700 else 1.0
    if schedule == "exponential":
        return 1.0 - float(rate) ** step
    raise ValueError(f"unknown sampling_schedule {schedule!r} (constant, inverse_sigmoid, exponential)")

