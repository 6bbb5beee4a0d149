"""The versioned acoustic checkpoint: a folder the export writes, the engine loads and BentoML packages.

Layout (``training/acoustic_export.py`` writes it)::

    scorer.onnx          senone scorer (contract in lyricalign.acoustic.scorer), identity in metadata_props
    checkpoint.json      CheckpointInfo: name, version, source, senone count, phones, feature parameters
    mdef, transition_matrices, feat.params, noisedict    the model's topology, unchanged
    means, variances, sendump    the Gaussians and mixture weights (each song's scorer inputs, adaptation statistics)
    dictionary.dict      CMU pronunciation dictionary (English words)

Installed checkpoints live in ``$LYRICALIGN_HOME/models/acoustic/<name>-<version>/``; the newest
one is the default (``$LYRICALIGN_ACOUSTIC`` names a folder explicitly). Loading parses the
topology once (~0.5 s); the engine keeps the loaded checkpoint for its lifetime.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Collection

import numpy as np

from ..errors import ModelError
from .frontend_options import FrontEndOptions
from .sphinx_files import (
    read_codebooks,
    read_dictionary,
    read_feature_params,
    read_mixture_weights,
    read_noise_dictionary,
    read_transitions,
)
from .sphinx_mdef import ModelDefinition, read_mdef

logger = logging.getLogger(__name__)

DEFAULT_NAME = "lyricalign-acoustic"
SCORER_FILE = "scorer.onnx"
INFO_FILE = "checkpoint.json"
DICTIONARY_FILE = "dictionary.dict"
TOPOLOGY_FILES = ("mdef", "transition_matrices", "feat.params", "noisedict")
GAUSSIAN_FILES = ("means", "variances", "sendump")  # also in scorer.onnx; read for each song's scorer inputs
MODEL_FILES = (*TOPOLOGY_FILES, *GAUSSIAN_FILES)
ACOUSTIC_ENV = "LYRICALIGN_ACOUSTIC"
ACOUSTIC_DIR = "acoustic"
FRAME_RATE = 100
FEATURE = "1s_c_d_dd"
INSTALL_HINT = "run `lyricalign models install-acoustic` (scripts/setup.sh does it)"


@dataclass(frozen=True)
class CheckpointInfo:
    """What ``checkpoint.json`` and the scorer's ``metadata_props`` say about the model."""

    name: str
    version: str
    source: str
    n_senones: int
    phones: tuple[str, ...]
    feature_params: dict[str, str] = field(default_factory=dict)
    frame_rate: int = FRAME_RATE
    feature: str = FEATURE
    kind: str = "ptm-gmm-hmm"

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.version}"

    def to_metadata_props(self) -> dict[str, str]:
        return {"lyricalign.model_id": self.name, "lyricalign.version": self.version,
                "lyricalign.source": self.source, "lyricalign.kind": self.kind,
                "lyricalign.frame_rate": str(self.frame_rate), "lyricalign.feature": self.feature,
                "lyricalign.svspec": self.feature_params.get("-svspec", ""),
                "lyricalign.n_senones": str(self.n_senones), "lyricalign.phones": " ".join(self.phones)}

    def to_json(self, **extra) -> str:
        return json.dumps({**asdict(self), "phones": list(self.phones), **extra}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: Path) -> "CheckpointInfo":
        try:
            raw = json.loads(text)
            known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
            return cls(**{**known, "phones": tuple(known["phones"])})
        except (ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{path}: not a lyricalign checkpoint description: {e}") from e


@dataclass(frozen=True, eq=False)
class AcousticCheckpoint:
    """A loaded checkpoint: what the decoding graph and the front end need, and the scorer's path."""

    folder: Path
    info: CheckpointInfo
    definition: ModelDefinition
    log_transitions: np.ndarray  # (n_tmat, n_emit, n_emit + 1) natural log, -inf where impossible
    frontend: FrontEndOptions
    noise_words: dict[str, str]

    @property
    def scorer_path(self) -> Path:
        return self.folder / SCORER_FILE

    def pronunciations_of(self, words: Collection[str]) -> dict[str, list[tuple[str, ...]]]:
        """The dictionary's entries for ``words`` (read per song: the whole dictionary is ~70 MB in memory)."""
        if not words:  # e.g. a song in another language: its pronunciations all come from espeak-ng
            return {}
        return read_dictionary(self.folder / DICTIONARY_FILE, words)

    @property
    def n_codebooks(self) -> int:
        return int(self.definition.senone_codebook.max()) + 1

    @cached_property
    def gaussians(self) -> "Gaussians":
        """Means, variances and log mixture weights (read on first use: only adaptation needs them)."""
        books = read_codebooks(self.folder / "means", self.folder / "variances")
        weights = read_mixture_weights(self.folder / "sendump", books.means.shape[1])
        return Gaussians(means=books.means, variances=books.variances, log_weights=weights.log_weights)


@dataclass(frozen=True, eq=False)
class Gaussians:
    """``means``, ``variances`` ``(C, K, G, d)`` and ``log_weights`` ``(n_senones, K, G)``, float32."""

    means: np.ndarray
    variances: np.ndarray
    log_weights: np.ndarray


def load_checkpoint(folder: str | Path) -> AcousticCheckpoint:
    """Read a checkpoint folder. Raises ModelError naming what is missing or wrong."""
    folder = Path(folder)
    missing = [f for f in (SCORER_FILE, INFO_FILE, DICTIONARY_FILE, *MODEL_FILES) if not (folder / f).is_file()]
    if missing:
        raise ModelError(f"{folder}: not an acoustic checkpoint (missing {', '.join(missing)})")
    info = CheckpointInfo.from_json((folder / INFO_FILE).read_text(encoding="utf-8"), folder / INFO_FILE)
    definition = read_mdef(folder / "mdef")
    if definition.n_senones != info.n_senones or tuple(definition.phones) != info.phones:
        raise ModelError(f"{folder}: mdef does not match {INFO_FILE} (senones or phones differ)")
    params = read_feature_params(folder / "feat.params")
    try:
        frontend = FrontEndOptions.from_feature_params(params)
    except ValueError as e:
        raise ModelError(f"{folder / 'feat.params'}: {e}") from e
    return AcousticCheckpoint(
        folder=folder, info=info, definition=definition,
        log_transitions=read_transitions(folder / "transition_matrices"), frontend=frontend,
        noise_words=read_noise_dictionary(folder / "noisedict", definition),
    )


@lru_cache(maxsize=4)
def _load_cached(folder: str) -> AcousticCheckpoint:
    return load_checkpoint(folder)


def load_cached_checkpoint(folder: str | Path) -> AcousticCheckpoint:
    """:func:`load_checkpoint`, once per folder and process (engines and the service share it)."""
    return _load_cached(str(Path(folder).resolve()))


def acoustic_dir() -> Path:
    from ..model_store import models_dir

    return models_dir() / ACOUSTIC_DIR


def installed_checkpoints() -> list[Path]:
    """Installed checkpoint folders, newest first."""
    root = acoustic_dir()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / INFO_FILE).is_file() and not p.name.startswith(".")]
    return sorted(found, key=lambda p: (p / INFO_FILE).stat().st_mtime, reverse=True)


def default_checkpoint_folder() -> Path:
    """``$LYRICALIGN_ACOUSTIC`` or the newest installed checkpoint; ModelError with the how-to if none."""
    explicit = os.environ.get(ACOUSTIC_ENV)
    if explicit:
        return Path(explicit)
    found = installed_checkpoints()
    if not found:
        raise ModelError(f"no acoustic checkpoint installed in {acoustic_dir()}: {INSTALL_HINT}")
    return found[0]


def install_checkpoint(folder: str | Path) -> Path:
    """Copy a checkpoint folder into :func:`acoustic_dir` as ``<name>-<version>`` (atomically)."""
    checkpoint = load_checkpoint(folder)
    target = acoustic_dir() / f"{checkpoint.info.name}-{checkpoint.info.version}"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(folder, staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    logger.info("installed acoustic checkpoint %s in %s", checkpoint.info.tag, target)
    return target
