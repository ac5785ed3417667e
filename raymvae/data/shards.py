"""Read shards written by ``prepare`` (local or object storage): manifest, schema check, Ray Datasets or numpy.

Shards made for another config (other family, window shape or class range)
are refused with a message that names both configs. Only the Parquet files
the manifest names are read, so files of an interrupted write never are.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raymvae import storage
from raymvae.config import Config, load_config
from raymvae.data.prepare import SHARD_FORMAT
from raymvae.errors import UserError
from raymvae.storage import filesystem_for

SPLITS = ("train", "eval")


class ShardMismatchError(UserError):
    """Shards were prepared for a config the caller's model cannot read."""


def window_bytes(manifest: dict[str, Any]) -> int:
    """Bytes of one window of a shard set (its shape times its class dtype)."""
    return int(np.prod(manifest["window_shape"])) * np.dtype(manifest["dtype"]).itemsize


def read_manifest(shards: str) -> dict[str, Any]:
    """The manifest of a shards folder; FileNotFoundError with a hint if absent."""
    try:
        manifest = json.loads(storage.read_bytes(storage.join(shards, "manifest.json")))
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


def _split_files(shards: str, manifest: dict[str, Any], split: str) -> tuple[pafs.FileSystem, list[str]]:
    """The filesystem and the Parquet files of a split (those the manifest names; older manifests: all)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    fs, path, _ = filesystem_for(shards)
    names = manifest.get("shards", {}).get(split)
    if names is None:
        names = [n for n in storage.list_files(storage.join(shards, split)) if n.endswith(".parquet")]
    return fs, [f"{path}/{split}/{n}" for n in names]


def eval_split(shards: str, manifest: dict[str, Any] | None = None) -> str:
    """The split that evaluates on a shard set: its eval windows, or all of it when it has none
    (a separate held-out collection, as Magenta's ``--mode eval`` on another examples path)."""
    manifest = manifest or read_manifest(shards)
    if manifest["windows"]["eval"]:
        return "eval"
    if manifest["windows"]["train"]:
        return "train"
    raise UserError(f"{shards} holds no windows at all (see its manifest.json for why)")


def epoch_windows(shards: str, cap: int | None) -> int:
    """Training windows one epoch draws: per file, all of its windows or ``cap`` of them."""
    fs, path, _ = filesystem_for(shards)
    with fs.open_input_file(f"{path}/files.parquet") as f:
        table = pq.read_table(f, columns=["split", "windows"])
    counts = np.asarray(table["windows"].to_numpy())[np.asarray(table["split"].to_pylist()) == "train"]
    return int(np.minimum(counts, cap).sum() if cap else counts.sum())


def read_windows(shards: str, split: str = "train", config: str | Config | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """All windows of a split as ``(windows [N, *shape], sources [N])`` (no Ray; for small sets)."""
    manifest = read_manifest(shards)
    if config is not None:
        check_compatible(manifest, config)
    fs, files = _split_files(shards, manifest, split)
    shape = tuple(manifest["window_shape"])
    if not files:
        return np.zeros((0,) + shape, manifest["dtype"]), np.zeros(0, dtype=object)
    table = pads.dataset(files, filesystem=fs, format="parquet").to_table()
    flat = table["windows"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
    windows = flat.astype(manifest["dtype"]).reshape((-1,) + shape)
    return windows, np.asarray(table["source"].to_pylist(), dtype=object)


def sample_windows(shards: str, split: str, size: int, seed: int = 0) -> np.ndarray:
    """A uniform random sample of at most ``size`` windows of a split, read batch by batch (any split size)."""
    from raymvae.model.evaluate import Reservoir

    manifest = read_manifest(shards)
    fs, files = _split_files(shards, manifest, split)
    shape = (-1,) + tuple(manifest["window_shape"])
    kept = Reservoir(size, seed)
    if files:
        for batch in pads.dataset(files, filesystem=fs, format="parquet").to_batches(columns=["windows"]):
            flat = batch.column(0).flatten().to_numpy(zero_copy_only=False)
            kept.push(flat.astype(manifest["dtype"]).reshape(shape))
    rows = kept.sample()
    return rows if rows is not None else np.zeros((0,) + shape[1:], manifest["dtype"])


TRAIN_COLUMNS = ["windows", "file_id", "file_windows", "file_position"]


def read_dataset(shards: str, config: str | Config, split: str = "train"):
    """A split as a Ray Dataset: ``windows`` ([*shape] arrays) plus the per-file columns training samples by.

    No string columns, so ``iter_torch_batches`` works on it directly.
    """
    import ray.data

    manifest = read_manifest(shards)
    check_compatible(manifest, config)
    fs, files = _split_files(shards, manifest, split)
    if not files:
        raise UserError(f"{shards} has no {split} windows")
    shape = tuple(manifest["window_shape"])
    dtype = manifest["dtype"]

    def reshape(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        w = np.stack(batch["windows"]) if batch["windows"].dtype == object else batch["windows"]
        return {"windows": w.astype(dtype).reshape((-1,) + shape), "file_id": batch["file_id"],
                "file_windows": batch["file_windows"], "file_position": batch["file_position"]}

    missing = set(TRAIN_COLUMNS) - set(pads.dataset(files, filesystem=fs, format="parquet").schema.names)
    if missing:
        raise ShardMismatchError(f"{shards}/{split} lacks columns {sorted(missing)}: it was written by an older "
                                 f"raymvae; run `raymvae prepare --overwrite` again")
    ds = ray.data.read_parquet(files, filesystem=fs).select_columns(TRAIN_COLUMNS)
    return ds.map_batches(reshape, batch_format="numpy")
