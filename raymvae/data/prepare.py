"""``raymvae prepare``: a MIDI (or NoteSequence TFRecord) collection -> Parquet shards.

Ray Data pipeline: blocks of file paths (``from_items``) -> one task reads
and converts each block (``map_batches``; TFRecords go through ``flat_map``
over their records) -> one row per input file (status, reason, its windows
as a compact blob) ->
materialized once -> exploded into one row per window and written as
``train/`` and ``eval/`` Parquet shards, plus ``files.parquet`` (every input
file with its status) and ``manifest.json``. The split is a hash of each
file's key, so a file never lands in both. ``manifest.json`` is written last
and names every shard file; readers trust only it. A local output is written
under a temporary name and renamed into place; on object storage (no
directory rename) the files go straight to the output prefix, manifest last.
"""
from __future__ import annotations

import logging
import os
import platform
import shutil
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raymvae import storage
from raymvae.config import Config, load_config
from raymvae.data.convert import (FILE_COLUMNS, converter, encode_midi_batch, encode_ns_batch, explode,
                                  tfrecord_items)
from raymvae.data.inputs import Source, resolve_inputs
from raymvae.data.settings import PrepareSettings
from raymvae.settings import checked
from raymvae.storage import filesystem_for

log = logging.getLogger(__name__)

SHARD_FORMAT = "raymvae-shards/1"
FILES_PER_BLOCK = 256  # files per Ray Data task: enough work to hide per-task overhead
@dataclass
class PrepareResult:
    """What ``prepare`` wrote: the output folder and its manifest."""

    output: str
    manifest: dict[str, Any]


