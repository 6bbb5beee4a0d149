"""Loading DALI's gzip-compressed pickles without running code from the internet.

``pickle.load`` imports and calls whatever a file names (``os.system`` via ``__reduce__``...).
:class:`DaliUnpickler` resolves globals from a fixed allow-list instead:

- ``DALI.Annotations.Annotations`` -> :class:`AnnotationsRecord`, a plain class (the DALI package
  is never imported). DALI writes with ``pickle.dumps(obj, protocol=2)``; protocol 2 rebuilds an
  object with ``cls.__new__(cls)`` + ``__dict__.update(state)``, so a plain class is enough.
- numpy numeric scalars (``numpy.core.multiarray.scalar`` / ``numpy._core.multiarray.scalar`` and
  ``numpy.dtype``): DALI computes times with numpy (``np.round(...).astype(int)`` in its
  ``time2beat``), so values in its files may be numpy scalars. Only bool/int/uint/float dtypes are
  accepted and scalars come back as Python numbers; object dtypes (which could hold code) are refused.
- ``_codecs.encode(text, "latin1")``: how protocol 2 spells ``bytes`` (a numpy scalar's payload)
  when written by Python 3; only that one codec is accepted.

Everything else -- any other module or name -- raises :class:`DatasetError` naming the file.

Allocation is bounded too. The file is decompressed first, at most :data:`MAX_PICKLE_BYTES`
(a DALI song is well under 10 MB), and unpickled from memory: a length field can then only make
the unpickler reserve memory it never fills (a string declared as 2^60 bytes is a ``MemoryError``
at once, a smaller lie a "truncated" error), never read more than the file holds. Either way, and
for absurd nesting (``RecursionError``), the file is a :class:`DatasetError`, skipped like any
other unreadable one.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path
from typing import Any, Callable

from lyricalign.errors import DatasetError

_NUMERIC_DTYPE_KINDS = frozenset("biuf")
MAX_PICKLE_BYTES = 256 * 1024 * 1024  # decompressed; DALI's largest songs are a few MB


class AnnotationsRecord:
    """Stand-in for ``DALI.Annotations.Annotations``: holds ``info``, ``annotations``, ``errors``."""

    info: dict
    annotations: dict


def _numeric_dtype(spec: Any, align: bool = False, copy: bool = False) -> Any:
    import numpy as np

    if not isinstance(spec, str):
        raise pickle.UnpicklingError(f"numpy dtype spec {spec!r} is not a string")
    dtype = np.dtype(spec)
    if dtype.kind not in _NUMERIC_DTYPE_KINDS:
        raise pickle.UnpicklingError(f"numpy dtype {spec!r} is not numeric")
    return dtype


def _numeric_scalar(dtype: Any, data: Any = None) -> Any:
    import numpy as np

    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_DTYPE_KINDS:
        raise pickle.UnpicklingError("numpy scalar of a non-numeric dtype")
    if isinstance(data, str):  # a Python 2 ``str``, decoded with surrogateescape below
        data = data.encode("utf-8", "surrogateescape")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar with malformed data")
    return np.frombuffer(data, dtype=dtype)[0].item()


def _latin1_bytes(text: Any, encoding: str = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("DALI.Annotations", "Annotations"): AnnotationsRecord,
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "dtype"): _numeric_dtype,
    ("numpy.core.multiarray", "scalar"): _numeric_scalar,
    ("numpy._core.multiarray", "scalar"): _numeric_scalar,
}


class DaliUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals listed in this module's docstring."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load global {module}.{name}") from None


def load_gzip_pickle(path: Path) -> Any:
    """Decompress and safely unpickle ``path``.

    Python 2 ``str`` objects (DALI's first releases) are decoded as UTF-8; undecodable bytes are
    kept with ``surrogateescape`` so numpy scalar payloads survive bit-exact.

    Raises:
        DatasetError: unreadable file, not gzip, not a pickle, or a refused global.
    """
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read(MAX_PICKLE_BYTES + 1)
        if len(data) > MAX_PICKLE_BYTES:
            raise DatasetError(f"{path}: decompresses to over {MAX_PICKLE_BYTES // 2**20} MiB, not a DALI song")
        return DaliUnpickler(io.BytesIO(data), encoding="utf-8", errors="surrogateescape").load()
    except pickle.UnpicklingError as e:
        raise DatasetError(f"{path}: unsafe or malformed pickle ({e})") from e
    except MemoryError as e:
        raise DatasetError(f"{path}: malformed pickle (declares more data than it holds)") from e
    except RecursionError as e:
        raise DatasetError(f"{path}: malformed pickle (nested too deeply)") from e
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DatasetError(f"{path}: not a readable gzip-compressed pickle ({e})") from e
