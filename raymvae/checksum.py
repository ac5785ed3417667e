"""CRC-32C (Castagnoli) with TensorFlow's masking, compiled: TFRecord framing and TF checkpoints use it."""
from __future__ import annotations

import numpy as np
from numba import njit


def _crc_table() -> np.ndarray:
    table = np.zeros(256, np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table


_TABLE = _crc_table()


@njit(cache=True)
def _crc32c(data: np.ndarray, table: np.ndarray) -> np.uint32:
    crc = np.uint32(0xFFFFFFFF)
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> np.uint32(8))
    return crc ^ np.uint32(0xFFFFFFFF)


def crc32c(data: bytes) -> int:
    """Plain CRC-32C of ``data``."""
    return int(_crc32c(np.frombuffer(data, np.uint8), _TABLE))


def masked_crc32c(data: bytes) -> int:
    """TensorFlow's masked CRC-32C (rotate right 15, add a constant)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
