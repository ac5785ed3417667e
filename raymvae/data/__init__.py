"""Ray Data pipelines: MIDI collections -> Parquet shards, shards -> datasets."""
from raymvae.data.prepare import PrepareResult, prepare
from raymvae.data.shards import ShardMismatchError, check_compatible, read_dataset, read_manifest, read_windows

__all__ = ["PrepareResult", "ShardMismatchError", "check_compatible", "prepare", "read_dataset",
           "read_manifest", "read_windows"]
