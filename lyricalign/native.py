"""The compiled kernels of ``lyricalign/_kernels.c``, loaded with ctypes, and the choice between them and numba.

Why C beside numba: a CLI run is one song, and numba costs about 0.8 s of every process before its
first kernel returns (0.4 s to import, 0.4 s for its typing registries on the first call, all of it
holding the GIL), a quarter of a dev song's alignment. The C library loads in a millisecond. The
numba versions stay, in the modules that call these kernels, as the fallback when the library was not
built (no C compiler at install time: ``setup.py`` marks the extension optional) and as the tests'
reference (``tests/test_native.py``: the same results, bit for bit for the Viterbi kernels).

:func:`kernel` picks one per call site at import: the C kernel when the library loads and
``LYRICALIGN_KERNELS`` is not ``numba``, else the numba function. Each wrapper here takes the numba
kernel's arguments in the same order and checks what C needs (dtype, contiguity, sizes): a wrong
array raises ``TypeError``/``ValueError`` instead of reading out of bounds.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
from typing import Callable

import numpy as np

logger = logging.getLogger(__name__)

ENV_VAR = "LYRICALIGN_KERNELS"  # "numba": use the numba kernels even when the C library is built
ABI_VERSION = 2  # la_abi_version() of the library this module was written for

_i64, _f64, _int = ctypes.c_int64, ctypes.c_double, ctypes.c_int
_ptr = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[type | None, list]] = {
    "la_viterbi_forward": (_int, [_ptr, _ptr, _i64, _i64, _f64, _ptr, _ptr, _ptr, _i64, _ptr, _ptr, _ptr, _ptr,
                                  _i64, _ptr, _i64, _ptr, _i64, _int, _int]),
    "la_viterbi_backtrace": (_int, [_ptr, _i64, _i64, _ptr, _i64, _ptr, _ptr, _ptr, _i64, _i64, _ptr]),
    "la_loop_forward": (_int, [_ptr, _ptr, _i64, _i64, _f64, _ptr, _i64, _i64, _ptr, _f64, _int]),
    "la_noise_track": (None, [_ptr, _i64, _i64, _f64, _f64, _f64, _f64] + [_ptr] * 8),
    "la_path_mixtures": (_int, [_ptr, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _i64, _int, _ptr,
                                _ptr, _ptr]),
    "la_s3_checksum": (ctypes.c_uint32, [_ptr, _i64]),
}


def _load() -> ctypes.CDLL | None:
    """The library, or None (logged) when it is not built, not loadable or of another ABI."""
    spec = importlib.util.find_spec("lyricalign._kernels")
    if spec is None or not spec.origin:
        logger.debug("lyricalign._kernels is not built: the numba kernels are used")
        return None
    try:
        lib = ctypes.CDLL(spec.origin)
        version = lib.la_abi_version()
        if version != ABI_VERSION:
            logger.warning("%s is ABI %d, this lyricalign needs %d (rebuild it: pip install -e .): using numba",
                           spec.origin, version, ABI_VERSION)
            return None
        for name, (result, args) in _SIGNATURES.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = result, args
    except (OSError, AttributeError) as e:  # unloadable, or a stale build missing a kernel
        logger.warning("cannot use %s (%s): using the numba kernels", spec.origin, e)
        return None
    return lib


LIBRARY = _load()


def enabled() -> bool:
    """Whether call sites get the C kernels (the library loaded and ``LYRICALIGN_KERNELS`` is not ``numba``)."""
    return LIBRARY is not None and os.environ.get(ENV_VAR, "").strip().lower() != "numba"


def kernel(c_version: Callable, numba_version: Callable) -> Callable:
    """``c_version`` when :func:`enabled`, else ``numba_version`` (same arguments, same effect)."""
    return c_version if enabled() else numba_version


def _array(a: np.ndarray, dtype, name: str, writable: bool = False) -> int:
    """The address of ``a``'s data, after checking that C can use it as ``dtype`` in place."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype or not a.flags.c_contiguous:
        got = f"{a.dtype} {'contiguous' if a.flags.c_contiguous else 'strided'}" if isinstance(a, np.ndarray) \
            else type(a).__name__
        raise TypeError(f"{name} must be a C-contiguous {np.dtype(dtype)} array, got {got}")
    if writable and not a.flags.writeable:
        raise ValueError(f"{name} must be writable")
    return a.ctypes.data


