"""``prepare``'s settings, defined once: `raymvae prepare`'s flags and ``prepare()``'s keyword arguments."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PrepareSettings(BaseModel):
    """How a collection becomes shards, beyond its config and inputs."""

    model_config = ConfigDict(extra="forbid")

    eval_fraction: float = Field(0.05, ge=0, le=1, description="share of files (by a hash of their path) held out "
                                                             "for evaluation (1: the whole collection is an "
                                                             "evaluation set)")
    shard_windows_per_file: int | None = Field(None, ge=1, description="keep at most N windows per file in the "
                                                                       "shards, chosen deterministically (default: "
                                                                       "all; training draws a few of them per file "
                                                                       "each epoch, see train "
                                                                       "--epoch-windows-per-file)")
    overwrite: bool = Field(False, description="replace an existing output folder")
