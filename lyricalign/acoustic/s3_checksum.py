"""Sphinx's s3 file checksum, compiled (C, or numba without the C library: :mod:`lyricalign.native`)."""

from __future__ import annotations

import numpy as np

from .. import native
from ..jit import njit


def checksum(words: np.ndarray) -> int:
    """``sum = rotl32(sum, 20) + w`` (mod 2^32) over ``words`` (int32 values, any byte order) as unsigned."""
    return int(_kernel(_unsigned(words)))


def _unsigned(words: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(words, dtype=np.int32).view(np.uint32)  # native order, then reinterpreted


def checksum_reference(words: np.ndarray) -> int:
    """The same in plain Python (the tests' oracle)."""
    total = 0
    for w in _unsigned(words).tolist():
        total = ((((total << 20) | (total >> 12)) & 0xFFFFFFFF) + w) & 0xFFFFFFFF
    return total


@njit(cache=True)
def _kernel_numba(words):  # pragma: no cover - compiled
    total = np.uint64(0)
    mask = np.uint64(0xFFFFFFFF)
    for w in words:
        total = ((((total << np.uint64(20)) | (total >> np.uint64(12))) & mask) + np.uint64(w)) & mask
    return total


_kernel = native.kernel(native.s3_checksum, _kernel_numba)  # C when built (lyricalign.native)
