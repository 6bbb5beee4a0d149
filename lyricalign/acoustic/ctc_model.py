"""An ONNX CTC acoustic model: waveform -> ``(T, C)`` log-probabilities, windowed (numpy + onnxruntime).

:class:`AcousticModel` composes the pieces: its description (:mod:`.ctc_metadata`), an ONNX
Runtime session (:mod:`.ctc_runtime`) and the window geometry (:mod:`.ctc_windows`, which also
documents the frame <-> time mapping).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import ModelError
from ..progress import report_progress
from ..text import Vocabulary
from .ctc_metadata import read_metadata
from .ctc_runtime import RuntimeOptions, open_session
from .ctc_windows import WindowPlan, plan_windows, stitch, window_geometry

logger = logging.getLogger(__name__)

INPUT_NAME = "input_values"  # (B, L) float32 waveform
OUTPUT_NAME = "logits"  # (B, F, C) float32 logits or log-probabilities
NORMALIZE_EPS = 1e-7  # added to the variance, as in transformers' Wav2Vec2FeatureExtractor


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
        self._session = open_session(self.path, self.options)
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