def _check_index(values: np.ndarray, bound: int, name: str) -> None:
    if len(values) and (int(values.min()) < 0 or int(values.max()) >= bound):
        raise ValueError(f"{name} holds indices outside [0, {bound})")


def _ok(status: int, what: str) -> None:
    if status != 0:
        raise MemoryError(f"{what}: out of memory")


def check_jump_tables(n: int, jump_start: np.ndarray, jump_source: np.ndarray,
                      jump_logp: np.ndarray | None = None) -> None:
    """The jump tables of a graph of ``n`` states: ``jump_start`` ``(N + 1,)`` non-decreasing from 0 to the
    number of jumps ``J``, ``jump_source`` ``(J,)`` states in ``[0, N)``, ``jump_logp`` ``(J,)`` (None: not
    checked). :class:`~lyricalign.align.hmm_viterbi.HMMGraph` checks its own once; the C wrappers check
    again because C trusts them (O(N + J), small beside a block's B x N)."""
    if jump_start.shape != (n + 1,) or int(jump_start[0]) != 0 or np.any(np.diff(jump_start) < 0):
        raise ValueError("jump_start must be (N + 1,) non-decreasing from 0")
    n_jumps = int(jump_start[-1])
    if jump_source.shape != (n_jumps,) or (jump_logp is not None and jump_logp.shape != (n_jumps,)):
        raise ValueError(f"jump_source and jump_logp must have jump_start[-1] = {n_jumps} entries")
    _check_index(jump_source, n, "jump_source")


