"""Planning generation jobs: the z of every output file (samples, interpolations, attribute edits)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from raymvae.generate.batch import relative_path
from raymvae.model import MusicVAE, grid, lerp, slerp
from raymvae.music import MidiError, converter_for


class NoWindowError(ValueError):
    """An input file has no window the model can encode."""


def _row(kind: str, i: int, seed: int, temperature: float | None, source: str, t: float, z) -> dict[str, Any]:
    """One planned output file (``temperature`` None or 0 = argmax)."""
    return {"id": i, "kind": kind, "path": relative_path(kind, i), "seed": seed,
            "temperature": float(temperature or 0.0), "source": source, "t": float(t),
            "z": np.asarray(z, np.float32).tolist()}


def sample_rows(model: MusicVAE, num: int, seed: int, temperature: float) -> list[dict[str, Any]]:
    """``num`` prior draws; z of file i comes from (seed, i), so files are reproducible one by one."""
    return [_row("sample", i, seed, temperature, "", 0.0,
                 np.random.default_rng([seed, i]).standard_normal(model.z_size)) for i in range(num)]


def encode_file(model: MusicVAE, path: str | Path, window: int = 0) -> np.ndarray:
    """mu of window ``window`` of a MIDI file; NoWindowError says why when there is none."""
    conv = converter_for(model.config)
    try:
        windows = conv.encode_midi(Path(path).read_bytes())
    except (OSError, MidiError) as exc:
        raise NoWindowError(f"{path}: cannot read MIDI ({exc})") from exc
    if len(windows) == 0:
        raise NoWindowError(f"{path}: {conv.describe_empty()}")
    if not 0 <= window < len(windows):
        raise NoWindowError(f"{path}: has {len(windows)} windows; --window {window} is out of range")
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(windows[window:window + 1].astype(np.int64)))
    return mu[0].numpy()


def interpolation_rows(model: MusicVAE, pairs: list[tuple[str, str]], steps: int, method: str, seed: int,
                       temperature: float | None, window: int = 0) -> list[dict[str, Any]]:
    """``steps`` files per pair from mu(a) to mu(b), endpoints included."""
    if steps < 2:
        raise ValueError("--steps must be at least 2 (the endpoints)")
    if method not in ("slerp", "linear"):
        raise ValueError(f"--method must be slerp or linear, got {method!r}")
    rows = []
    t = np.linspace(0.0, 1.0, steps)
    for p, (a, b) in enumerate(pairs):
        za, zb = torch.from_numpy(encode_file(model, a, window)), torch.from_numpy(encode_file(model, b, window))
        zs = (slerp if method == "slerp" else lerp)(za, zb, t).numpy()
        for k in range(steps):
            rows.append(_row("interpolate", p * steps + k, seed, temperature, f"{a}|{b}", t[k], zs[k]))
    return rows


def grid_rows(model: MusicVAE, corners: list[str], steps: int, seed: int, temperature: float | None,
              window: int = 0) -> list[dict[str, Any]]:
    """A steps x steps bilinear grid over 4 corner files (magenta-js style)."""
    if len(corners) != 4:
        raise ValueError("a grid needs exactly 4 corner files")
    c = torch.from_numpy(np.stack([encode_file(model, f, window) for f in corners]))
    zs = grid(c, steps).reshape(steps * steps, -1).numpy()
    return [_row("grid", i, seed, temperature, "|".join(corners), i, z) for i, z in enumerate(zs)]


def attribute_rows(model: MusicVAE, inputs: list[str], vector: np.ndarray, name: str, amount: float, seed: int,
                   temperature: float | None, window: int = 0) -> list[dict[str, Any]]:
    """One edited file per input: decode(mu + amount * vector)."""
    return [_row("attribute", i, seed, temperature, f"{f}|{name}{amount:+g}", amount,
                 encode_file(model, f, window) + amount * vector) for i, f in enumerate(inputs)]
