"""The model export of a run dir: ``RUN_DIR/export/{model.safetensors, config.json}``, local or on object storage.

Training, Tune's best trial and ``import-magenta`` write it; generation,
serving and fine-tuning read it. safetensors holds only tensors (no pickle),
so loading a run dir from someone else cannot execute code. ``config.json``
is the marker, written last, and records the weights' size and SHA-256: a
reader never trusts weights the marker does not vouch for.
"""
from __future__ import annotations

import json
import time
from typing import Any

import torch

from raymvae import storage
from raymvae.config import Config
from raymvae.model import MusicVAE, build, num_parameters

EXPORT_DIR = "export"
WEIGHTS = "model.safetensors"
MARKER = "config.json"


def export_dir(run_dir: str) -> str:
    return storage.join(storage.normalize(run_dir), EXPORT_DIR)


def export_bytes(model: MusicVAE, step: int, info: dict[str, Any] | None = None) -> dict[str, bytes]:
    """The export's files: weights, and the config.json that vouches for them."""
    from safetensors.torch import save

    weights = save({k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()})
    meta = {"config": model.config.to_dict(), "step": int(step), "parameters": num_parameters(model),
            "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(info or {}),
            "weights": {"file": WEIGHTS, "bytes": len(weights), "sha256": storage.digest(weights)}}
    return {WEIGHTS: weights, MARKER: json.dumps(meta, indent=2).encode()}


def save_export(run_dir: str, model: MusicVAE, step: int, info: dict[str, Any] | None = None) -> str:
    """Publish weights + resolved config + step (config.json last); returns the export folder's URI."""
    return storage.publish(export_dir(run_dir), export_bytes(model, step, info), MARKER)


def copy_export(source_run_dir: str, target_run_dir: str) -> str:
    """Publish ``source``'s export, checked against its marker, as ``target``'s export."""
    info, weights = _read_checked(source_run_dir)
    return storage.publish(export_dir(target_run_dir), {WEIGHTS: weights, MARKER: json.dumps(info, indent=2).encode()},
                           MARKER)


def has_export(run_dir: str) -> bool:
    return storage.is_file(storage.join(export_dir(run_dir), MARKER))


def export_info(run_dir: str) -> dict[str, Any]:
    """The export's config.json (config, step, parameters, source, weights' digest)."""
    path = storage.join(export_dir(run_dir), MARKER)
    try:
        return storage.read_json(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{run_dir} has no model export ({path}); train a model or run "
                                f"`raymvae import-magenta` first") from None


def _read_checked(run_dir: str) -> tuple[dict[str, Any], bytes]:
    """The marker and the weights it names, checked against its size and digest (retried while being rewritten)."""
    for attempt in range(3):
        info = export_info(run_dir)
        expected = info.get("weights", {})
        try:
            weights = storage.read_bytes(storage.join(export_dir(run_dir), expected.get("file", WEIGHTS)))
        except FileNotFoundError:
            weights = b""
        if "sha256" not in expected or storage.digest(weights) == expected["sha256"]:
            return info, weights
        time.sleep(0.2 * (attempt + 1))
    raise OSError(f"{export_dir(run_dir)}: the weights do not match config.json (an export is being written, "
                  f"or was interrupted); try again once it is finished")


def load_export(run_dir: str, device: str | torch.device = "cpu") -> tuple[MusicVAE, dict[str, Any]]:
    """The exported model (eval mode, on ``device``) and its info."""
    from safetensors.torch import load

    info, weights = _read_checked(run_dir)
    model = build(Config.from_dict(info["config"]))
    model.load_state_dict(load(weights))
    return model.to(device).eval(), info
