"""Search spaces as YAML (``configs/tune/*.yaml``) -> Ray Tune sampling domains."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_KINDS = ("loguniform", "uniform", "choice", "randint", "grid")


def default_space_path() -> Path:
    from raymvae.config import preset_path

    path = preset_path("tune/default.yaml")
    if path is None:
        raise FileNotFoundError("no tune/default.yaml among the presets")
    return path


def load_space(path: str | Path | None, hparams: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Read a search-space YAML (local or object storage) and check every name is an hparam of the model config."""
    from raymvae import storage

    path = path or default_space_path()
    space = yaml.safe_load(storage.read_bytes(path)) or {}
    for name, spec in space.items():
        if name not in hparams:
            raise ValueError(f"{path}: {name!r} is not an hparam of this config")
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in _KINDS:
            raise ValueError(f"{path}: {name!r} must be one of {{{', '.join(_KINDS)}: ...}}, got {spec!r}")
    return space


def to_tune(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Ray Tune domains for a loaded space."""
    from ray import tune

    out = {}
    for name, spec in space.items():
        kind, arg = next(iter(spec.items()))
        out[name] = {"loguniform": lambda a: tune.loguniform(*a), "uniform": lambda a: tune.uniform(*a),
                     "choice": tune.choice, "randint": lambda a: tune.randint(*a),
                     "grid": tune.grid_search}[kind](arg)
    return out
