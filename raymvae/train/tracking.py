"""Weights & Biases logging from rank 0: offline into the run dir by default, online with a key."""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from typing import Any

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
                 group: str | None = None, run_id: str | None = None):
        self.run = None
        if not enabled or mode == "disabled":
            return
        import wandb

        local = run_dir if "://" not in run_dir else tempfile.mkdtemp(prefix="raymvae-wandb-")
        os.makedirs(local, exist_ok=True)
        run_id = run_id or hashlib.sha1(os.path.abspath(run_dir).encode()).hexdigest()[:12]
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "raymvae"), dir=local, mode=mode,
                              name=name, id=run_id, resume="allow", group=group, config=config,
                              settings=wandb.Settings(silent=True))
        log.info("W&B %s run %s in %s", mode, run_id, local)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if self.run is not None:
            self.run.log({k: v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
