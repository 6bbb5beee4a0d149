"""ONNX acoustic models: metadata, runtime options and windowed CTC inference (numpy + onnxruntime).

An acoustic model maps a 16 kHz waveform to per-frame class scores over a character vocabulary
(a wav2vec2-style CTC model exported by ``training/export.py``). Its description travels with it as
:class:`ModelMetadata`: a JSON string under the ``"lyricalign"`` key of the ONNX ``metadata_props``,
or a sidecar ``<model>.json`` next to the ``.onnx`` file (the sidecar wins when both exist, so a
model's description can be corrected without re-exporting it).

Frame <-> time mapping
----------------------
The model's frame ``f`` summarises the samples starting at ``f * frame_stride`` (its receptive
field, 400 samples for wav2vec2, reaches a little further). Frame ``f`` therefore starts at
``f * frame_stride / sample_rate`` seconds, and ``log_probs(audio)`` of ``N`` samples has exactly
``T = ceil(N / frame_stride)`` frames: every sample belongs to one frame; the last frames see the
zero padding after the end of the audio.

Windowing
---------
Long audio does not fit one forward pass (attention is quadratic, memory grows with length), so it
is cut into fixed-length windows of ``L`` samples that overlap by ``overlap`` samples on each side.
Window ``w`` starts at sample ``w * hop`` and contributes only its central frames, where the model
saw enough context on both sides; the last window is zero-padded so that every window has the same
shape, which is what lets the service batch windows of many requests into one ``(B, L)`` call.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .audio import MODEL_FRAME_STRIDE, SAMPLE_RATE
from .errors import ModelError
from .progress import report_progress
from .text import SUPPORTED_LANGUAGES, Vocabulary

logger = logging.getLogger(__name__)

# --- constants ---------------------------------------------------------------------------------
METADATA_KEY = "lyricalign"  # key of the JSON description in the ONNX metadata_props
SIDECAR_SUFFIX = ".json"
INPUT_NAME = "input_values"  # (B, L) float32 waveform
OUTPUT_NAME = "logits"  # (B, F, C) float32 logits or log-probabilities
BLANK = "<pad>"  # wav2vec2's CTC blank symbol
WORD_DELIMITER = "|"
NORMALIZE_EPS = 1e-7  # added to the variance, as in transformers' Wav2Vec2FeatureExtractor
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")  # names/versions are used in file names
_GRAPH_OPTIMIZATION = ("disable", "basic", "extended", "all")
_DEVICES = ("cpu", "cuda", "auto")

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
        session = _open_session(path, RuntimeOptions())
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise ModelError(
            f"{path}: not a lyricalign model (no {METADATA_KEY!r} entry in its ONNX metadata and no sidecar {sidecar.name})"
        )
    return ModelMetadata.from_json(props[METADATA_KEY], str(path))


@dataclass(frozen=True)
class RuntimeOptions:
    """How ONNX Runtime runs a model, and how long audio is windowed.

    ``intra_op_threads``/``inter_op_threads`` of 0 let ONNX Runtime choose. ``device``: ``"cpu"``,
    ``"cuda"`` (an error when onnxruntime-gpu is not installed) or ``"auto"`` (CUDA when available).
    ``window_seconds`` is the whole window, ``overlap_seconds`` the context discarded on *each*
    side of it, so every window advances by ``window_seconds - 2 * overlap_seconds``.
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    device: str = "cpu"
    graph_optimization: str = "all"
    window_seconds: float = 15.0
    overlap_seconds: float = 1.0
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise ValueError("thread counts must be >= 0 (0: let onnxruntime choose)")
        if self.device not in _DEVICES:
            raise ValueError(f"device must be one of {', '.join(_DEVICES)}, got {self.device!r}")
        if self.graph_optimization not in _GRAPH_OPTIMIZATION:
            raise ValueError(f"graph_optimization must be one of {', '.join(_GRAPH_OPTIMIZATION)}, got {self.graph_optimization!r}")
        if self.overlap_seconds <= 0:
            raise ValueError(f"overlap_seconds must be > 0 (window edges need context), got {self.overlap_seconds}")
        if self.window_seconds <= 2 * self.overlap_seconds:
            raise ValueError(
                f"window_seconds ({self.window_seconds}) must exceed twice overlap_seconds ({self.overlap_seconds})"
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def providers(self, available: Sequence[str]) -> list[str]:
        """ONNX Runtime execution providers for :attr:`device`, given the installed ones."""
        has_cuda = "CUDAExecutionProvider" in available
        if self.device == "cuda" and not has_cuda:
            raise ModelError("device 'cuda' requested but onnxruntime has no CUDA provider (install onnxruntime-gpu)")
        if self.device == "cpu" or not has_cuda:
            return ["CPUExecutionProvider"]
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]


