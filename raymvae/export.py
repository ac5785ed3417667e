"""The model export of a run dir: ``RUN_DIR/export/{model.safetensors, config.json}``.

Training, Tune's best trial and ``import-magenta`` write it; generation,
serving and fine-tuning read it. safetensors holds only tensors (no pickle),
so loading a run dir from someone else cannot execute code. Written into a
temporary folder and renamed into place, so a crash never leaves half an export.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from raymvae.config import Config
from raymvae.model import MusicVAE, build, num_parameters

EXPORT_DIR = "export"


def save_export(run_dir: str | Path, model: MusicVAE, step: int, info: dict[str, Any] | None = None) -> Path:
    """Write weights + resolved config + step atomically; returns the export folder."""
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=run_dir))
    try:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        meta = {"config": model.config.to_dict(), "step": int(step), "parameters": num_parameters(model),
                "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(info or {})}
        (tmp / "config.json").write_text(json.dumps(meta, indent=2))
        final = run_dir / EXPORT_DIR
        old = run_dir / f".export-old-{os.getpid()}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_info(run_dir: str | Path) -> dict[str, Any]:
    """The export's config.json (config, step, parameters, source)."""
    path = Path(run_dir) / EXPORT_DIR / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no model export ({path}); train a model or run "
                                f"`raymvae import-magenta` first")
    return json.loads(path.read_text())


def load_export(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[MusicVAE, dict[str, Any]]:
    """The exported model (eval mode, on ``device``) and its info."""
    from safetensors.torch import load_file

    info = export_info(run_dir)
    model = build(Config.from_dict(info["config"]))
    state = load_file(str(Path(run_dir) / EXPORT_DIR / "model.safetensors"), device="cpu")
    model.load_state_dict(state)
    return model.to(device).eval(), info
