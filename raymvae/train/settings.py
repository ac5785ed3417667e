"""The training loop's settings, defined once: `raymvae train`'s flags, ``fit()``'s keyword arguments
and the loop's defaults all come from ``TrainSettings``. No Ray."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from raymvae.settings import PRECISION, Precision


class TrainSettings(BaseModel):
    """What a training run does beyond its config, hparams and data (Magenta's defaults where it has one)."""

    model_config = ConfigDict(extra="forbid")

    num_steps: int = Field(200_000, ge=1, description="train until this global step (Magenta's default)")
    checkpoint_every: int = Field(1000, ge=0, description="steps between checkpoints (0: at the end only)")
    keep_checkpoints: int = Field(3, ge=1, description="checkpoints kept")
    eval_every: int = Field(0, ge=0, description="steps between evaluations (0: at the end only)")
    eval_batches: int = Field(0, ge=0, description="cap each evaluation at N batches (0: all)")
    eval_samples: int = Field(512, ge=0, description="prior samples each evaluation decodes and compares with the "
                                                     "eval windows (overlapped area of musical features; 0: none)")
    sample_temperature: float = Field(0.5, ge=0, description="their sampling temperature")
    log_every: int = Field(100, ge=1, description="steps between metric logs")
    epoch_windows_per_file: int | None = Field(None, ge=1, description="windows drawn per file each epoch (default: "
                                                                       "the config's, 5 for Magenta's)")
    seed: int = Field(0, description="random seed")
    precision: Precision = PRECISION
    wandb: Literal["online", "offline", "disabled"] | None = Field(
        None, description="W&B mode (default: WANDB_MODE, else online with WANDB_API_KEY, else offline)")
    objective: str | None = Field(None, description="also report this weighted sum of eval metrics as "
                                                    "'objective', e.g. 'metrics/accuracy + samples/oa_mean'")


class ScalingSettings(BaseModel):
    """How many Ray Train workers a run uses and where they go (Ray's ``ScalingConfig``), and how often
    a failed worker group is restarted: `raymvae train`'s flags and ``fit()``'s keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    num_workers: int = Field(1, ge=0, description="Ray Train workers (DDP); 0 runs in this process (local mode)")
    use_gpu: bool = Field(False, description="one GPU per worker")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field(
        "PACK", description="how the workers' placement group spreads over nodes (SPREAD: one per node where it can)")
    resources_per_worker: dict[str, float] | None = Field(
        None, description="Ray resources each worker reserves, as JSON, e.g. '{\"CPU\": 2}' or '{\"GPU\": 1, "
                          "\"accelerator_type:H100\": 0.01}' (default: 1 GPU with --use-gpu, else a share of the CPUs)")
    max_failures: int = Field(3, ge=0, description="worker-group restarts allowed (a worker or node died); each "
                                                   "resumes from the newest checkpoint")
