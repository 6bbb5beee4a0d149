"""Put an exported ONNX acoustic model into the BentoML model store, for the service to serve.

The stored model directory holds ``model.onnx`` and its description ``model.json`` (the sidecar
that :func:`lyricalign.acoustic.ctc_metadata.read_metadata` reads first), so the service opens it with the plain
core loader. Labels (``trained``, ``languages``...) make ``bentoml models list`` informative::

    python -m lyricalign.training.register models/tiny-0.onnx            # -> lyricalign-ctc:<version>
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from lyricalign.cli import OneLineParser, one_line
from lyricalign.errors import LyricalignError, ModelError
from lyricalign.exit_codes import EXIT_USAGE
from lyricalign.acoustic.ctc_metadata import read_metadata

logger = logging.getLogger(__name__)

DEFAULT_NAME = "lyricalign-ctc"
MODEL_FILE = "model.onnx"  # lyricalign.service.service.MODEL_FILE
METADATA_FILE = "model.json"  # sidecar of MODEL_FILE


def register_model(onnx_path: Path, name: str = DEFAULT_NAME) -> str:
    """Copy ``onnx_path`` and its metadata into a new BentoML model ``name``; returns its tag.

    Raises:
        ModelError: the file is missing or is not a lyricalign model (no metadata).
    """
    import bentoml

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path}: no such model file")
    metadata = read_metadata(onnx_path)
    labels = {
        "source_model": metadata.name,
        "source_version": metadata.version,
        "trained": str(metadata.trained).lower(),
        "languages": ",".join(metadata.languages),
    }
    with bentoml.models.create(name, labels=labels, metadata={"lyricalign": metadata.to_dict()}) as stored:
        shutil.copyfile(onnx_path, stored.path_of(MODEL_FILE))
        Path(stored.path_of(METADATA_FILE)).write_text(metadata.to_json(), encoding="utf-8")
    tag = str(stored.tag)
    logger.info("registered %s (%s, trained=%s) as %s", onnx_path, metadata.tag, metadata.trained, tag)
    return tag


ACOUSTIC_NAME = "lyricalign-acoustic"  # lyricalign.service.config.DEFAULT_ACOUSTIC_TAG's name


def register_acoustic(folder: Path, name: str = ACOUSTIC_NAME) -> str:
    """Copy an acoustic checkpoint folder into a new BentoML model ``name``; returns its tag.

    Idempotent: when the store's latest ``name`` already holds this checkpoint version, its tag is
    returned and nothing is copied.
    """
    import bentoml

    from lyricalign.acoustic.checkpoint import load_checkpoint

    info = load_checkpoint(folder).info
    try:
        latest = bentoml.models.get(f"{name}:latest")
        if latest.info.labels.get("checkpoint_version") == info.version:
            return str(latest.tag)
    except bentoml.exceptions.NotFound:
        pass
    labels = {"checkpoint_version": info.version, "kind": info.kind, "trained": "true"}
    with bentoml.models.create(name, labels=labels, metadata={"lyricalign": {"tag": info.tag, "source": info.source}}) as stored:
        for item in Path(folder).iterdir():
            if item.is_file():
                shutil.copyfile(item, stored.path_of(item.name))
    tag = str(stored.tag)
    logger.info("registered acoustic checkpoint %s as %s", info.tag, tag)
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="lyricalign.training.register",
                           description="Register an exported ONNX model in the BentoML model store.")
    parser.add_argument("onnx", type=Path, help="an ONNX file written by `lyricalign export`")
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"model name in the store (default: {DEFAULT_NAME})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        tag = register_model(args.onnx, args.name)
    except LyricalignError as e:  # a missing or broken model file: one line, as from `lyricalign models register`
        print(f"{parser.prog}: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    print(tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