def _sum_histograms(cfg: Config, blobs: list[bytes]) -> dict[str, list[int]]:
    """Sum the per-file histograms (concatenated int64 counts) and split them by part."""
    conv = converter(cfg.to_dict())
    sizes = {k: len(v) for k, v in conv.class_histogram(np.zeros((0,) + tuple(conv.window_shape), conv.dtype)).items()}
    total = np.zeros(sum(sizes.values()), np.int64)
    for b in blobs:
        if b:
            total += np.frombuffer(b, np.int64)
    out, start = {}, 0
    for k, n in sizes.items():
        out[k] = total[start:start + n].tolist()
        start += n
    return out


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("raymvae", "ray", "numpy", "pyarrow", "note-seq"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _refuse_existing(output: str, overwrite: bool) -> None:
    if storage.exists(output) and not overwrite:
        what = "holds shards" if storage.is_file(storage.join(output, "manifest.json")) else \
            "exists (with no manifest.json: an interrupted prepare?)"
        raise FileExistsError(f"output {output} {what}; pass --overwrite to replace it")


def _staging(output: str) -> str:
    """Where to write the shards: a temporary sibling (local) or the output prefix itself (object storage,
    where an existing output is deleted now, its manifest first so that no reader trusts it any more)."""
    if not storage.is_remote(output):
        return f"{output}.tmp-{uuid.uuid4().hex[:8]}"
    storage.delete(storage.join(output, "manifest.json"))
    storage.delete(output)
    return output


def prepare(config: str | Config, inputs: list[str], output: str, *, hparams: str | dict | None = None,
            **settings: Any) -> PrepareResult:
    """Convert every input file to windows and write train/eval shards, files table and manifest;
    ``settings`` are ``PrepareSettings`` fields (eval_fraction, shard_windows_per_file, overwrite)."""
    import ray
    import ray.data

    s = checked(PrepareSettings, settings, "prepare")
    eval_fraction, shard_windows_per_file = s.eval_fraction, s.shard_windows_per_file
    t0 = time.perf_counter()
    cfg = load_config(config, hparams)
    conv = converter(cfg.to_dict())
    shape, dtype = tuple(conv.window_shape), np.dtype(conv.dtype).name
    output = storage.normalize(output)
    _refuse_existing(output, s.overwrite)
    sources = resolve_inputs(inputs)
    staging = _staging(output)
    out_fs, tmp, _ = filesystem_for(staging)
    log.info("prepare %s: %d input files -> %s", cfg.name, len(sources), output)

    common = dict(config=cfg.to_dict(), eval_fraction=eval_fraction, cap=shard_windows_per_file)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    parts = []
    midi = [{"source": s.uri, "key": s.key} for s in sources if s.kind == "midi"]
    if midi:
        blocks = max(min(len(midi), 4 * cpus), -(-len(midi) // FILES_PER_BLOCK))
        parts.append(ray.data.from_items(midi, override_num_blocks=blocks)
                     .map_batches(encode_midi_batch, batch_format="numpy", batch_size=64, fn_kwargs=common))
    records = [{"uri": s.uri, "key": s.key} for s in sources if s.kind == "tfrecord"]
    if records:
        parts.append(ray.data.from_items(records, override_num_blocks=len(records)).flat_map(tfrecord_items)
                     .map_batches(encode_ns_batch, batch_format="numpy", batch_size=64, fn_kwargs=common))
    files = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    ctx = ray.data.DataContext.get_current()
    # Rows in input order (not in the order conversions finish): the same inputs give the same shards, so
    # that a training run with the same seed sees the same batches.
    ordered, ctx.execution_options.preserve_order = ctx.execution_options.preserve_order, True
    reservation, ctx.op_resource_reservation_enabled = ctx.op_resource_reservation_enabled, False
    try:
        files = files.materialize()
    except BaseException:
        ctx.execution_options.preserve_order = ordered  # the writes below restore it when they end
        raise
    finally:
        ctx.op_resource_reservation_enabled = reservation

    try:
        shards = {}
        for split in ("train", "eval"):
            out_fs.create_dir(f"{tmp}/{split}", recursive=True)
            shard = files.map_batches(explode, batch_format="pyarrow", batch_size=None,
                                      fn_kwargs=dict(split=split, shape=shape, dtype=dtype))
            shard.write_parquet(f"{tmp}/{split}", filesystem=out_fs, min_rows_per_file=100_000)
            shards[split] = storage.list_files(storage.join(staging, split))
        table = pa.concat_tables(ray.get(files.select_columns(FILE_COLUMNS + ["hist"]).to_arrow_refs()))
        table = table.sort_by([("source", "ascending")])
        hist = _sum_histograms(cfg, table["hist"].to_pylist())
        table = table.drop_columns(["hist"])
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        storage.write_bytes(storage.join(staging, "files.parquet"), sink.getvalue().to_pybytes())
        manifest = _manifest(cfg, conv, inputs, sources, table, hist, shape, dtype, eval_fraction,
                             shard_windows_per_file, shards, time.perf_counter() - t0)
        storage.write_json(storage.join(staging, "manifest.json"), manifest)  # last: it vouches for the rest
        if staging != output:
            _move_into_place(staging, output)
    except BaseException:
        storage.delete(staging)
        raise
    finally:
        ctx.execution_options.preserve_order = ordered
    return PrepareResult(output, manifest)


def _move_into_place(tmp: str, final: str) -> None:
    """Rename a finished local output into place; an existing one is moved aside first, then deleted."""
    old = f"{final}.old-{uuid.uuid4().hex[:8]}"
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _manifest(cfg: Config, conv, inputs: list[str], sources: list[Source], table: pa.Table,
              hist: dict[str, list[int]], shape: tuple[int, ...], dtype: str, eval_fraction: float,
              cap: int | None, shards: dict[str, list[str]], seconds: float) -> dict[str, Any]:
    status = Counter(table["status"].to_pylist())
    reasons = Counter(f"{s}: {r}" for s, r in zip(table["status"].to_pylist(), table["reason"].to_pylist())
                      if s != "ok")
    windows = Counter()
    files_per_split = Counter()
    for split, n in zip(table["split"].to_pylist(), table["windows"].to_pylist()):
        windows[split] += n
        files_per_split[split] += n > 0
    return {
        "format": SHARD_FORMAT,
        "config_name": cfg.name,
        "config": cfg.to_dict(),
        "converter": dict(cfg.converter),
        "family": conv.family,
        "window_shape": list(shape),
        "dtype": dtype,
        "columns": {"windows": f"fixed_size_list<{dtype}>[{int(np.prod(shape))}] (row-major {list(shape)})",
                    "source": "input file (TFRecord records as FILE#k)",
                    "window_index": "index of the window among the file's windows",
                    "file_id": "stable int64 id of the file (SHA-1 of its key)",
                    "file_windows": "windows of this file in this split",
                    "file_position": "position of the row among them (0..file_windows-1)"},
        "inputs": list(inputs),
        "eval_fraction": eval_fraction,
        "max_windows_per_file": cap,
        "files": {"total": len(table), "input_files": len(sources), "by_status": dict(status),
                  "by_reason": dict(reasons.most_common())},
        "files_with_windows": {"train": files_per_split["train"], "eval": files_per_split["eval"]},
        "notes_dropped": {"total": int(sum(table["notes_dropped"].to_pylist())),
                          "files": sum(n > 0 for n in table["notes_dropped"].to_pylist()),
                          "why": conv.describe_dropped()},
        "shards": shards,
        "windows": {"train": windows["train"], "eval": windows["eval"]},
        "class_histogram": hist,
        "versions": _versions(),
        "seconds": round(seconds, 2),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
