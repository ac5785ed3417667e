"""Prepare's conversion, without Ray: input files (or NoteSequence records) -> one row per file with its
status, the reason it gave no windows, and its windows as a compact blob; per-split rows -> one row per
window. ``prepare`` runs these as Ray Data tasks."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raymvae.config import Config
from raymvae.data.inputs import key_hash, split_of
from raymvae.data.tfrecord import iter_records
from raymvae.storage import filesystem_for

FILE_COLUMNS = ["source", "key", "split", "status", "reason", "windows", "notes_dropped"]
FILE_SCHEMA = pa.schema([("source", pa.string()), ("key", pa.string()), ("split", pa.string()),
                          ("status", pa.string()), ("reason", pa.string()), ("windows", pa.int32()),
                          ("notes_dropped", pa.int64()),
                          ("data", pa.binary()), ("index", pa.binary()), ("hist", pa.binary())])


_CONVERTERS: dict[str, Any] = {}


def converter(config: dict):
    """One converter per worker process and config (numba kernels stay compiled)."""
    from raymvae.music import converter_for

    key = json.dumps(config, sort_keys=True)
    if key not in _CONVERTERS:
        _CONVERTERS[key] = converter_for(Config.from_dict(config))
    return _CONVERTERS[key]


def select_windows(n: int, cap: int | None, key: str) -> np.ndarray:
    """Indices of the windows kept for a file: all, or ``cap`` chosen by a hash of its key."""
    if cap is None or n <= cap:
        return np.arange(n, dtype=np.int32)
    return np.sort(np.random.default_rng(key_hash(key)).choice(n, cap, replace=False)).astype(np.int32)


def encode_rows(items: list[tuple[str, str, Any]], config: dict, kind: str, eval_fraction: float,
                 cap: int | None) -> pa.Table:
    """Convert (source, key, payload) items into per-file rows."""
    from raymvae.music import MidiError

    conv = converter(config)
    rows: dict[str, list] = {name: [] for name in FILE_SCHEMA.names}
    for source, key, payload in items:
        status, reason, blob, index, hist, kept, report = "ok", "", b"", b"", b"", 0, {}
        try:
            if isinstance(payload, Exception):
                raise MidiError(f"cannot read file: {payload}")
            if kind == "midi":
                windows = conv.midi_windows(bytes(payload), report)
            else:
                from note_seq.protobuf import music_pb2

                try:
                    ns = music_pb2.NoteSequence.FromString(bytes(payload))
                except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
                    raise MidiError(f"not a NoteSequence proto: {type(exc).__name__}") from exc
                windows = conv.encode_note_sequence(ns, report)
        except MidiError as exc:
            status, reason, windows = "unreadable", str(exc), None
        if windows is not None:
            if len(windows) == 0:
                status, reason = "no-windows", conv.describe_empty()
            else:
                keep = select_windows(len(windows), cap, key)
                kept = len(keep)
                blob = np.ascontiguousarray(windows[keep]).tobytes()
                index = keep.tobytes()
                hist = np.concatenate(list(conv.class_histogram(windows[keep]).values())).astype(np.int64).tobytes()
        rows["source"].append(source)
        rows["key"].append(key)
        rows["split"].append(split_of(key, eval_fraction))
        rows["status"].append(status)
        rows["reason"].append(reason)
        rows["windows"].append(kept)
        rows["notes_dropped"].append(int(report.get("notes_dropped", 0)))
        rows["data"].append(blob)
        rows["index"].append(index)
        rows["hist"].append(hist)
    return pa.Table.from_pydict(rows, schema=FILE_SCHEMA)


def read(uri: str) -> bytes | Exception:
    """A file's bytes, or the error that stopped reading it (it is then counted, not fatal)."""
    fs, path, _ = filesystem_for(uri)
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except OSError as exc:
        return exc


def encode_midi_batch(batch: dict[str, np.ndarray], config: dict, eval_fraction: float,
                       cap: int | None) -> pa.Table:
    """Read and convert a batch of MIDI files in one task (no per-file hand-off between operators)."""
    items = [(u, k, read(u)) for u, k in zip(batch["source"], batch["key"])]
    return encode_rows(items, config, "midi", eval_fraction, cap)


def tfrecord_items(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Every record of one TFRecord file as a row (source and key get ``#<record>``)."""
    fs, path, _ = filesystem_for(row["uri"])
    with fs.open_input_stream(path) as f:
        return [{"source": f"{row['uri']}#{i}", "key": f"{row['key']}#{i}", "bytes": rec}
                for i, rec in enumerate(iter_records(f, row["uri"]))]


def encode_ns_batch(batch: dict[str, np.ndarray], config: dict, eval_fraction: float,
                     cap: int | None) -> pa.Table:
    items = list(zip(batch["source"], batch["key"], batch["bytes"]))
    return encode_rows(items, config, "tfrecord", eval_fraction, cap)


def file_id(key: str) -> int:
    """A stable signed 64-bit id of a file key (an integer column trains can group by)."""
    return key_hash(key, signed=True)


def explode(batch: pa.Table, split: str, shape: tuple[int, ...], dtype: str) -> pa.Table:
    """Per-file rows of one split -> one row per window.

    Columns: flat class indices, source, window index in the file, and for
    per-epoch sampling a file id, the file's window count and the row's
    position among them.
    """
    batch = batch.filter(pc.and_(pc.equal(batch["split"], split), pc.greater(batch["windows"], 0)))
    width = int(np.prod(shape))
    data = [np.frombuffer(b, dtype) for b in batch["data"].to_pylist()]
    flat = np.concatenate(data) if data else np.zeros(0, dtype)
    counts = batch["windows"].to_numpy().astype(np.int64)
    index = np.concatenate([np.frombuffer(b, np.int32) for b in batch["index"].to_pylist()]) \
        if len(batch) else np.zeros(0, np.int32)
    ids = np.array([file_id(k) for k in batch["key"].to_pylist()], np.int64)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return pa.table({
        "windows": pa.FixedSizeListArray.from_arrays(pa.array(flat), width),
        "source": pa.array(np.repeat(np.asarray(batch["source"].to_pylist(), dtype=object), counts),
                           pa.string()),
        "window_index": pa.array(index, pa.int32()),
        "file_id": pa.array(np.repeat(ids, counts), pa.int64()),
        "file_windows": pa.array(np.repeat(counts, counts).astype(np.int32), pa.int32()),
        "file_position": pa.array((np.arange(len(index)) - starts).astype(np.int32), pa.int32()),
    })
