"""Model presets: one YAML per Magenta config name, plus Magenta's --hparams syntax.

The YAML files live in the repository's top-level ``configs/`` folder
(override with RAYMVAE_CONFIG_DIR). No torch, no Ray.
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


def preset_dir() -> Path:
    return Path(os.environ.get("RAYMVAE_CONFIG_DIR", Path(__file__).resolve().parents[1] / "configs"))


def config_names() -> list[str]:
    """Every preset config name, sorted."""
    return sorted(p.name[:-5] for p in preset_dir().iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str | Path | Config | dict, hparams: str | dict | None = None) -> Config:
    """A preset by Magenta name, a YAML path, or a dict; ``hparams`` overrides applied."""
    if isinstance(name_or_path, Config):
        cfg = Config.from_dict(name_or_path.to_dict())
    elif isinstance(name_or_path, dict):
        cfg = Config.from_dict(name_or_path)
    else:
        text = str(name_or_path)
        path = Path(text)
        if text.endswith((".yaml", ".yml")) and path.exists():
            cfg = Config.from_dict(yaml.safe_load(path.read_text()))
        else:
            res = preset_dir() / f"{text}.yaml"
            if not res.is_file():
                raise ValueError(f"unknown config {text!r}; known configs: {', '.join(config_names())}")
            cfg = Config.from_dict(yaml.safe_load(res.read_text()))
    if hparams:
        cfg.hparams = apply_hparams(cfg.hparams, hparams)
    return cfg


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
