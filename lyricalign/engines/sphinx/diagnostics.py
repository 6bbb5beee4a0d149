"""Per-word confidences and the song-level plausibility flags of a ``sphinx`` alignment."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .options import HMM_FRAMES_PER_SECOND, MAX_PLAUSIBLE_WORD_SECONDS, MIN_FRAMES_PER_PHONE, SQUEEZE_FACTOR, SQUEEZED_RUN_WORDS
from .plan import Segment

def word_confidences(segments: Sequence[Segment], phone_loop: np.ndarray | None = None) -> list[float]:
    """Per-word confidence in [0, 1], relative to the song.

    With ``phone_loop`` (``(frames,)`` scores of a free phone loop): the mean over the word's
    frames, i.e. how well *some* speech explains the audio the word was placed on; a word
    pushed onto an instrumental scores low. Without: the word's own acoustic score per frame
    (weak: stretched phones on steady instruments score well). Scores are log-likelihoods whose
    level depends on the recording, so each word is compared with the song's median: logistic
    of the robust z-score (median/MAD), shifted so a median word scores about 0.73 and clear
    outliers approach 0.
    """
    if phone_loop is not None:
        per_frame = np.array([phone_loop[s.start_frame : s.end_frame + 1].mean() for s in segments])
    else:
        per_frame = np.array([s.ascore / max(1, s.n_frames) for s in segments], dtype=np.float64)
    median = float(np.median(per_frame))
    mad = float(np.median(np.abs(per_frame - median))) * 1.4826 or 1.0
    z = (per_frame - median) / mad
    return [float(1.0 / (1.0 + math.exp(-(v + 1.0)))) for v in np.clip(z, -30, 30)]


def diagnose(segments: Sequence[Segment], pronunciations: list[list[tuple[str, ...]]]) -> dict:
    """Song-level plausibility: words stretched over gaps, runs squeezed to minimum duration.

    Both are the signature of a section-level jump: the decoder squeezes lyrics it could not
    place (e.g. a chorus matched to the wrong repetition) and stretches a neighbour over the gap.
    """
    stretched = [s.token for s in segments if s.n_frames / HMM_FRAMES_PER_SECOND > MAX_PLAUSIBLE_WORD_SECONDS]
    runs: list[list[int]] = []
    current: list[int] = []
    for s in segments:
        minimum = MIN_FRAMES_PER_PHONE * min(len(p) for p in pronunciations[s.token])
        if s.n_frames <= SQUEEZE_FACTOR * minimum:
            current.append(s.token)
            continue
        if len(current) >= SQUEEZED_RUN_WORDS:
            runs.append([current[0], current[-1]])
        current = []
    if len(current) >= SQUEEZED_RUN_WORDS:
        runs.append([current[0], current[-1]])
    durations = [s.n_frames / HMM_FRAMES_PER_SECOND for s in segments]
    return {
        "suspect_alignment": bool(stretched or runs),
        "stretched_words": stretched,
        "squeezed_runs": runs,
        "max_word_seconds": round(max(durations), 2),
        "median_word_seconds": round(float(np.median(durations)), 3),
    }
