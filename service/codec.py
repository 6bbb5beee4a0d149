"""Compact array transport for the batchable endpoint: one base64 ``.npy`` string per window.

BentoML's in-process call path (``self.to_async``) serialises with JSON; a ``numpy`` argument
becomes a list of floats, which costs far more than the model for long windows
(``benchmarks/bench_batching.py`` prints both). Base64 of the ``.npy`` bytes keeps dtype and
shape, is 4/3 of the raw size and encodes at memory speed.
"""

from __future__ import annotations

import base64
import io

import numpy as np


def encode_array(array: np.ndarray) -> str:
    """Any array -> base64 text of its ``.npy`` serialisation (dtype and shape included)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_array(text: str) -> np.ndarray:
    """Inverse of :func:`encode_array`; raises ValueError on anything else."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError, UnicodeEncodeError) as e:
        raise ValueError(f"not an encoded array: {e}") from e


def encode_arrays(**arrays: np.ndarray) -> str:
    """Several named arrays -> base64 text of one uncompressed ``.npz``."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.ascontiguousarray(a) for name, a in arrays.items()})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_arrays(text: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Inverse of :func:`encode_arrays`, requiring exactly ``names``; raises ValueError on anything else."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            if set(archive.files) != set(names):
                raise ValueError(f"expected arrays {sorted(names)}, got {sorted(archive.files)}")
            return {name: archive[name] for name in names}
    except (OSError, EOFError, UnicodeEncodeError, KeyError) as e:
        raise ValueError(f"not encoded arrays: {e}") from e
