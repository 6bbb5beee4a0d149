"""Tiny randomly initialised wav2vec2 CTC models in ONNX, for tests, without torch.

Two committed fixtures, made by ``python scripts/make_test_models.py`` (which needs torch) from the
exporter's "tiny" preset with seed 0: ``tests/data/ctc-tiny.onnx`` (2 attention layers) and
``tests/data/ctc-local.onnx`` (no attention: every output frame depends only on nearby samples,
so windowed inference can be compared exactly with whole-file inference).
``tests/test_export.py::test_committed_test_models_are_what_the_exporter_makes`` keeps them honest.

``make_tiny_onnx_model(directory)`` copies one with its metadata set (name, version, trained) using
the ``onnx`` package only, so the core's tests run where torch is absent. Its alignments are
meaningless (random weights) but every shape, file format and code path is real.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
FIXTURES = {"tiny": DATA / "ctc-tiny.onnx", "local": DATA / "ctc-local.onnx"}
#: The "local" fixture's layers: the tiny preset without attention.
LOCAL_LAYERS = 0


def make_tiny_onnx_model(
    directory: str | Path,
    *,
    name: str = "tiny",
    version: str = "0",
    trained: bool = False,
    local: bool = False,
    sidecar: bool = False,
) -> Path:
    """A copy of a committed tiny model at ``directory/<name>-<version>.onnx``, its metadata set.

    ``trained`` only sets the metadata flag (the model store prefers trained models); ``local`` picks
    the attention-free fixture; ``sidecar`` also writes the metadata as ``<model>.json``.
    """
    import onnx

    from lyricalign.acoustic.ctc_metadata import METADATA_KEY, ModelMetadata, sidecar_path
    from lyricalign.fsutil import atomic_write_text

    proto = onnx.load(str(FIXTURES["local" if local else "tiny"]))
    entry = next(p for p in proto.metadata_props if p.key == METADATA_KEY)
    metadata = replace(ModelMetadata.from_json(entry.value), name=name, version=version, trained=trained)
    entry.value = metadata.to_json()
    path = Path(directory) / f"{name}-{version}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    if sidecar:
        atomic_write_text(sidecar_path(path), metadata.to_json())
    return path


def export_fixture(kind: str, out: str | Path) -> Path:
    """The exporter's tiny preset (seed 0), attention-free for ``kind == "local"``, exported to ``out``
    (how the committed fixtures are made; needs torch)."""
    from lyricalign.training.export import TINY_CONFIG, build_model, config_metadata, export_onnx

    config = {**TINY_CONFIG, **({"num_hidden_layers": LOCAL_LAYERS} if kind == "local" else {})}
    model = build_model(config=config, seed=0)
    out = Path(out)
    export_onnx(model, out, config_metadata(model, name=kind, version="0", trained=False), check_parity=True)
    return out
