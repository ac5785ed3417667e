"""What a deployment is started with: the CLI flags, and the ``args`` of a Serve config YAML."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from raymvae.settings import PRECISION, Precision


class ServeSettings(BaseModel):
    """Model, replicas, batching and request limits of one ``raymvae serve`` application."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="run dir with a model export (train, tune best/, import-magenta)")
    replicas: int = Field(1, ge=1, description="model replicas")
    num_cpus: float = Field(1.0, gt=0, description="CPUs per replica (also its torch threads)")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per replica (the model runs on CUDA when > 0)")
    precision: Precision = PRECISION
    max_batch_size: int = Field(16, ge=1,
                                description="requests decoded together in one forward pass (1 turns batching off)")
    batch_wait_timeout_s: float = Field(0.002, ge=0, description="how long a batch waits to fill once it has a request")
    max_n: int = Field(64, ge=1, description="largest n of /sample and most z rows of /decode")
    max_steps: int = Field(64, ge=2, description="largest steps of /interpolate")
    max_temperature: float = Field(5.0, gt=0, description="largest sampling temperature")
    max_body_bytes: int = Field(4 << 20, ge=1024, description="larger request bodies get a 413")

    @property
    def max_ongoing_requests(self) -> int:
        """Requests a replica takes at once: enough that batches fill (Serve caps a batch at this)."""
        return max(64, 4 * self.max_batch_size)
