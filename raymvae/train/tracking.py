"""Weights & Biases logging from rank 0: offline into the run dir by default, online with a key.

W&B writes to a local folder; for a run dir on object storage that folder is
a temporary cache, and an offline run is uploaded to ``RUN_DIR/wandb/`` when
it finishes (download it and ``wandb sync`` it there).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from raymvae import storage

log = logging.getLogger(__name__)


def wandb_mode(requested: str | None = None) -> str:
    """--wandb flag, else WANDB_MODE, else 'online' when WANDB_API_KEY is set, else 'offline'."""
    mode = requested or os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    if mode not in ("online", "offline", "disabled"):
        raise ValueError(f"W&B mode must be online, offline or disabled, got {mode!r}")
    return mode


class Tracker:
    """A W&B run (or nothing when disabled / not rank 0). Metric names are Magenta's."""

    def __init__(self, enabled: bool, mode: str, run_dir: str, name: str, config: dict[str, Any],
                 group: str | None = None):
        self.run = None
        self.run_dir, self.cache = run_dir, None
        if not enabled or mode == "disabled":
            return
        import wandb

        if storage.is_remote(run_dir):
            local = self.cache = tempfile.mkdtemp(prefix="raymvae-wandb-")
        else:
            local = run_dir
        os.makedirs(local, exist_ok=True)
        run_id = hashlib.sha1(storage.normalize(run_dir).encode()).hexdigest()[:12]  # one W&B run per run dir
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "raymvae"), dir=local, mode=mode,
                              name=name, id=run_id, resume="allow", group=group, config=config,
                              settings=wandb.Settings(silent=True))
        log.info("W&B %s run %s in %s", mode, run_id, local)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if self.run is not None:
            self.run.log({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step)

    def finish(self) -> None:
        """End the run; for a remote run dir, upload the offline run files and drop the local cache."""
        if self.run is None:
            return
        self.run.finish()
        self.run = None
        if self.cache is not None:
            root = Path(self.cache)
            for path in sorted(p for p in (root / "wandb").rglob("*") if p.is_file()):
                if path.parent.name != "tmp" and not path.is_symlink():
                    storage.write_bytes(storage.join(self.run_dir, path.relative_to(root).as_posix()),
                                        path.read_bytes())
            shutil.rmtree(root, ignore_errors=True)
