"""``njit`` for the core's compiled kernels: numba's when installed (it is a dependency), else a no-op.

Kernels are compiled with ``cache=True`` (into ``__pycache__``), so a process after the first loads
them instead of compiling; without numba they run as plain (slow) Python, which the tests still pass.

Start-up: numba's CPU target, on its first compilation or cache load, imports
``numba.np.arraymath``, whose module-level probe for a BLAS imports ``scipy.linalg`` (0.3 s of a
CLI run, most of it SciPy's array-API shims cloning numpy). None of our kernels calls BLAS, so
:func:`_skip_blas_probe` imports that module once with the probe answering "no BLAS". The probe's
only use is to pick a BLAS inner product for ``np.convolve``/``np.correlate`` in compiled code;
``np.dot`` and ``np.linalg`` in compiled code check for BLAS themselves when they are compiled, and
still find it (``tests/test_jit.py``).
"""

from __future__ import annotations

import logging

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


try:
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without numba
    def njit(*_args, **_kwargs):
        return lambda f: f
else:
    _skip_blas_probe()

__all__ = ["njit"]
