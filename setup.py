"""The compiled kernels (``lyricalign/_kernels.c``); everything else is in ``pyproject.toml``.

``optional=True``: without a C compiler the install still succeeds and the kernels run through numba
(a slower start-up: ``lyricalign.native``).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# No fused multiply-adds (they would change the front end's rounding); -O3 vectorises the Viterbi loops.
GCC_LIKE_FLAGS = ["-O3", "-ffp-contract=off", "-fvisibility=hidden", "-std=c99"]


class BuildKernels(build_ext):
    def build_extensions(self) -> None:
        if self.compiler.compiler_type == "unix":
            for ext in self.extensions:
                ext.extra_compile_args = GCC_LIKE_FLAGS
        super().build_extensions()


setup(
    ext_modules=[Extension("lyricalign._kernels", ["lyricalign/_kernels.c"], optional=True)],
    cmdclass={"build_ext": BuildKernels},
)
