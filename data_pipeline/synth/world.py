"""Import of the WORLD vocoder (``pyworld``).

pyworld 0.3.5's ``__init__`` imports ``pkg_resources`` only to read its own version, and
setuptools >= 81 no longer ships ``pkg_resources``. When that import is what fails, the compiled
extension ``pyworld/pyworld*.so`` (which needs nothing from the package ``__init__``) is loaded
directly. Any other failure is reported as :class:`EngineUnavailableError`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from lyricalign.errors import EngineUnavailableError

INSTALL_HINT = "synthetic singing needs pyworld: pip install 'lyricalign[data]'"


@lru_cache(maxsize=1)
def pyworld() -> ModuleType:
    try:
        import pyworld as module

        return module
    except ModuleNotFoundError as e:
        if e.name != "pkg_resources":
            raise EngineUnavailableError(INSTALL_HINT) from e
        return _load_extension(e)


def _load_extension(cause: Exception) -> ModuleType:
    spec = importlib.util.find_spec("pyworld")  # locates the package without executing __init__
    folders = list(spec.submodule_search_locations or []) if spec else []
    candidates = [p for folder in folders for p in Path(folder).glob("pyworld*.so")]
    if not candidates:
        raise EngineUnavailableError(INSTALL_HINT) from cause
    loader = importlib.machinery.ExtensionFileLoader("pyworld.pyworld", str(candidates[0]))
    ext_spec = importlib.util.spec_from_file_location("pyworld.pyworld", candidates[0], loader=loader)
    module = importlib.util.module_from_spec(ext_spec)
    loader.exec_module(module)
    return module
