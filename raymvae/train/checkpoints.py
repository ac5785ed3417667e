"""Training checkpoints in the run dir (local or s3:// / gs://), published atomically, last K kept.

``RUN_DIR/checkpoints/step_000001000/{checkpoint.pt, meta.json}``: model,
optimizer, step, epoch, RNG states and the resolved config. ``meta.json``
is the marker (written last, with the checkpoint's size and SHA-256); only
folders that have it count, so a crash never yields a half checkpoint, on
local disk or on object storage.
"""
from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import torch

from raymvae import storage

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