def viterbi_forward(d, scores, scale, emission, self_logp, next_logp, jump_start, jump_source, jump_logp,
                    jump_targets, advanced, jumped, first, record):
    """C twin of ``hmm_viterbi._forward_block`` (its docstring has the arguments); returns ``d``."""
    n = len(emission)
    if d.shape != (n + 1,) or scores.ndim != 2 or emission.shape != (n,) or self_logp.shape != (n,) \
            or next_logp.shape != (n,) or jump_targets.ndim != 1:
        raise ValueError("viterbi_forward: inconsistent shapes")
    _check_index(emission, scores.shape[1], "emission")
    _check_index(jump_targets, n, "jump_targets")
    check_jump_tables(n, jump_start, jump_source, jump_logp)
    if record and (advanced.shape != (len(scores), (n + 7) // 8) or jumped.shape[0] != len(scores)
                   or 2 * jumped.shape[1] < len(jump_targets)):
        raise ValueError("viterbi_forward: back-pointer rows do not fit the block")
    status = LIBRARY.la_viterbi_forward(
        _array(d, np.float64, "d", True), _array(scores, np.float32, "scores"), len(scores), scores.shape[1],
        float(scale), _array(emission, np.int32, "emission"), _array(self_logp, np.float64, "self_logp"),
        _array(next_logp, np.float64, "next_logp"), n, _array(jump_start, np.int32, "jump_start"),
        _array(jump_source, np.int32, "jump_source"), _array(jump_logp, np.float64, "jump_logp"),
        _array(jump_targets, np.int64, "jump_targets"), len(jump_targets),
        _array(advanced, np.uint8, "advanced", True) if record else None, advanced.shape[1] if record else 0,
        _array(jumped, np.uint8, "jumped", True) if record else None, jumped.shape[1] if record else 0,
        int(bool(first)), int(bool(record)))
    _ok(status, "viterbi_forward")
    return d


def viterbi_backtrace(advanced, jumped, jump_slot, jump_start, jump_source, last):
    """C twin of ``hmm_viterbi._backtrace``: the ``(T,)`` int32 states ending in state ``last``."""
    n = len(jump_slot)
    if not 0 <= last < n or advanced.ndim != 2 or advanced.shape[1] != (n + 7) // 8 \
            or jumped.ndim != 2 or jumped.shape[0] != advanced.shape[0] or jump_slot.shape != (n,):
        raise ValueError("viterbi_backtrace: inconsistent shapes")
    check_jump_tables(n, jump_start, jump_source)
    if len(jump_slot) and (int(jump_slot.min()) < -1 or int(jump_slot.max()) >= 2 * jumped.shape[1]):
        raise ValueError("jump_slot holds slots outside the back-pointer rows")
    states = np.empty(advanced.shape[0], dtype=np.int32)
    status = LIBRARY.la_viterbi_backtrace(
        _array(advanced, np.uint8, "advanced"), advanced.shape[0], advanced.shape[1],
        _array(jumped, np.uint8, "jumped"), jumped.shape[1], _array(jump_slot, np.int64, "jump_slot"),
        _array(jump_start, np.int32, "jump_start"), _array(jump_source, np.int32, "jump_source"), n, int(last),
        _array(states, np.int32, "states", True))
    if status != 0:
        raise ValueError("viterbi_backtrace: the back-pointers lead outside the graph")
    return states


def loop_forward(delta, scores, scale, columns, tmat, entry, first):
    """C twin of ``forward._loop_block``; returns ``delta``."""
    n_phones, n_states = columns.shape
    if delta.shape != (n_phones, n_states) or tmat.shape != (n_phones, n_states, n_states + 1) or scores.ndim != 2:
        raise ValueError("loop_forward: inconsistent shapes")
    _check_index(columns.reshape(-1), scores.shape[1], "columns")
    status = LIBRARY.la_loop_forward(
        _array(delta, np.float64, "delta", True), _array(scores, np.float32, "scores"), len(scores),
        scores.shape[1], float(scale), _array(columns, np.int64, "columns"), n_phones, n_states,
        _array(tmat, np.float64, "tmat"), float(entry), int(bool(first)))
    _ok(status, "loop_forward")
    return delta


def noise_track(mel, power, noise, floor, peak, out_power, out_signal, out_floor, out_decayed, constants):
    """C twin of ``noise_removal._track``; ``constants`` = (lambda_power, lambda_a, lambda_b, lambda_t)."""
    n, width = mel.shape
    if any(a.shape != (width,) for a in (power, noise, floor, peak)) \
            or any(a.shape != (n, width) for a in (out_power, out_signal, out_floor, out_decayed)):
        raise ValueError("noise_track: inconsistent shapes")
    LIBRARY.la_noise_track(
        _array(mel, np.float64, "mel"), n, width, *map(float, constants),
        *(_array(a, np.float64, name, True) for a, name in ((power, "power"), (noise, "noise"), (floor, "floor"),
                                                            (peak, "peak"), (out_power, "out_power"),
                                                            (out_signal, "out_signal"), (out_floor, "out_floor"),
                                                            (out_decayed, "out_decayed"))))


def path_mixtures(x, books, senones, mu, precision, log_norm, log_weights, statistics, log_likelihood, count,
                  total):
    """C twin of ``path_kernel._kernel``."""
    n_frames, n_streams, dim = x.shape
    n_books, _, n_dens, _ = mu.shape
    if mu.shape != (n_books, n_streams, n_dens, dim) or precision.shape != mu.shape \
            or log_norm.shape != mu.shape[:3] or log_weights.shape[1:] != (n_streams, n_dens) \
            or books.shape != (n_frames,) or senones.shape != (n_frames,) or log_likelihood.shape != (n_frames,):
        raise ValueError("path_mixtures: inconsistent shapes")
    if statistics and (count.shape != mu.shape[:3] or total.shape != mu.shape):
        raise ValueError("path_mixtures: statistics arrays do not fit the model")
    _check_index(books, n_books, "books")
    _check_index(senones, len(log_weights), "senones")
    status = LIBRARY.la_path_mixtures(
        _array(x, np.float64, "x"), n_frames, n_streams, dim, _array(books, np.int64, "books"),
        _array(senones, np.int64, "senones"), _array(mu, np.float64, "mu"),
        _array(precision, np.float64, "precision"), _array(log_norm, np.float64, "log_norm"),
        _array(log_weights, np.float64, "log_weights"), n_dens, int(bool(statistics)),
        _array(log_likelihood, np.float64, "log_likelihood", True),
        _array(count, np.float64, "count", True) if statistics else None,
        _array(total, np.float64, "total", True) if statistics else None)
    _ok(status, "path_mixtures")


def s3_checksum(words):
    """C twin of ``s3_checksum._kernel``: ``words`` ``(n,)`` uint32."""
    return int(LIBRARY.la_s3_checksum(_array(words, np.uint32, "words"), len(words)))
