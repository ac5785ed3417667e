"""Read TensorFlow V2 checkpoints (``.index`` + ``.data-*``) with numpy only, no TensorFlow.

The ``.index`` file is a LevelDB-format table (uncompressed blocks) mapping
each variable name to a BundleEntryProto: dtype, shape, shard, offset, size
and a masked CRC-32C of the bytes. The ``.data-NNNNN-of-MMMMM`` shards hold
the raw little-endian tensor bytes. Protobufs are decoded by hand (the wire
format is simple and only a few fields matter).
"""
from __future__ import annotations

import struct
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from raymvae.checksum import masked_crc32c

_TABLE_MAGIC = 0xDB4775248B80FB57
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
           10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}


class CheckpointFormatError(ValueError):
    """A file is not a readable TensorFlow V2 checkpoint."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointFormatError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message: varints as int, length-delimited as bytes."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise CheckpointFormatError(f"unsupported protobuf wire type {wire}")
        out.append((field, value))
    return out


def _block_entries(data: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """Key/value pairs of one table block (prefix-compressed keys, restart array at the end)."""
    block = data[offset:offset + size]
    if data[offset + size] != 0:
        raise CheckpointFormatError("compressed checkpoint index blocks are not supported")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    entries, pos, key = [], 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos:pos + value_len]))
        pos += value_len
    return entries


def _read_index(path: Path) -> dict[str, bytes]:
    data = path.read_bytes()
    if len(data) < 48 or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise CheckpointFormatError(f"{path} is not a TensorFlow checkpoint index (bad table magic)")
    footer = data[-48:]
    _, pos = _varint(footer, 0)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    table = {}
    for _, handle in _block_entries(data, index_offset, index_size):
        off, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block_entries(data, off, size):
            table[key.decode("utf-8")] = value
    return table


def checkpoint_prefix(path: str | Path, workdir: str | Path | None = None) -> Path:
    """The checkpoint prefix for a prefix, a folder holding one checkpoint, or Magenta's ``.tar``.

    A tar is unpacked into ``workdir`` (a new temporary folder by default).
    """
    p = Path(path)
    if p.is_file() and tarfile.is_tarfile(p):
        target = Path(workdir or tempfile.mkdtemp(prefix="raymvae-ckpt-"))
        with tarfile.open(p) as tar:
            tar.extractall(target, filter="data")
        return checkpoint_prefix(target)
    if p.is_dir():
        found = sorted(p.rglob("*.index"))
        if len(found) != 1:
            raise FileNotFoundError(f"{p} holds {len(found)} checkpoint .index files; point at one prefix")
        return found[0].with_suffix("")
    if Path(f"{p}.index").exists():
        return p
    if p.suffix == ".index" and p.exists():
        return p.with_suffix("")
    raise FileNotFoundError(f"no TensorFlow checkpoint at {path} (expected PREFIX.index + PREFIX.data-*)")


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a TF V2 checkpoint by variable name (CRCs checked)."""
    prefix = checkpoint_prefix(path)
    table = _read_index(Path(f"{prefix}.index"))
    header = dict(_fields(table.pop("", b"")))
    num_shards = int(header.get(1, 1))
    shards: dict[int, bytes] = {}
    out = {}
    for name, raw in sorted(table.items()):
        entry: dict[int, list] = {}
        for field, value in _fields(raw):
            entry.setdefault(field, []).append(value)
        if 7 in entry:
            raise CheckpointFormatError(f"{name}: partitioned (sliced) variables are not supported")
        dtype_code = entry.get(1, [0])[0]
        if dtype_code not in _DTYPES:
            continue  # strings and other non-numeric entries are not model weights
        dims = [int(dict(_fields(d)).get(1, 0)) for f, d in _fields(entry.get(2, [b""])[0]) if f == 2]
        shard, offset, size = entry.get(3, [0])[0], entry.get(4, [0])[0], entry.get(5, [0])[0]
        if shard not in shards:
            shards[shard] = Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}").read_bytes()
        blob = shards[shard][offset:offset + size]
        if len(blob) != size:
            raise CheckpointFormatError(f"{name}: data shard {shard} is truncated")
        if 6 in entry and masked_crc32c(blob) != entry[6][0]:
            raise CheckpointFormatError(f"{name}: checksum mismatch in the data shard (corrupt checkpoint)")
        out[name] = np.frombuffer(blob, _DTYPES[dtype_code]).reshape(dims).copy()
    return out
