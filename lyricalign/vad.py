"""Vocal-activity detection for mixed music, from energy and spectral flux in the voice band.

Singing adds energy to the 250-4000 Hz band and, unlike sustained accompaniment, changes it all
the time (syllables, vibrato, formant moves), so the band's positive spectral flux is high while
someone sings. The per-frame score is the sum of the z-scored band energy and band flux,
smoothed over :data:`SMOOTH_SECONDS`; frames above a threshold halfway between the score's
:data:`LOW_PERCENTILE` and :data:`HIGH_PERCENTILE` are active. Short gaps are bridged and short
blips dropped. This is a heuristic: it finds where *something voice-like* happens, which is what
the ``uniform`` engine needs; it is not a singing-voice classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .audio import FRAMES_PER_SECOND, MODEL_FRAME_STRIDE, SAMPLE_RATE

BAND_HZ = (250.0, 4000.0)
N_FFT = 1024
SMOOTH_SECONDS = 0.5
LOW_PERCENTILE, HIGH_PERCENTILE = 10.0, 90.0
THRESHOLD_POSITION = 0.4  # between the low and high percentile
MIN_GAP_SECONDS = 0.6  # inactive stretches shorter than this are bridged
MIN_REGION_SECONDS = 0.4  # active stretches shorter than this are dropped
FLUX_WEIGHT = 1.0


@dataclass(frozen=True)
class VocalActivity:
    """``active``: ``(T,)`` bool per frame of :data:`~lyricalign.audio.FRAMES_PER_SECOND`;
    ``regions``: the active stretches as ``(start, end)`` seconds, sorted and disjoint."""

    active: np.ndarray
    regions: tuple[tuple[float, float], ...]

    @property
    def active_seconds(self) -> float:
        return sum(end - start for start, end in self.regions)


def vocal_activity(audio: np.ndarray) -> VocalActivity:
    """Detect vocal activity in ``audio`` (``(N,)`` float32, 16 kHz). Never empty: if nothing
    stands out (e.g. speech without music, constant level), the whole signal is one region."""
    score = activity_score(audio)
    duration = audio.shape[0] / SAMPLE_RATE
    if score.size == 0:
        return VocalActivity(active=np.zeros(0, bool), regions=((0.0, duration),))
    low, high = np.percentile(score, [LOW_PERCENTILE, HIGH_PERCENTILE])
    active = score > low + THRESHOLD_POSITION * (high - low)
    active = _drop_short(~_drop_short(~active, MIN_GAP_SECONDS), MIN_REGION_SECONDS)
    regions = _regions(active, duration)
    if not regions:
        regions = ((0.0, duration),)
    return VocalActivity(active=active, regions=regions)


def activity_score(audio: np.ndarray) -> np.ndarray:
    """``(T,)`` frame scores (higher: more voice-like), one per 20 ms frame."""
    import librosa

    hop = MODEL_FRAME_STRIDE
    if audio.shape[0] < N_FFT:
        return np.zeros(0, np.float32)
    spectrum = np.abs(librosa.stft(audio, n_fft=N_FFT, hop_length=hop, center=True)) ** 2
    freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
    band = spectrum[(freqs >= BAND_HZ[0]) & (freqs <= BAND_HZ[1])]
    log_band = np.log(band + 1e-10)
    energy = np.log(band.sum(axis=0) + 1e-10)
    flux = np.concatenate([[0.0], np.maximum(np.diff(log_band, axis=1), 0.0).mean(axis=0)])
    score = _zscore(energy) + FLUX_WEIGHT * _zscore(flux)
    width = max(1, int(SMOOTH_SECONDS * FRAMES_PER_SECOND))
    return np.convolve(score, np.ones(width) / width, mode="same").astype(np.float32)


def _zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


def _drop_short(mask: np.ndarray, min_seconds: float) -> np.ndarray:
    """Set runs of True shorter than ``min_seconds`` to False."""
    out = mask.copy()
    min_frames = int(round(min_seconds * FRAMES_PER_SECOND))
    for start, end in _runs(mask):
        if end - start < min_frames:
            out[start:end] = False
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` frame indices of the runs of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _regions(active: np.ndarray, duration: float) -> tuple[tuple[float, float], ...]:
    return tuple(
        (start / FRAMES_PER_SECOND, min(end / FRAMES_PER_SECOND, duration)) for start, end in _runs(active)
    )
