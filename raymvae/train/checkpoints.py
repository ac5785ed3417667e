"""Training checkpoints in the run dir (local or s3:// / gs://), written atomically, last K kept.

``RUN_DIR/checkpoints/step_000001000/{checkpoint.pt, meta.json}``: model,
optimizer, step, epoch, RNG states and the resolved config. A checkpoint
is assembled under a temporary name and renamed into place; ``meta.json``
is written last, and only folders that have it count, so a crash (or a
non-atomic object-store rename) never yields a half checkpoint.
"""
from __future__ import annotations

import io
import json
import re
import time
import uuid
from typing import Any

import pyarrow.fs as pafs
import torch

from raymvae.data.inputs import filesystem_for

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^step_(\d{9})$")


def _dir(run_dir: str) -> tuple[pafs.FileSystem, str]:
    fs, path, _ = filesystem_for(run_dir)
    return fs, f"{path}/{CHECKPOINTS}"


def list_checkpoints(run_dir: str) -> list[tuple[int, str]]:
    """(step, path inside the filesystem) of every complete checkpoint, oldest first."""
    fs, root = _dir(run_dir)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    found = []
    for info in fs.get_file_info(pafs.FileSelector(root)):
        m = _NAME.match(info.base_name)
        if m and fs.get_file_info(f"{info.path}/meta.json").type == pafs.FileType.File:
            found.append((int(m.group(1)), info.path))
    return sorted(found)


def save_checkpoint(run_dir: str, step: int, state: dict[str, Any], keep: int) -> str:
    """Write ``state`` (tensors, numbers, dicts) for ``step``; delete all but the newest ``keep``."""
    fs, root = _dir(run_dir)
    final = f"{root}/step_{step:09d}"
    tmp = f"{root}/.tmp-step_{step:09d}-{uuid.uuid4().hex[:8]}"
    fs.create_dir(tmp, recursive=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    with fs.open_output_stream(f"{tmp}/checkpoint.pt") as f:
        f.write(buf.getvalue())
    with fs.open_output_stream(f"{tmp}/meta.json") as f:
        f.write(json.dumps({"step": step, "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode())
    if fs.get_file_info(final).type != pafs.FileType.NotFound:
        fs.delete_dir(final)
    fs.move(tmp, final)
    for _, old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        fs.delete_dir(old)
    return final


def load_latest(run_dir: str) -> dict[str, Any] | None:
    """The newest complete checkpoint's state (tensors on CPU), or None. Loaded with weights_only=True."""
    found = list_checkpoints(run_dir)
    if not found:
        return None
    fs, _ = _dir(run_dir)
    with fs.open_input_stream(f"{found[-1][1]}/checkpoint.pt") as f:
        data = f.read()
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
