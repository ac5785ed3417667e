"""Attribute vectors: mean mu of the top quartile of an attribute minus that of the bottom quartile.

The converter says which attributes its windows have and computes them
(melodies: raymvae.music.stats on the decoded windows; drums: the hit
density of each drum class). No Ray.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from raymvae import storage
from raymvae.model import MusicVAE
from raymvae.music import converter_for


def attribute_names(model: MusicVAE) -> list[str]:
    """The attributes a model's data family supports (a trio's: its melody's)."""
    return converter_for(model.config).attribute_names


def attribute_values(model: MusicVAE, windows: np.ndarray, name: str) -> np.ndarray:
    """The attribute of every window (trios: of the melody part)."""
    return converter_for(model.config).attribute_values(windows, name)


@torch.no_grad()
def encode_posteriors(model: MusicVAE, windows: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of every window, batched."""
    mus, sigmas = [], []
    for i in range(0, len(windows), batch_size):
        mu, sigma = model.encode_windows(windows[i:i + batch_size])
        mus.append(mu.cpu().numpy())
        sigmas.append(sigma.cpu().numpy())
    if not mus:
        return np.zeros((0, model.z_size), np.float32), np.zeros((0, model.z_size), np.float32)
    return np.concatenate(mus), np.concatenate(sigmas)


def quartiles(model: MusicVAE, windows: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Masks of the windows in the bottom and top quartile of attribute ``name``, and the thresholds."""
    values = attribute_values(model, windows, name)
    lo, hi = np.quantile(values, [0.25, 0.75]) if len(values) else (0.0, 0.0)
    top, bottom = values >= hi, values <= lo
    if hi <= lo or not top.any() or not bottom.any():
        raise ValueError(f"attribute {name!r} does not vary over these windows; cannot split them into a "
                         f"bottom and a top quartile")
    return bottom, top, {"attribute": name, "windows": int(len(values)), "top": int(top.sum()),
                         "bottom": int(bottom.sum()), "q25": float(lo), "q75": float(hi)}


def attribute_vector(model: MusicVAE, windows: np.ndarray, name: str) -> tuple[np.ndarray, dict]:
    """The vector and how it was made (counts, quartile thresholds)."""
    bottom, top, info = quartiles(model, windows, name)
    mu, _ = encode_posteriors(model, windows)
    vec = mu[top].mean(0) - mu[bottom].mean(0)
    return vec.astype(np.float32), info


def constraint_examples(model: MusicVAE, windows: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray,
                                                                                  np.ndarray, dict]:
    """Posteriors (mu, sigma) of the bottom- and top-quartile windows, their levels (0 low, 1 high), and info."""
    bottom, top, info = quartiles(model, windows, name)
    keep = bottom | top
    mu, sigma = encode_posteriors(model, windows[keep])
    return mu, sigma, top[keep].astype(np.int64), info


def _vector_path(run_dir: str, name: str) -> str:
    return storage.join(storage.normalize(run_dir), "attributes", f"{name}.json")


def save_vector(run_dir: str, name: str, vec: np.ndarray, info: dict) -> str:
    """``RUN_DIR/attributes/NAME.json`` (vector as a list, and how it was made) for reuse."""
    path = _vector_path(run_dir, name)
    storage.write_json(path, {**info, "vector": vec.tolist()})
    return path


def load_vector(run_dir: str, name: str) -> np.ndarray | None:
    """The saved vector for attribute ``name``, or None when none was computed."""
    try:
        return np.asarray(storage.read_json(_vector_path(run_dir, name))["vector"], np.float32)
    except FileNotFoundError:
        return None


def saved_vectors(run_dir: str) -> list[str]:
    """Names of the attributes with a saved vector."""
    return sorted(p[:-5] for p in storage.list_files(storage.join(storage.normalize(run_dir), "attributes"))
                  if p.endswith(".json") and "/" not in p)


def example_windows(shards: str, model: MusicVAE, max_windows: int, seed: int = 0) -> np.ndarray:
    """Up to ``max_windows`` training windows of ``shards`` (a seeded random subset), to compute attributes on."""
    from raymvae.data import read_windows

    windows, _ = read_windows(shards, "train", model.config)
    if len(windows) > max_windows:
        windows = windows[np.random.default_rng(seed).choice(len(windows), max_windows, replace=False)]
    return windows


def vector_for(model: MusicVAE, run_dir: str, name: str, examples: Callable[[], np.ndarray],
               recompute: bool = False) -> tuple[np.ndarray, str | None]:
    """The attribute vector saved in the run dir, or (none saved, or ``recompute``) one computed from
    ``examples()`` and saved; with the path it was saved to (None when it was loaded)."""
    vec = None if recompute else load_vector(run_dir, name)
    if vec is not None:
        return vec, None
    vec, info = attribute_vector(model, examples(), name)
    return vec, save_vector(run_dir, name, vec, info)
