"""Seeded decoding, the one path of ``generate`` and ``serve``: row ``id`` of a job with ``seed`` samples
with the noise of (seed, id) alone, so a file does not depend on the batch, the replica or the process
that decoded it, and the same seed gives the same files from both. A file made of several windows
(GrooVAE's humanize, tap2drum, groove transfer) draws window j's noise from (seed, id, j). No Ray."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from raymvae.model.vae import MusicVAE

RowId = int | tuple[int, int]  # a file, or (file, window) for files of several windows


def _key(seed: int, row: RowId) -> list[int]:
    if isinstance(row, (tuple, list)):
        i, j = (int(v) for v in row)
        return [seed, i, 7] if j == 0 else [seed, i, 7, j]
    return [seed, int(row), 7]


def window_ids(rows: Sequence[int], windows: int | Sequence[int]) -> list[RowId]:
    """The noise ids of files made of several windows (``windows`` per row, or one count for all): window j of
    row i is (i, j), in generate and serve alike."""
    counts = [windows] * len(rows) if isinstance(windows, int) else list(windows)
    return [(int(i), j) for i, k in zip(rows, counts) for j in range(k)]


def sampling_noise(model: MusicVAE, seed: int, ids: Sequence[RowId]) -> np.ndarray:
    """Uniforms [len(ids), T, P] in [0, 1) that drive the sampling of rows ``ids`` of a job with ``seed``."""
    return np.stack([np.random.default_rng(_key(seed, i)).random((model.seq_len, model.sample_width))
                     for i in ids]).astype(np.float32)


@torch.no_grad()
def decode_seeded(model: MusicVAE, z: np.ndarray, temperature: float | None,
                  rows: Sequence[tuple[int, Sequence[RowId]]], controls: np.ndarray | None = None) -> np.ndarray:
    """Windows decoded from ``z`` [N, Z] at ``temperature`` (0 or None: argmax); ``rows`` lists
    (seed, ids) of the z rows in order, e.g. ``[(seed, range(len(z)))]``; ``controls`` [N, T, C] (or control
    classes [N, T]) where the model reads controls (the hits to play, groovae_2bar_hits_control; the chords,
    cat-mel_2bar_med_chords)."""
    device = model.mu.weight.device
    noise = np.concatenate([sampling_noise(model, seed, ids) for seed, ids in rows])
    if len(noise) != len(z):
        raise ValueError(f"{len(noise)} noise rows for {len(z)} latent rows")
    c = None
    if controls is not None:
        c = np.asarray(controls)
        c = torch.as_tensor(c if c.ndim == 2 else c.astype(np.float32), device=device)
    return model.decode(torch.as_tensor(np.asarray(z, np.float32), device=device), temperature=temperature or None,
                        uniforms=torch.from_numpy(noise).to(device), controls=c).cpu().numpy()
