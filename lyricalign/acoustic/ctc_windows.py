"""Window geometry: how long audio is cut into equal, overlapping windows and stitched back.

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

import math
from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import ModelError
from .ctc_runtime import RuntimeOptions


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
