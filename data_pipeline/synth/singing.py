"""Speech -> singing with the WORLD vocoder, keeping every word boundary exact.

For one sung line: WORLD analyses the espeak-ng speech (f0 with DIO + StoneMask, spectral
envelope with CheapTrick, aperiodicity with D4C, 5 ms frames). Each word's frames (its span in the
speech, pauses between words dropped) are time-mapped onto the word's notes: unvoiced frames
(consonants) keep their length where possible, voiced frames stretch to fill the notes. The f0 of
voiced frames is replaced by the notes' pitches (smoothed for portamento, with vibrato);
unvoiced frames stay unvoiced. Because the mapping is built per word on whole output frames,
word ``i`` occupies exactly output frames ``[B_i, B_{i+1})``: its times are known, not estimated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lyricalign.audio import SAMPLE_RATE

from .melody import Note
from .world import pyworld

FRAME_PERIOD_MS = 5.0
FRAME_SECONDS = FRAME_PERIOD_MS / 1000.0
MAX_CONSONANT_SHARE = 0.5  # unvoiced frames keep their length while they fill at most this share of a word
VIBRATO_HZ = (4.5, 6.5)
VIBRATO_SEMITONES = (0.1, 0.35)
VIBRATO_ONSET = 0.2  # seconds into a note before vibrato starts
PORTAMENTO_FRAMES = 5  # moving-average length (frames) of log-f0 at note changes


@dataclass(frozen=True)
class SungLine:
    """``audio`` ``(M,)`` float32 at 16 kHz; ``word_spans`` ``(start, end)`` seconds within it."""

    audio: np.ndarray
    word_spans: tuple[tuple[float, float], ...]


def sing_line(
    speech: np.ndarray, speech_spans: Sequence[tuple[float, float]], notes: Sequence[Sequence[Note]], rng: np.random.Generator
) -> SungLine:
    """Turn a spoken line (``speech`` ``(N,)`` at 16 kHz, one span per word) into a sung line."""
    world = pyworld()
    x = np.ascontiguousarray(speech, dtype=np.float64)
    f0, times = world.dio(x, SAMPLE_RATE, frame_period=FRAME_PERIOD_MS)
    f0 = world.stonemask(x, f0, times, SAMPLE_RATE)
    sp = world.cheaptrick(x, f0, times, SAMPLE_RATE)
    ap = world.d4c(x, f0, times, SAMPLE_RATE)
    n_frames = f0.shape[0]

    positions, out_f0, spans = [], [], []
    cursor = 0
    vibrato_rate = rng.uniform(*VIBRATO_HZ)
    vibrato_depth = rng.uniform(*VIBRATO_SEMITONES)
    for (start, end), word_notes in zip(speech_spans, notes):
        first = min(int(round(start / FRAME_SECONDS)), n_frames - 1)
        last = min(max(int(round(end / FRAME_SECONDS)), first + 1), n_frames)
        target = max(1, int(round(sum(d for d, _ in word_notes) / FRAME_SECONDS)))
        positions.append(_time_map(f0[first:last] > 0, target) + first)
        out_f0.append(_note_contour(word_notes, target, vibrato_rate, vibrato_depth))
        spans.append((cursor * FRAME_SECONDS, (cursor + target) * FRAME_SECONDS))
        cursor += target

    position = np.concatenate(positions)
    voiced = f0[np.clip(np.round(position).astype(int), 0, n_frames - 1)] > 0
    contour = np.where(voiced, _smooth_log(np.concatenate(out_f0)), 0.0)
    audio = world.synthesize(
        np.ascontiguousarray(contour), _interpolate(sp, position), _interpolate(ap, position), SAMPLE_RATE, FRAME_PERIOD_MS
    )
    audio = audio[: cursor * int(SAMPLE_RATE * FRAME_SECONDS)]
    return SungLine(audio=audio.astype(np.float32), word_spans=tuple(spans))


def _time_map(voiced: np.ndarray, target: int) -> np.ndarray:
    """Source frame position (float, relative to the word) of each of ``target`` output frames.

    Each source frame gets an output length: 1 for unvoiced frames and ``v`` for voiced ones, with
    ``v`` chosen so the lengths sum to ``target``; when consonants alone would take more than
    :data:`MAX_CONSONANT_SHARE` of the word (or nothing is voiced), all frames scale uniformly.
    """
    n = voiced.shape[0]
    n_voiced = int(voiced.sum())
    n_unvoiced = n - n_voiced
    if n_voiced and n_unvoiced <= MAX_CONSONANT_SHARE * target:
        lengths = np.where(voiced, (target - n_unvoiced) / n_voiced, 1.0)
    else:
        lengths = np.full(n, target / n)
    edges = np.concatenate([[0.0], np.cumsum(lengths)])  # output time where each source frame starts
    centres = np.arange(target) + 0.5
    return np.interp(centres, edges, np.arange(n + 1)) - 0.5


def _note_contour(notes: Sequence[Note], target: int, rate: float, depth: float) -> np.ndarray:
    """Per-frame f0 (Hz) of a word's notes, stretched to ``target`` frames, with delayed vibrato."""
    durations = np.array([d for d, _ in notes])
    bounds = np.round(np.concatenate([[0.0], np.cumsum(durations)]) / durations.sum() * target).astype(int)
    contour = np.empty(target)
    for (duration, freq), a, b in zip(notes, bounds[:-1], bounds[1:]):
        t = np.arange(b - a) * FRAME_SECONDS
        ramp = np.clip((t - VIBRATO_ONSET) / 0.2, 0.0, 1.0)
        contour[a:b] = freq * 2.0 ** (depth * ramp * np.sin(2 * np.pi * rate * t) / 12.0)
    return contour


def _smooth_log(f0: np.ndarray) -> np.ndarray:
    kernel = np.ones(PORTAMENTO_FRAMES) / PORTAMENTO_FRAMES
    padded = np.pad(np.log(f0), PORTAMENTO_FRAMES // 2, mode="edge")
    return np.exp(np.convolve(padded, kernel, mode="valid"))


def _interpolate(frames: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Rows of ``frames`` ``(n, bins)`` at fractional ``position`` ``(m,)`` (linear) -> ``(m, bins)``."""
    low = np.clip(np.floor(position).astype(int), 0, frames.shape[0] - 1)
    high = np.minimum(low + 1, frames.shape[0] - 1)
    weight = np.clip(position - low, 0.0, 1.0)[:, None]
    return np.ascontiguousarray(frames[low] * (1.0 - weight) + frames[high] * weight)
