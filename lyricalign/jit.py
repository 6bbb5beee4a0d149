"""``njit`` for the core's numba kernels: compiled on their first call, so that importing a module costs nothing.

The hmm engine runs the C twins of these kernels (:mod:`lyricalign.native`) when the C library is
built; the numba versions are the fallback and the tests' reference. So numba is imported only when a
numba kernel is first called (``import numba`` alone is 0.4 s of a CLI run). Kernels are compiled with
``cache=True`` (into ``__pycache__``); without numba they run as plain (slow) Python. A kernel does
not call another kernel (numba would see the lazy wrapper, not a compiled function).

Start-up: numba's CPU target, on its first compilation or cache load, imports
``numba.np.arraymath``, whose module-level probe for a BLAS imports ``scipy.linalg`` (0.3 s of a
CLI run, most of it SciPy's array-API shims cloning numpy). None of our kernels calls BLAS, so
:func:`_skip_blas_probe` imports that module once with the probe answering "no BLAS". The probe's
only use is to pick a BLAS inner product for ``np.convolve``/``np.correlate`` in compiled code;
``np.dot`` and ``np.linalg`` in compiled code check for BLAS themselves when they are compiled, and
still find it (``tests/test_jit.py``).
"""

from __future__ import annotations

import functools
import logging
import threading

logger = logging.getLogger(__name__)


def _skip_blas_probe() -> None:
    import sys

    if "numba.np.arraymath" in sys.modules:
        return  # the probe already ran
    try:
        import numba.np.linalg as numba_linalg

        probe = numba_linalg.ensure_blas

        def no_blas() -> None:
            raise ImportError("lyricalign's kernels call no BLAS")

        numba_linalg.ensure_blas = no_blas
        try:
            import numba.np.arraymath as arraymath
        finally:
            numba_linalg.ensure_blas = probe
        arraymath.ensure_blas = probe
    except Exception as e:  # noqa: BLE001 - another numba layout: only the start-up saving is lost
        logger.debug("numba's BLAS probe left as it is: %s", e)


class LazyKernel:
    """A function compiled by ``numba.njit(**options)`` on its first call (plain Python without numba)."""

    def __init__(self, py_func, options: dict) -> None:
        self.py_func = py_func
        self.options = options
        self._compiled = None
        self._lock = threading.Lock()
        functools.update_wrapper(self, py_func)

    def compiled(self):
        """numba's dispatcher (imports numba the first time), or the Python function without numba."""
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = _compile(self.py_func, self.options)
        return self._compiled

    def __call__(self, *args, **kwargs):
        return self.compiled()(*args, **kwargs)


_COMPILING = threading.Lock()  # one first compilation at a time: _skip_blas_probe patches numba's module


def _compile(py_func, options: dict):
    with _COMPILING:
        return _compile_now(py_func, options)


def _compile_now(py_func, options: dict):
    try:
        import numba
    except ImportError:  # pragma: no cover - exercised only without numba
        logger.warning("numba is not installed: %s runs as plain Python (slow)", py_func.__name__)
        return py_func
    _skip_blas_probe()
    return numba.njit(**options)(py_func)


def njit(**options):
    """``@njit(cache=True, ...)``: numba's decorator, applied on the first call (:class:`LazyKernel`)."""
    return lambda py_func: LazyKernel(py_func, options)


__all__ = ["LazyKernel", "njit"]
