"""Generation settings, defined once: what every `raymvae generate` subcommand shares (its flags and
``batch.run``'s defaults) and the latent-constraint actor/critic's sizes. The temperature stays per
subcommand: prior samples default to 0.5, reconstructions to argmax. No Ray, no torch."""
from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from raymvae.settings import PRECISION, Precision


class GenerateSettings(BaseModel):
    """Seeding, batching and model replicas of a generation job."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="random seed (the same seed gives the same files)")
    batch_size: int = Field(256, ge=1, description="rows decoded per batch")
    replicas: int | None = Field(None, ge=1, description="model replicas (default: the GPUs, or half the CPUs)")
    window: int = Field(0, ge=0, description="which window of a multi-window input")
    precision: Precision = PRECISION


@dataclass
class ConstraintSettings:
    """Sizes and optimisation of the critic/actor pair (the notebook used 4 x 2048 units)."""

    hidden: list[int] = field(default_factory=lambda: [512, 512, 512, 512])
    steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 3e-4
    gradient_penalty: float = 10.0
    distance_weight: float = 0.1
    seed: int = 0
