"""Read shards written by ``prepare``: manifest, schema check, Ray Datasets or numpy.

Shards made for another config (other family, window shape or class range)
are refused with a message that names both configs.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from raymvae.config import Config, load_config
from raymvae.data.inputs import filesystem_for
from raymvae.data.prepare import SHARD_FORMAT

SPLITS = ("train", "eval")


class ShardMismatchError(ValueError):
    """Shards were prepared for a config the caller's model cannot read."""


def read_manifest(shards: str) -> dict[str, Any]:
    """The manifest of a shards folder; FileNotFoundError with a hint if absent."""
    fs, path, _ = filesystem_for(shards)
    try:
        with fs.open_input_stream(f"{path}/manifest.json") as f:
            manifest = json.loads(f.read())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{shards} has no manifest.json: is it the output of `raymvae prepare`?") from exc
    if manifest.get("format") != SHARD_FORMAT:
        raise ShardMismatchError(f"{shards}: unknown shard format {manifest.get('format')!r} "
                                 f"(this raymvae reads {SHARD_FORMAT})")
    return manifest


def check_compatible(manifest: dict[str, Any], config: str | Config) -> Config:
    """Raise ShardMismatchError unless the shards hold the windows ``config``'s model reads."""
    from raymvae.music import converter_for

    cfg = load_config(config)
    conv = converter_for(cfg)
    made = manifest["config_name"]
    problems = []
    if manifest["family"] != conv.family:
        problems.append(f"family {manifest['family']} != {conv.family}")
    if tuple(manifest["window_shape"]) != tuple(conv.window_shape):
        problems.append(f"window shape {tuple(manifest['window_shape'])} != {tuple(conv.window_shape)}")
    if manifest["dtype"] != np.dtype(conv.dtype).name:
        problems.append(f"dtype {manifest['dtype']} != {np.dtype(conv.dtype).name}")
    theirs, ours = manifest["converter"], cfg.converter
    for key in ("valid_programs", "min_pitch", "max_pitch", "pitch_classes"):
        if theirs.get(key) != ours.get(key):
            problems.append(f"{key} {theirs.get(key)} != {ours.get(key)}")
    if problems:
        raise ShardMismatchError(f"shards were prepared for {made!r} and do not fit {cfg.name!r}: "
                                 + "; ".join(problems) + f". Run `raymvae prepare --config {cfg.name}`.")
    return cfg


def _split_path(shards: str, split: str) -> tuple[pafs.FileSystem, str]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    fs, path, _ = filesystem_for(shards)
    return fs, f"{path}/{split}"


def read_windows(shards: str, split: str = "train", config: str | Config | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """All windows of a split as ``(windows [N, *shape], sources [N])`` (no Ray; for small sets)."""
    manifest = read_manifest(shards)
    if config is not None:
        check_compatible(manifest, config)
    fs, path = _split_path(shards, split)
    table = pads.dataset(path, filesystem=fs, format="parquet").to_table()
    shape = tuple(manifest["window_shape"])
    flat = table["windows"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    windows = flat.astype(manifest["dtype"]).reshape((-1,) + shape)
    return windows, np.asarray(table["source"].to_pylist(), dtype=object)


TRAIN_COLUMNS = ["windows", "file_id", "file_windows", "file_position"]


def read_dataset(shards: str, config: str | Config, split: str = "train"):
    """A split as a Ray Dataset: ``windows`` ([*shape] arrays) plus the per-file columns training samples by.

    No string columns, so ``iter_torch_batches`` works on it directly.
    """
    import ray.data

    manifest = read_manifest(shards)
    check_compatible(manifest, config)
    fs, path = _split_path(shards, split)
    shape = tuple(manifest["window_shape"])
    dtype = manifest["dtype"]

    def reshape(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        w = np.stack(batch["windows"]) if batch["windows"].dtype == object else batch["windows"]
        return {"windows": w.astype(dtype).reshape((-1,) + shape), "file_id": batch["file_id"],
                "file_windows": batch["file_windows"], "file_position": batch["file_position"]}

    missing = set(TRAIN_COLUMNS) - set(pads.dataset(path, filesystem=fs, format="parquet").schema.names)
    if missing:
        raise ShardMismatchError(f"{shards}/{split} lacks columns {sorted(missing)}: it was written by an older "
                                 f"raymvae; run `raymvae prepare --overwrite` again")
    ds = ray.data.read_parquet(path, filesystem=fs).select_columns(TRAIN_COLUMNS)
    return ds.map_batches(reshape, batch_format="numpy")
