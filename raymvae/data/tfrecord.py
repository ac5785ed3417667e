"""Read (and write) TFRecord files without TensorFlow.

Magenta stores datasets as TFRecord files of serialized NoteSequence protos.
A record is: uint64 length, uint32 masked CRC-32C of the length, the bytes,
uint32 masked CRC-32C of the bytes (little-endian). CRCs are checked so a
corrupt file fails loudly instead of yielding garbage.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

from raymvae.checksum import masked_crc32c


class TFRecordError(ValueError):
    """A TFRecord file is truncated or fails its checksums."""


def iter_records(stream: BinaryIO, name: str = "<stream>") -> Iterator[bytes]:
    """Yield each record's bytes; TFRecordError on truncation or a bad checksum."""
    index = 0
    while True:
        header = stream.read(12)
        if not header:
            return
        if len(header) < 12:
            raise TFRecordError(f"{name}: record {index} has a truncated header")
        length, length_crc = struct.unpack("<QI", header)
        if masked_crc32c(header[:8]) != length_crc:
            raise TFRecordError(f"{name}: record {index} has a corrupt length (CRC mismatch)")
        data = stream.read(length)
        footer = stream.read(4)
        if len(data) < length or len(footer) < 4:
            raise TFRecordError(f"{name}: record {index} is truncated")
        if masked_crc32c(data) != struct.unpack("<I", footer)[0]:
            raise TFRecordError(f"{name}: record {index} fails its data CRC")
        yield data
        index += 1


def write_records(stream: BinaryIO, records: list[bytes]) -> None:
    """Write records in TFRecord framing (used to make test fixtures and exports)."""
    for data in records:
        header = struct.pack("<Q", len(data))
        stream.write(header + struct.pack("<I", masked_crc32c(header)) + data
                     + struct.pack("<I", masked_crc32c(data)))
