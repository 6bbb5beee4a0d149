"""``njit`` for the core's compiled kernels: numba's when installed (it is a dependency), else a no-op.

Kernels are compiled with ``cache=True`` (into ``__pycache__``), so a process after the first loads
them instead of compiling; without numba they run as plain (slow) Python, which the tests still pass.
"""

from __future__ import annotations

try:
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without numba
    def njit(*_args, **_kwargs):
        return lambda f: f

__all__ = ["njit"]
