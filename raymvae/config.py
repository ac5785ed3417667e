"""Model presets: one YAML per Magenta config name, plus Magenta's --hparams syntax.

The YAML files live in the repository's top-level ``configs/`` folder, which
the package ships as ``raymvae.configs`` (so a wheel install has them). A
folder named by RAYMVAE_CONFIG_DIR is searched first, for the user's own
presets. No torch, no Ray.
"""
from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
import os
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Config:
    """A resolved model config: converter settings, model layout, hparams."""

    name: str
    converter: dict[str, Any]
    model: dict[str, Any]
    hparams: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "converter": copy.deepcopy(self.converter),
                "model": copy.deepcopy(self.model), "hparams": copy.deepcopy(self.hparams)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        return cls(d["name"], dict(d["converter"]), dict(d["model"]), dict(d.get("hparams", {})))


def package_config_dir() -> Path:
    """The presets shipped with the package; from a source checkout on PYTHONPATH (no install), its ``configs/``."""
    import importlib.resources

    try:
        return Path(str(importlib.resources.files("raymvae.configs")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "configs"


def preset_dirs() -> list[Path]:
    """Where presets are looked up, first match wins: RAYMVAE_CONFIG_DIR (if set), then the package's."""
    user = os.environ.get("RAYMVAE_CONFIG_DIR")
    return ([Path(user).expanduser()] if user else []) + [package_config_dir()]


def preset_path(relative: str) -> Path | None:
    """The first preset file named ``relative`` (e.g. ``cat-mel_2bar_small.yaml``, ``tune/default.yaml``)."""
    return next((d / relative for d in preset_dirs() if (d / relative).is_file()), None)


def config_names() -> list[str]:
    """Every preset config name, sorted."""
    return sorted({p.name[:-5] for d in preset_dirs() if d.is_dir() for p in d.iterdir() if p.name.endswith(".yaml")})


def load_config(name_or_path: str | Path | Config | dict, hparams: str | dict | None = None,
                preset: str | None = None) -> Config:
    """A preset by Magenta name, a YAML path, or a dict; then the hparams of training ``preset`` (a named
    overlay, ``presets/NAME.yaml``), then ``hparams`` overrides."""
    if isinstance(name_or_path, Config):
        cfg = Config.from_dict(name_or_path.to_dict())
    elif isinstance(name_or_path, dict):
        cfg = Config.from_dict(name_or_path)
    else:
        from raymvae import storage

        text = str(name_or_path)
        if text.endswith((".yaml", ".yml")) and storage.is_file(text):
            cfg = Config.from_dict(yaml.safe_load(storage.read_bytes(text)))
        else:
            res = preset_path(f"{text}.yaml")
            if res is None:
                raise ValueError(f"unknown config {text!r}; known configs: {', '.join(config_names())}")
            cfg = Config.from_dict(yaml.safe_load(res.read_text()))
    if preset:
        cfg.hparams = apply_hparams(cfg.hparams, preset_hparams(preset))
    if hparams:
        cfg.hparams = apply_hparams(cfg.hparams, hparams)
    check_hparams(cfg.hparams)
    return cfg


def preset_names() -> list[str]:
    """Every training preset (hparams overlay) name, sorted."""
    return sorted({p.stem for d in preset_dirs() if (d / "presets").is_dir() for p in (d / "presets").glob("*.yaml")})


def preset_hparams(name: str) -> dict[str, Any]:
    """The hparams of training preset ``name`` (``presets/NAME.yaml``: a ``hparams`` mapping)."""
    from raymvae.errors import UserError

    path = preset_path(f"presets/{name}.yaml")
    if path is None:
        raise UserError(f"unknown preset {name!r}; known presets: {', '.join(preset_names()) or 'none'}")
    return dict((yaml.safe_load(path.read_text()) or {}).get("hparams", {}))


_SCHEDULES = ("constant", "exponential", "inverse_sigmoid")
# name -> (lowest, highest, whether the lowest value itself is allowed); None = unbounded
_RANGES = {"batch_size": (1, None, True), "z_size": (1, None, True), "max_seq_len": (1, None, True),
           "learning_rate": (0.0, None, False), "min_learning_rate": (0.0, None, True),
           "decay_rate": (0.0, 1.0, False), "grad_clip": (0.0, None, False),
           "grad_norm_clip_to_zero": (0.0, None, False), "dropout_keep_prob": (0.0, 1.0, False),
           "free_bits": (0.0, None, True), "max_beta": (0.0, None, True), "beta_rate": (0.0, 1.0, True),
           "sampling_rate": (0.0, None, True), "nade_num_hidden": (1, None, True)}


def check_hparams(hparams: dict[str, Any]) -> None:
    """Raise UserError for a value no model can train with (a batch of 0, a negative learning rate, ...)."""
    from raymvae.errors import UserError

    for name, (lo, hi, lo_ok) in _RANGES.items():
        if name not in hparams:
            continue
        v = hparams[name]
        if (v < lo if lo_ok else v <= lo) or (hi is not None and v > hi):
            bound = f"{'>=' if lo_ok else '>'} {lo}" + (f" and <= {hi}" if hi is not None else "")
            raise UserError(f"hparam {name} must be {bound}, got {v!r}")
    for name in ("enc_rnn_size", "dec_rnn_size"):
        if name in hparams and (not hparams[name] or min(hparams[name]) < 1):
            raise UserError(f"hparam {name} must list one or more layer sizes >= 1, got {hparams[name]!r}")
    if hparams.get("sampling_schedule", "constant") not in _SCHEDULES:
        raise UserError(f"hparam sampling_schedule must be one of {', '.join(_SCHEDULES)}, "
                        f"got {hparams['sampling_schedule']!r}")


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return parts


def parse_hparams(text: str) -> dict[str, Any]:
    """Parse Magenta's ``name=value,name=[a,b]`` override string into a dict."""
    out: dict[str, Any] = {}
    for part in _split_top_level(text):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"bad hparams entry {part.strip()!r}: expected name=value")
        name, raw = (s.strip() for s in part.split("=", 1))
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # bare words such as inverse_sigmoid
        out[name] = value
    return out


def _coerce(name: str, value: Any, current: Any) -> Any:
    if current is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, str):
        if isinstance(value, str):
            return value
    elif isinstance(current, list):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    for v in value):
            return [type(current[0])(v) if current else v for v in value]
    raise ValueError(f"hparam {name!r} expects {type(current).__name__} (like {current!r}), got {value!r}")


def apply_hparams(base: dict[str, Any], overrides: str | dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with overrides applied; unknown names and wrong types raise ValueError."""
    if isinstance(overrides, str):
        overrides = parse_hparams(overrides)
    out = copy.deepcopy(base)
    for name, value in overrides.items():
        if name not in out:
            raise ValueError(f"unknown hparam {name!r}; known: {', '.join(sorted(out))}")
        out[name] = _coerce(name, value, out[name])
    return out
