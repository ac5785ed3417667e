"""Training checkpoints in the run dir (local or s3:// / gs://), published atomically, last K kept.

``RUN_DIR/checkpoints/step_000001000/{checkpoint.pt, meta.json}``: model,
optimizer, step, epoch, RNG states and the resolved config. ``meta.json``
is the marker (written last, with the checkpoint's size and SHA-256); only
folders that have it count, so a crash never yields a half checkpoint, on
local disk or on object storage. ``check_run_dir`` refuses to train a run
dir that holds a model of another shape.
"""
from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import torch

from raymvae import storage
from raymvae.config import Config
from raymvae.errors import UserError

CHECKPOINTS = "checkpoints"
MARKER = "meta.json"
_NAME = re.compile(r"^step_(\d{9})$")


def _root(run_dir: str) -> str:
    return storage.join(storage.normalize(run_dir), CHECKPOINTS)


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """(step, URI) of every complete checkpoint, oldest first."""
    root = _root(run_dir)
    found = []
    for rel in storage.list_files(root):
        folder, _, name = rel.rpartition("/")
        m = _NAME.match(folder)
        if m and name == MARKER:
            found.append((int(m.group(1)), storage.join(root, folder)))
    return sorted(found)


def save_checkpoint(run_dir: str, step: int, state: dict[str, Any], keep: int) -> str:
    """Write ``state`` (tensors, numbers, dicts) for ``step``; delete all but the newest ``keep``."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    meta = {"step": step, "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "config": state.get("config"),
            "bytes": len(data), "sha256": storage.digest(data)}
    final = storage.publish(storage.join(_root(run_dir), f"step_{step:09d}"),
                            {"checkpoint.pt": data, MARKER: json.dumps(meta).encode()}, MARKER)
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        storage.delete(storage.join(old, MARKER))  # the marker first: a half-deleted one no longer counts
        storage.delete(old)
    return final


def load_latest(run_dir: str) -> dict[str, Any] | None:
    """The newest complete checkpoint's state (tensors on CPU), or None. Loaded with weights_only=True."""
    for _, folder in reversed(list_checkpoints(run_dir)):
        meta = storage.read_json(storage.join(folder, MARKER))
        try:
            data = storage.read_bytes(storage.join(folder, "checkpoint.pt"))
        except FileNotFoundError:
            continue
        if "sha256" in meta and storage.digest(data) != meta["sha256"]:
            continue  # being rewritten or deleted right now: take the one before
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return None


def check_run_dir(run_dir: str, cfg: Config) -> None:
    """UserError when ``run_dir`` already holds a model of another config (its checkpoints or export)."""
    from raymvae.export import export_info, has_export

    found = list_checkpoints(run_dir)
    if found:
        held = storage.read_json(storage.join(found[-1][1], MARKER)).get("config")
        if held is None:  # checkpoints written before meta.json named their config
            held = load_latest(run_dir)["config"]
    elif has_export(run_dir):
        held = export_info(run_dir)["config"]
    else:
        return
    if held["model"] != cfg.model or held["converter"]["family"] != cfg.converter["family"] or \
            any(held["hparams"].get(k) != cfg.hparams.get(k) for k in ARCHITECTURE_HPARAMS):
        raise UserError(f"{run_dir} holds a {held['name']} model ({_shape(held)}); it cannot be trained as "
                        f"{cfg.name} ({_shape(cfg.to_dict())}). Use another --run-dir")


ARCHITECTURE_HPARAMS = ("z_size", "enc_rnn_size", "dec_rnn_size", "max_seq_len", "nade_num_hidden",
                        "residual_encoder", "residual_decoder")


def _shape(config: dict[str, Any]) -> str:
    h = config["hparams"]
    return ", ".join(f"{k}={h[k]}" for k in ARCHITECTURE_HPARAMS[:4] if k in h)
