"""lyricalign.jit: the compiled kernels load without SciPy's linear algebra, which compiled BLAS code still finds."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")


def _run(code: str) -> str:
    # The numba kernels even where the C ones are built (lyricalign.native): they are what this file tests.
    env = {**os.environ, "LYRICALIGN_KERNELS": "numba"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True,
                         env=env)
    return out.stdout.strip()


def test_a_kernel_loads_without_importing_scipy_linalg() -> None:
    code = ("import sys, numpy as np; from lyricalign.acoustic.s3_checksum import checksum, checksum_reference;"
            "words = np.arange(1000, dtype=np.int32); assert checksum(words) == checksum_reference(words);"
            "print('scipy.linalg' in sys.modules)")
    assert _run(code) == "False"


def test_importing_a_kernel_module_does_not_import_numba() -> None:
    code = ("import sys; import lyricalign.acoustic.s3_checksum as m; a = 'numba' in sys.modules;"
            "import numpy as np; m.checksum(np.arange(3, dtype=np.int32)); print(a, 'numba' in sys.modules)")
    assert _run(code) == "False True"  # compiled (here: numba, as the variable asks) on the first call


def test_compiled_blas_code_still_finds_blas_after_the_probe_was_skipped() -> None:
    code = ("import sys, numpy as np; import lyricalign.jit; from numba import njit;"
            "f = njit(lambda a, b: np.dot(a, b)); a = np.arange(6.0).reshape(2, 3);"
            "assert np.allclose(f(a, a.T), a @ a.T); print('scipy.linalg' in sys.modules)")
    assert _run(code) == "True"  # np.dot's own check imported SciPy's BLAS when it compiled