@dataclass(frozen=True)
class WindowGeometry:
    """Window sizes in samples, all multiples of the frame stride."""

    length: int  # L: samples per window
    hop: int  # samples between window starts
    overlap: int  # samples of context discarded on each side
    frame_stride: int

    @property
    def hop_frames(self) -> int:
        return self.hop // self.frame_stride

    @property
    def overlap_frames(self) -> int:
        return self.overlap // self.frame_stride


@dataclass(frozen=True)
class WindowPlan:
    """How one waveform was cut into windows, and which frames of each window to keep.

    ``windows`` is ``(W, L)`` float32. Window ``w`` starts at sample ``offsets[w]``; its local
    frames ``[keep[w, 0], keep[w, 1])`` become global frames ``[frame_offsets[w] + keep[w, 0],
    frame_offsets[w] + keep[w, 1])``. The kept ranges tile ``[0, n_frames)`` exactly.
    """

    windows: np.ndarray  # (W, L) float32
    offsets: np.ndarray  # (W,) int64 first sample of each window
    keep: np.ndarray  # (W, 2) int64 local frame range [start, end) each window contributes
    n_samples: int
    n_frames: int  # T = ceil(n_samples / frame_stride)
    frame_stride: int

    @property
    def frame_offsets(self) -> np.ndarray:
        """``(W,)`` global index of each window's local frame 0."""
        return self.offsets // self.frame_stride


def normalize_waveform(audio: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over the whole waveform (``(N,)`` -> ``(N,)`` float32).

    Done once per song, before windowing, so every window sees the same scaling (per-window
    normalisation would make the stitched output depend on where the windows fall).
    """
    audio = np.asarray(audio, dtype=np.float32)
    return ((audio - audio.mean()) / np.sqrt(audio.var() + NORMALIZE_EPS)).astype(np.float32)


def log_softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable log-softmax; idempotent, so applying it to log-probabilities is harmless."""
    shifted = scores - scores.max(axis=axis, keepdims=True)
    return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).astype(np.float32)


