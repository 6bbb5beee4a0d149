"""The local folder of installed acoustic models, and how a model name or path is resolved.

Layout: ``$LYRICALIGN_HOME/models/<name>-<version>.onnx`` (``LYRICALIGN_HOME`` defaults to
``~/.cache/lyricalign``), each with its metadata as a sidecar ``<name>-<version>.json`` so models
can be listed without loading them. The default model is ``$LYRICALIGN_MODEL`` when set, else the
most recently installed *trained* model: a randomly initialised export is only ever used when it
is named explicitly, because its alignments are noise.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .fsutil import atomic_open, atomic_write_text
from .acoustic.ctc_metadata import ModelMetadata, read_metadata, sidecar_path

logger = logging.getLogger(__name__)

HOME_ENV = "LYRICALIGN_HOME"
MODEL_ENV = "LYRICALIGN_MODEL"
DEFAULT_HOME = Path("~/.cache/lyricalign")
MODELS_DIR = "models"
MODEL_SUFFIX = ".onnx"
#: Said by ``align --method ctc`` and ``models path``. "CTC": the default method's model (hmm) may well be
#: installed and listed by ``models list``; only the ctc method needs one of these.
NO_MODEL_MESSAGE = ("no CTC model installed (method ctc needs one; the default method, hmm, does not): "
                    "pass --model PATH, or install one with `lyricalign models install PATH`")


@dataclass(frozen=True)
class InstalledModel:
    path: Path  # the .onnx file
    metadata: ModelMetadata
    installed_at: float  # mtime of the .onnx file (seconds since the epoch)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def tag(self) -> str:
        return self.metadata.tag


def models_dir() -> Path:
    """``$LYRICALIGN_HOME/models`` (not created here)."""
    home = os.environ.get(HOME_ENV)
    return (Path(home) if home else DEFAULT_HOME).expanduser() / MODELS_DIR


def install_model(path: str | Path) -> Path:
    """Validate the model at ``path`` and copy it (atomically) into :func:`models_dir`.

    Reinstalling the same name and version replaces it. Returns the installed ``.onnx`` path.

    Raises:
        ModelError: not a loadable lyricalign model (the same checks as loading it for inference).
    """
    from .acoustic.ctc_model import AcousticModel

    source = Path(path)
    if not source.is_file():
        raise ModelError(f"{source}: no such model file")
    metadata = AcousticModel(source).metadata  # loads the session: a broken file fails here, not later
    target = models_dir() / f"{metadata.name}-{metadata.version}{MODEL_SUFFIX}"
    if source.resolve() != target.resolve():
        with source.open("rb") as src, atomic_open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
    atomic_write_text(sidecar_path(target), metadata.to_json())
    logger.info("installed %s as %s", metadata.tag, target)
    return target


def list_models() -> list[InstalledModel]:
    """Installed models, newest first. Entries with a broken sidecar are skipped with a warning."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"*{MODEL_SUFFIX}"):
        try:
            metadata = read_metadata(path)
        except ModelError as e:
            logger.warning("ignoring installed model %s: %s", path.name, e)
            continue
        found.append(InstalledModel(path=path, metadata=metadata, installed_at=path.stat().st_mtime))
    return sorted(found, key=lambda m: (m.installed_at, m.tag), reverse=True)


def default_model_path() -> Path | None:
    """``$LYRICALIGN_MODEL`` (a path or an installed name), else the newest trained installed model."""
    explicit = os.environ.get(MODEL_ENV)
    if explicit:
        return resolve_model(explicit)
    for model in list_models():
        if model.metadata.trained:
            return model.path
    return None


def resolve_model(name_or_path: str | Path) -> Path:
    """An existing ``.onnx`` path as is; else an installed model by ``name``, ``name@version`` or
    ``name-version`` (a bare name picks its newest installed version, trained or not).

    Raises:
        ModelError: nothing matches (the message lists what is installed).
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    text = str(name_or_path)
    installed = list_models()
    for model in installed:
        if text in (model.tag, f"{model.name}-{model.version}", model.name):
            return model.path
    if candidate.suffix == MODEL_SUFFIX or os.sep in text:
        raise ModelError(f"{text}: no such model file")
    names = ", ".join(m.tag for m in installed) or "none"
    raise ModelError(f"no installed model named {text!r} (installed: {names})")


def require_model(name_or_path: str | Path | None) -> Path:
    """:func:`resolve_model` of an explicit model, else :func:`default_model_path`.

    Raises:
        ModelError: the named model does not exist, or none was named and none is installed.
    """
    if name_or_path is not None:
        return resolve_model(name_or_path)
    path = default_model_path()
    if path is None:
        untrained = [m.tag for m in list_models() if not m.metadata.trained]
        if untrained:
            raise ModelError(f"no trained CTC model installed (untrained placeholders: {', '.join(untrained)}, "
                             "not used unless named with --model): install a trained one with "
                             "`lyricalign models install PATH`, or use method hmm")
        raise ModelError(NO_MODEL_MESSAGE)
    return path
