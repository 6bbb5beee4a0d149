"""A tiny randomly initialised wav2vec2 CTC model exported to ONNX, for tests (about a second).

``make_tiny_onnx_model(directory)`` is the shared entry point (other areas' tests use it); the
session fixtures ``tiny_model`` and ``local_model`` (tests/conftest.py) wrap it.
Its alignments are meaningless (random weights) but every shape, file format and code path is real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

#: Same as the "tiny" preset but without attention: every output frame depends only on nearby
#: samples (conv stack + 16-frame positional conv), so windowed inference can be compared exactly
#: with whole-file inference.
LOCAL_LAYERS = 0


def make_tiny_onnx_model(
    directory: str | Path,
    *,
    name: str = "tiny",
    version: str = "0",
    trained: bool = False,
    config: Mapping[str, Any] | None = None,
    sidecar: bool = False,
) -> Path:
    """Export a random tiny model to ``directory/<name>-<version>.onnx`` and return its path.

    ``trained`` only sets the metadata flag (the model store prefers trained models); ``config``
    overrides fields of the tiny preset; ``sidecar`` also writes the metadata as ``<model>.json``.
    """
    from lyricalign.fsutil import atomic_write_text
    from lyricalign.acoustic.ctc_metadata import sidecar_path
    from lyricalign.training.export import TINY_CONFIG, build_model, config_metadata, export_onnx

    model = build_model(config={**TINY_CONFIG, **(config or {})}, seed=0)
    metadata = config_metadata(model, name=name, version=version, trained=trained)
    path = Path(directory) / f"{name}-{version}.onnx"
    export_onnx(model, path, metadata, check_parity=False)
    if sidecar:
        atomic_write_text(sidecar_path(path), metadata.to_json())
    return path

