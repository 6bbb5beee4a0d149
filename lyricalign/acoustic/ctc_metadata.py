"""What a CTC acoustic model is: :class:`ModelMetadata`, read from the model file or its sidecar.

An acoustic model maps a 16 kHz waveform to per-frame class scores over a character vocabulary
(a wav2vec2-style CTC model exported by ``training/export.py``). Its description travels with it as
:class:`ModelMetadata`: a JSON string under the ``"lyricalign"`` key of the ONNX ``metadata_props``,
or a sidecar ``<model>.json`` next to the ``.onnx`` file (the sidecar wins when both exist, so a
model's description can be corrected without re-exporting it).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..audio import MODEL_FRAME_STRIDE, SAMPLE_RATE
from ..errors import ModelError
from ..text import SUPPORTED_LANGUAGES, Vocabulary
from .ctc_runtime import RuntimeOptions, open_session

METADATA_KEY = "lyricalign"  # key of the JSON description in the ONNX metadata_props
SIDECAR_SUFFIX = ".json"
BLANK = "<pad>"  # wav2vec2's CTC blank symbol
WORD_DELIMITER = "|"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")  # names/versions are used in file names

# Lower-case letters of every supported language (en, es, fr, de, it, pt), accents included.
_LATIN = "abcdefghijklmnopqrstuvwxyz"
_ACCENTED = "àáâãäåæçèéêëìíîïñòóôõöùúûüýÿßœ"


def default_units() -> tuple[str, ...]:
    """The default character vocabulary: ``<pad>`` (blank) at 0, ``|`` word delimiter, apostrophe, letters."""
    return (BLANK, WORD_DELIMITER, "'", *_LATIN, *sorted(_ACCENTED))


@dataclass(frozen=True)
class ModelMetadata:
    """What an ONNX acoustic model is: its identity, vocabulary and framing.

    ``trained`` is False for a randomly initialised export: such a model runs, but its alignments
    mean nothing, so the model store never picks it unless named explicitly. ``normalize`` tells
    whether the model expects zero-mean, unit-variance input (wav2vec2's ``do_normalize``).
    """

    name: str
    version: str
    units: tuple[str, ...]
    blank_id: int = 0
    word_delimiter: str | None = WORD_DELIMITER
    sample_rate: int = SAMPLE_RATE
    frame_stride: int = MODEL_FRAME_STRIDE
    languages: tuple[str, ...] = tuple(SUPPORTED_LANGUAGES)
    trained: bool = False
    normalize: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        problems = _metadata_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def tag(self) -> str:
        """``name@version``: the identity reported in every result."""
        return f"{self.name}@{self.version}"

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(units=self.units, blank_id=self.blank_id, word_delimiter=self.word_delimiter)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["units"] = list(self.units)
        data["languages"] = list(self.languages)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model") -> "ModelMetadata":
        """Validate a decoded description; ``source`` names the file in error messages.

        Raises:
            ModelError: a missing, mistyped or inconsistent field (one message, naming the field).
        """
        if not isinstance(data, Mapping):
            raise ModelError(f"{source}: model metadata must be a JSON object, got {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"{source}: unknown model metadata field(s): {', '.join(unknown)}")
        for required in ("name", "version", "units"):
            if required not in data:
                raise ModelError(f"{source}: model metadata has no {required!r} field")
        values = dict(data)
        for key in ("units", "languages"):
            if key in values:
                if not isinstance(values[key], (list, tuple)):
                    raise ModelError(f"{source}: model metadata field {key!r} must be a list")
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except (TypeError, ValueError) as e:
            raise ModelError(f"{source}: {e}") from e

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> "ModelMetadata":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelError(f"{source}: model metadata is not valid JSON ({e})") from e
        return cls.from_dict(data, source)


def _metadata_problems(meta: ModelMetadata) -> list[str]:
    """Every violated rule of :class:`ModelMetadata`, as exact messages (empty when valid)."""
    problems: list[str] = []
    for key in ("name", "version"):
        value = getattr(meta, key)
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            problems.append(f"model metadata field {key!r} must be letters, digits, '.', '_', '+' or '-', got {value!r}")
    if len(meta.units) < 2 or not all(isinstance(u, str) and u for u in meta.units):
        problems.append("model metadata field 'units' must list at least 2 non-empty strings")
    elif len(set(meta.units)) != len(meta.units):
        problems.append("model metadata field 'units' has duplicate symbols")
    if not isinstance(meta.blank_id, int) or not 0 <= meta.blank_id < len(meta.units):
        problems.append(f"model metadata field 'blank_id' must index 'units' (0..{len(meta.units) - 1}), got {meta.blank_id!r}")
    if meta.word_delimiter is not None and meta.word_delimiter not in meta.units:
        problems.append(f"model metadata field 'word_delimiter' {meta.word_delimiter!r} is not one of the units")
    for key in ("sample_rate", "frame_stride"):
        value = getattr(meta, key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            problems.append(f"model metadata field {key!r} must be a positive integer, got {value!r}")
    if not all(isinstance(lang, str) and lang for lang in meta.languages):
        problems.append("model metadata field 'languages' must list language codes")
    for key in ("trained", "normalize"):
        if not isinstance(getattr(meta, key), bool):
            problems.append(f"model metadata field {key!r} must be true or false, got {getattr(meta, key)!r}")
    if not isinstance(meta.extra, dict):
        problems.append("model metadata field 'extra' must be an object")
    return problems


def sidecar_path(model_path: str | Path) -> Path:
    """``dir/model.onnx`` -> ``dir/model.json``."""
    return Path(model_path).with_suffix(SIDECAR_SUFFIX)


def read_metadata(model_path: str | Path, session: Any = None) -> ModelMetadata:
    """The description of the model at ``model_path``: its sidecar JSON, else its ONNX metadata_props.

    ``session`` (an ``onnxruntime.InferenceSession`` of the same file) avoids loading the model twice.

    Raises:
        ModelError: no description at all, or an invalid one.
    """
    path = Path(model_path)
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        try:
            text = sidecar.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ModelError(f"{sidecar}: cannot read model metadata ({e})") from e
        return ModelMetadata.from_json(text, str(sidecar))
    if session is None:
        session = open_session(path, RuntimeOptions())
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise ModelError(
            f"{path}: not a lyricalign model (no {METADATA_KEY!r} entry in its ONNX metadata and no sidecar {sidecar.name})"
        )
    return ModelMetadata.from_json(props[METADATA_KEY], str(path))