class AcousticModel:
    """An ONNX CTC acoustic model, loaded once, with windowed inference over audio of any length.

    ``log_probs(audio)`` = ``stitch(plan, infer_windows(plan.windows))`` for
    ``plan = plan_windows(audio)``; the three steps are public so a server can batch the windows of
    several requests into one :meth:`infer_windows` call. Every method may be called from several
    threads at once (ONNX Runtime sessions are thread-safe; nothing else here is mutated).
    """

    def __init__(self, path: str | Path, options: RuntimeOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or RuntimeOptions()
        if not self.path.is_file():
            raise ModelError(f"{self.path}: no such model file")
        self._session = _open_session(self.path, self.options)
        self.metadata = read_metadata(self.path, self._session)
        self._check_signature()
        self.geometry = window_geometry(self.options, self.metadata.frame_stride)
        logger.info(
            "loaded acoustic model %s from %s (%d units, providers %s)",
            self.metadata.tag, self.path, len(self.metadata.units), self._session.get_providers(),
        )

    @property
    def vocabulary(self) -> Vocabulary:
        return self.metadata.vocabulary

    @property
    def window_length(self) -> int:
        """L: samples per window (every window passed to :meth:`infer_windows` has this length)."""
        return self.geometry.length

    def _check_signature(self) -> None:
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 2:
            raise ModelError(f"{self.path}: expected one (batch, samples) input, got {[i.shape for i in inputs]}")
        if not outputs or len(outputs[0].shape) != 3:
            raise ModelError(f"{self.path}: expected a (batch, frames, classes) output, got {[o.shape for o in outputs]}")
        classes = outputs[0].shape[2]
        if self.metadata.sample_rate != SAMPLE_RATE:
            raise ModelError(f"{self.path}: model expects {self.metadata.sample_rate} Hz audio, lyricalign decodes to {SAMPLE_RATE} Hz")
        if isinstance(classes, int) and classes != len(self.metadata.units):
            raise ModelError(f"{self.path}: model outputs {classes} classes but its metadata lists {len(self.metadata.units)} units")
        self._input_name = inputs[0].name
        self._output_name = outputs[0].name

    def plan_windows(self, audio: np.ndarray) -> WindowPlan:
        """Cut ``(N,)`` audio into ``(W, L)`` equal windows (normalised first if the model wants it)."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or audio.size == 0:
            raise ModelError(f"expected a non-empty (N,) waveform, got shape {audio.shape}")
        if self.metadata.normalize:
            audio = normalize_waveform(audio)
        return plan_windows(audio, self.geometry)

    def infer_windows(self, windows: np.ndarray) -> np.ndarray:
        """Batch entry point: ``(B, L)`` float32 windows -> ``(B, F, C)`` float32 log-probabilities."""
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        if windows.ndim != 2:
            raise ModelError(f"expected (batch, samples) windows, got shape {windows.shape}")
        try:
            (scores,) = self._session.run([self._output_name], {self._input_name: windows})
        except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidArgument...)
            raise ModelError(f"{self.path}: inference failed on input {windows.shape}: {e}") from e
        return log_softmax(scores)

    def stitch(self, plan: WindowPlan, window_log_probs: np.ndarray) -> np.ndarray:
        """``(W, F, C)`` per-window log-probs -> ``(T, C)`` for the whole waveform."""
        return stitch(plan, window_log_probs)

    def log_probs(self, audio: np.ndarray) -> np.ndarray:
        """``(N,)`` audio -> ``(T, C)`` float32 log-probabilities, ``T = ceil(N / frame_stride)``."""
        plan = self.plan_windows(audio)
        batch = self.options.batch_size
        n_windows = len(plan.windows)
        parts = []
        report_progress("acoustic model", 0.0)
        for i in range(0, n_windows, batch):
            parts.append(self.infer_windows(plan.windows[i : i + batch]))
            report_progress("acoustic model", min(i + batch, n_windows) / n_windows)
        return self.stitch(plan, np.concatenate(parts, axis=0))


def window_geometry(options: RuntimeOptions, frame_stride: int) -> WindowGeometry:
    """Window, hop and overlap of ``options`` in samples, each rounded to whole frames."""

    def to_samples(seconds: float) -> int:  # rounded to whole frames
        return max(1, round(seconds * SAMPLE_RATE / frame_stride)) * frame_stride

    overlap = to_samples(options.overlap_seconds)
    hop = max(frame_stride, to_samples(options.window_seconds) - 2 * overlap)
    return WindowGeometry(length=hop + 2 * overlap, hop=hop, overlap=overlap, frame_stride=frame_stride)


def plan_windows(audio: np.ndarray, geometry: WindowGeometry) -> WindowPlan:
    """Window ``(N,)`` audio (already normalised if needed); see :class:`WindowPlan`.

    Window 0 keeps local frames ``[0, overlap + hop)`` (nothing precedes the song start); window
    ``w > 0`` keeps ``[overlap, overlap + hop)``; the last keeps what remains up to ``T``.
    """
    n = int(audio.shape[0])
    n_frames = math.ceil(n / geometry.frame_stride)
    hop_f, ov_f = geometry.hop_frames, geometry.overlap_frames
    # Smallest W whose last window's kept range reaches T: (W - 1) * hop_f + ov_f + hop_f >= T.
    n_windows = max(1, math.ceil((n_frames - ov_f) / hop_f))
    offsets = np.arange(n_windows, dtype=np.int64) * geometry.hop
    windows = np.zeros((n_windows, geometry.length), dtype=np.float32)
    keep = np.zeros((n_windows, 2), dtype=np.int64)
    for w, start in enumerate(offsets):
        chunk = audio[start : start + geometry.length]
        windows[w, : chunk.size] = chunk
        keep[w, 0] = 0 if w == 0 else ov_f
        keep[w, 1] = min(ov_f + hop_f, n_frames - w * hop_f)
    return WindowPlan(
        windows=windows, offsets=offsets, keep=keep, n_samples=n, n_frames=n_frames, frame_stride=geometry.frame_stride
    )


def stitch(plan: WindowPlan, window_log_probs: np.ndarray) -> np.ndarray:
    """Concatenate each window's kept frames: ``(W, F, C)`` -> ``(T, C)``.

    Raises:
        ModelError: the model returned fewer frames per window than the plan keeps (its real
            frame stride is not the one its metadata declares).
    """
    n_windows = plan.windows.shape[0]
    if window_log_probs.ndim != 3 or window_log_probs.shape[0] != n_windows:
        raise ModelError(f"expected ({n_windows}, frames, classes) window outputs, got shape {window_log_probs.shape}")
    needed = int(plan.keep[:, 1].max())
    if window_log_probs.shape[1] < needed:
        raise ModelError(
            f"model returned {window_log_probs.shape[1]} frames per window but {needed} are needed: "
            f"its frame stride is not the declared {plan.frame_stride} samples"
        )
    out = np.concatenate([window_log_probs[w, lo:hi] for w, (lo, hi) in enumerate(plan.keep)], axis=0)
    assert out.shape[0] == plan.n_frames, (out.shape, plan.n_frames)
    return out


def _open_session(path: Path, options: RuntimeOptions) -> Any:
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = options.intra_op_threads
    session_options.inter_op_num_threads = options.inter_op_threads
    session_options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[options.graph_optimization]
    session_options.log_severity_level = 3  # errors only: ORT's warnings go to stderr otherwise
    providers = options.providers(ort.get_available_providers())
    try:
        return ort.InferenceSession(str(path), sess_options=session_options, providers=providers)
    except Exception as e:  # InvalidProtobuf, NoSuchFile, Fail...: all mean "not a usable model"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({reason})") from e
