"""MusicVAE in PyTorch (no Ray, no file formats beyond reading Magenta's TF checkpoints)."""
from __future__ import annotations

from pathlib import Path

from raymvae.config import Config
from raymvae.model.latent import grid, lerp, slerp
from raymvae.model.magenta_weights import CheckpointMismatchError, load_tf_variables
from raymvae.model.tf_checkpoint import read_checkpoint
from raymvae.model.vae import MusicVAE, Output, build, num_parameters


def load_magenta_checkpoint(path: str | Path, config: str | Config | dict,
                            hparams: str | dict | None = None) -> MusicVAE:
    """A model built from ``config`` (+ ``hparams``) holding the weights of a Magenta TF checkpoint.

    ``path`` is a checkpoint prefix, a folder holding one, or Magenta's
    ``.tar``. The checkpoint's global step is kept as ``model.magenta_global_step``.
    """
    model = build(config, hparams)
    variables = read_checkpoint(path)
    load_tf_variables(model, variables)
    model.magenta_global_step = int(variables.get("global_step", 0))
    return model.eval()


__all__ = ["CheckpointMismatchError", "MusicVAE", "Output", "build", "grid", "lerp", "load_magenta_checkpoint",
           "num_parameters", "slerp"]
