"""Seeded decoding, the one path of ``generate`` and ``serve``: row ``id`` of a job with ``seed`` samples
with the noise of (seed, id) alone, so a file does not depend on the batch, the replica or the process
that decoded it, and the same seed gives the same files from both. No Ray."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from raymvae.model.vae import MusicVAE


def sampling_noise(model: MusicVAE, seed: int, ids: Sequence[int]) -> np.ndarray:
    """Uniforms [len(ids), T, P] in [0, 1) that drive the sampling of rows ``ids`` of a job with ``seed``."""
    return np.stack([np.random.default_rng([seed, int(i), 7]).random((model.seq_len, model.sample_width))
                     for i in ids]).astype(np.float32)


@torch.no_grad()
def decode_seeded(model: MusicVAE, z: np.ndarray, temperature: float | None,
                  rows: Sequence[tuple[int, Sequence[int]]]) -> np.ndarray:
    """Windows decoded from ``z`` [N, Z] at ``temperature`` (0 or None: argmax); ``rows`` lists
    (seed, ids) of the z rows in order, e.g. ``[(seed, range(len(z)))]``."""
    device = model.mu.weight.device
    noise = np.concatenate([sampling_noise(model, seed, ids) for seed, ids in rows])
    if len(noise) != len(z):
        raise ValueError(f"{len(noise)} noise rows for {len(z)} latent rows")
    return model.decode(torch.as_tensor(np.asarray(z, np.float32), device=device), temperature=temperature or None,
                        uniforms=torch.from_numpy(noise).to(device)).cpu().numpy()
