"""A sweep's settings, defined once: `raymvae tune`'s flags and ``sweep()``'s keyword arguments. The
evaluation settings it shares with training keep their defaults in ``TrainSettings``."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from raymvae.settings import Precision
from raymvae.train.settings import TrainSettings

_TRAIN = TrainSettings.model_fields


class TuneSettings(BaseModel):
    """What a sweep searches, how it schedules and ranks trials, and how each trial trains and evaluates."""

    model_config = ConfigDict(extra="forbid")

    search: str | None = Field(None, description="search-space YAML (default: configs/tune/default.yaml)")
    num_samples: int = Field(8, ge=1, description="trials")
    num_steps: int = Field(2000, ge=1, description="training steps per trial")
    eval_every: int | None = Field(None, ge=1, description="steps between evaluations, Tune's reports "
                                                           "(default: num_steps / 10)")
    scheduler: Literal["asha", "none"] = Field("asha", description="early stopping of hopeless trials")
    search_alg: Literal["random", "optuna"] = Field("random", description="how trials are chosen")
    max_concurrent: int = Field(1, ge=1, description="trials at once")
    workers_per_trial: int = Field(0, ge=0, description="0: trials train in their own process (small machines); "
                                                        "N > 0: each trial drives a TorchTrainer with N workers")
    use_gpu: bool = Field(False, description="a GPU per trial (or per Train worker)")
    metric: str = Field("losses/elbo", description="eval metric to rank trials by (also metrics/accuracy, "
                                                   "samples/oa_mean, ...)")
    mode: Literal["min", "max"] = Field("max", description="whether the metric is better low or high")
    objective: str | None = Field(None, description="rank trials by a weighted sum of eval metrics instead of "
                                                    "--metric, e.g. 'metrics/accuracy + 0.5 * samples/oa_mean'")
    eval_batches: int = _TRAIN["eval_batches"]
    eval_samples: int = _TRAIN["eval_samples"]
    sample_temperature: float = _TRAIN["sample_temperature"]
    seed: int = _TRAIN["seed"]
    precision: Precision = _TRAIN["precision"]
    wandb: Literal["online", "offline", "disabled"] | None = _TRAIN["wandb"]
