"""Latent-space helpers: spherical and linear interpolation."""
from __future__ import annotations

import numpy as np
import torch


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | np.ndarray | list[float]) -> torch.Tensor:
    """Magenta's spherical interpolation between vectors a and b at each t: [len(t), D].

    omega = arccos(<a/|a|, b/|b|>); z(t) = (sin((1-t) omega) a + sin(t omega) b) / sin(omega).
    Falls back to linear interpolation when a and b are (anti)parallel.
    """
    t = torch.as_tensor(np.asarray(t, dtype=np.float64)).to(a.device, torch.float64)[:, None]
    a64, b64 = a.double(), b.double()
    cos = torch.clamp(torch.dot(a64 / a64.norm(), b64 / b64.norm()), -1.0, 1.0)
    omega = torch.arccos(cos)
    if torch.sin(omega).abs() < 1e-8:
        return lerp(a, b, t[:, 0])
    out = (torch.sin((1.0 - t) * omega) * a64 + torch.sin(t * omega) * b64) / torch.sin(omega)
    return out.to(a.dtype)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | np.ndarray | list[float]) -> torch.Tensor:
    """Linear interpolation (magenta-js): [len(t), D]."""
    t = torch.as_tensor(np.asarray(t, dtype=np.float64)).to(a.device, torch.float64)[:, None]
    return ((1.0 - t) * a.double() + t * b.double()).to(a.dtype)


def grid(corners: torch.Tensor, steps: int) -> torch.Tensor:
    """Bilinear grid over 4 corner vectors [4, D] (top-left, top-right, bottom-left, bottom-right): [steps, steps, D]."""
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64, device=corners.device)
    c = corners.double()
    top = (1 - t)[:, None] * c[0] + t[:, None] * c[1]
    bottom = (1 - t)[:, None] * c[2] + t[:, None] * c[3]
    return ((1 - t)[:, None, None] * top[None] + t[:, None, None] * bottom[None]).to(corners.dtype)
