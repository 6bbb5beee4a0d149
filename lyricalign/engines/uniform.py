"""The ``uniform`` baseline: spread the words over the detected vocal activity.

Words are laid end to end on the *active* timeline (the vocal-activity regions of
:mod:`lyricalign.vad` glued together), each taking time in proportion to its spoken length in
characters plus :data:`WORD_BIAS_CHARS`. A line that would straddle an inactive gap longer than
:data:`LONG_GAP_SECONDS` is squeezed into the side of the gap holding most of it, since singers
rarely pause for long inside a line. No acoustics beyond the activity detector: this is the
floor every real method must beat. On the 3 JamendoLyrics dev songs: AAE 8.81 s, MedAE 8.08 s,
PCO 0.026 (spreading over the whole file instead: AAE 11.19 s; over the true sung regions:
AAE 7.2 s -- the remaining error is the assumption of a constant singing rate).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..audio import duration_of
from ..progress import report_progress
from ..text import Lyrics
from ..timing import WordTiming
from ..vad import vocal_activity
from .base import Engine, EngineOutput

WORD_BIAS_CHARS = 2.0  # every word costs this many characters more (onsets, short words)
LONG_GAP_SECONDS = 1.5


class UniformEngine(Engine):
    name = "uniform"

    def __init__(self, *, use_vad: bool = True) -> None:
        self._use_vad = use_vad

    def align_words(self, audio: np.ndarray, lyrics: Lyrics) -> EngineOutput:
        """Words spread over vocal activity; no confidences (nothing is measured per word)."""
        duration = duration_of(audio)
        report_progress("activity", 0.0)
        regions = vocal_activity(audio).regions if self._use_vad else ((0.0, duration),)
        report_progress("activity", 1.0)
        extras = {"active_seconds": round(sum(e - s for s, e in regions), 2), "regions": len(regions)}
        return EngineOutput(spread_words(lyrics, regions), extras)


def spread_words(lyrics: Lyrics, regions: Sequence[tuple[float, float]]) -> list[WordTiming | None]:
    """Timings for ``lyrics`` laid over ``regions`` (sorted, disjoint ``(start, end)`` seconds)."""
    timeline = _ActiveTimeline(regions)
    weights = np.array([len(w.spoken.replace(" ", "")) + WORD_BIAS_CHARS if w.alignable else 0.0 for w in lyrics.words])
    scale = timeline.length / max(float(weights.sum()), 1e-9)
    bounds = np.concatenate([[0.0], np.cumsum(weights * scale)])  # virtual (active-time) word edges
    for line in lyrics.lines:
        first, last = line.first_word, line.first_word + line.n_words
        lo, hi = timeline.keep_together(bounds[first], bounds[last], LONG_GAP_SECONDS)
        if (lo, hi) != (bounds[first], bounds[last]):
            local = weights[first:last]
            bounds[first : last + 1] = lo + np.concatenate([[0.0], np.cumsum(local)]) * (hi - lo) / max(local.sum(), 1e-9)
    timings: list[WordTiming | None] = []
    for k, word in enumerate(lyrics.words):
        if not word.alignable:
            timings.append(None)
            continue
        start = timeline.to_real(bounds[k], side="start")
        end = timeline.to_real(bounds[k + 1], side="end")
        timings.append(WordTiming(start=start, end=max(start, end)))
    return timings


class _ActiveTimeline:
    """Maps "active time" (regions glued end to end) to real time and back."""

    def __init__(self, regions: Sequence[tuple[float, float]]) -> None:
        self.starts = np.array([s for s, _ in regions], dtype=float)
        self.ends = np.array([e for _, e in regions], dtype=float)
        lengths = self.ends - self.starts
        self.virtual_starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        self.length = float(lengths.sum())

    def to_real(self, v: float, side: str) -> float:
        """A virtual position on a region boundary maps to the next region's start for ``side="start"``
        and to the previous region's end for ``side="end"``."""
        k = int(np.searchsorted(self.virtual_starts, v, side="right" if side == "start" else "left")) - 1
        k = min(max(k, 0), len(self.starts) - 1)
        return float(min(self.starts[k] + (v - self.virtual_starts[k]), self.ends[k]))

    def keep_together(self, lo: float, hi: float, long_gap: float) -> tuple[float, float]:
        """The largest piece of virtual span ``[lo, hi]`` not crossing a real gap over ``long_gap``."""
        cuts = [
            float(self.virtual_starts[k])
            for k in range(1, len(self.starts))
            if lo < self.virtual_starts[k] < hi and self.starts[k] - self.ends[k - 1] > long_gap
        ]
        if not cuts:
            return lo, hi
        edges = [lo, *cuts, hi]
        pieces = list(zip(edges[:-1], edges[1:]))
        return max(pieces, key=lambda p: p[1] - p[0])
