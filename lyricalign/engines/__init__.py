"""Alignment methods, created by name. Imports are lazy so ``align`` loads only what it uses."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import EngineUnavailableError, LyricalignError
from .base import Engine, EngineOutput, PreparedAudio

#: name -> "module:Class"; each module is imported only when its engine is created.
ENGINES: dict[str, str] = {
    "ctc": "lyricalign.engines.ctc:CTCEngine",
    "hmm": "lyricalign.engines.hmm:HMMEngine",
    "sphinx": "lyricalign.engines.sphinx:SphinxEngine",
    "dtw": "lyricalign.engines.dtw:DTWEngine",
    "uniform": "lyricalign.engines.uniform:UniformEngine",
}
#: The most accurate method measured on real songs (docs/benchmarks.md).
DEFAULT_METHOD = "hmm"


def check_method(name: str) -> str:
    """``name`` if it is a known method, else a LyricalignError listing the choices."""
    if name not in ENGINES:
        raise LyricalignError(f"unknown method {name!r} (choose from: {', '.join(sorted(ENGINES))})")
    return name


def create_engine(name: str, **options: Any) -> Engine:
    """Instantiate engine ``name`` with engine-specific ``options`` (e.g. ``model=`` for ctc)."""
    module_name, class_name = ENGINES[check_method(name)].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise EngineUnavailableError(f"method {name!r} needs a package that is not installed: {e.name}") from e
    return getattr(module, class_name)(**options)


__all__ = ["DEFAULT_METHOD", "ENGINES", "Engine", "EngineOutput", "PreparedAudio", "check_method", "create_engine"]
