"""The IDX file format of MNIST and Fashion-MNIST: a magic number, big-endian dims, raw bytes."""

from __future__ import annotations

import struct

import numpy as np

from dlrepro.data.sources import DataError

UBYTE = 0x08


def parse_idx(payload: bytes, origin: str, shape: tuple[int, ...]) -> np.ndarray:
    """Parse an unsigned-byte IDX payload and check that it has exactly the expected shape."""
    if len(payload) < 4:
        raise DataError(f"{origin}: too short for an IDX file ({len(payload)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", payload[:4])
    if zero != 0 or dtype != UBYTE or ndim != len(shape):
        expected = (UBYTE << 8) | len(shape)
        found = struct.unpack(">I", payload[:4])[0]
        raise DataError(f"{origin}: wrong IDX magic number {found:#010x}, expected {expected:#010x} "
                        f"(unsigned bytes, {len(shape)} dimensions)")
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", payload[4:header]) if len(payload) >= header else ()
    if tuple(dims) != tuple(shape):
        raise DataError(f"{origin}: wrong IDX shape {tuple(dims)}, expected {tuple(shape)}")
    expected_len = header + int(np.prod(shape))
    if len(payload) != expected_len:
        raise DataError(f"{origin}: IDX payload is {len(payload)} bytes, expected {expected_len} "
                        "(truncated or padded)")
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(shape).copy()
