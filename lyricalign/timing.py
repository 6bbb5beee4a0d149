"""From per-word engine timings to a complete :class:`AlignmentResult`.

Every engine returns one optional :class:`WordTiming` per lyrics token; this module enforces
the output contract in one place: one word per token, in order, times inside ``[0, duration]``,
non-decreasing starts, ``end >= start``, unalignable tokens interpolated from their neighbours
and flagged (``interpolated``; ``marker`` too for the words of marker lines), lines spanning their
words, times rounded to the millisecond (:data:`TIME_DECIMALS`: finer than any engine's frames,
and ``16.69`` rather than ``16.689999999999998`` in every output, Python objects included), and the
language detection and its warning, if any, in ``extras``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .errors import AlignmentError
from .schema import AlignmentResult, Line, Word
from .text import Lyrics

#: Longest span given to one interpolated word (seconds).
MAX_INTERPOLATED_SECONDS = 1.0
#: Decimal places of every time in a result (milliseconds).
TIME_DECIMALS = 3


@dataclass(frozen=True)
class WordTiming:
    """Where an engine placed one word (seconds), and how sure it is, in [0, 1] (None: the method has
    no measure of it, e.g. ``dtw``, ``uniform``)."""

    start: float
    end: float
    confidence: float | None = None


def assemble_result(
    lyrics: Lyrics,
    timings: Sequence[WordTiming | None],
    duration: float,
    *,
    model: str,
    method: str,
    extras: dict[str, Any] | None = None,
) -> AlignmentResult:
    """Build the result for ``lyrics`` from one timing (or None) per word."""
    if len(timings) != len(lyrics.words):
        raise AlignmentError(f"engine returned {len(timings)} timings for {len(lyrics.words)} words")
    duration = round(float(duration), TIME_DECIMALS)
    # Markers are never aligned, whatever an engine made of them.
    timings = [None if w.marker else t for w, t in zip(lyrics.words, timings)]
    spans = _monotonic(timings, duration)
    filled = _interpolate(spans, [w.line for w in lyrics.words], duration)
    words = tuple(
        Word(
            text=w.text,
            start=round(start, TIME_DECIMALS),
            end=round(end, TIME_DECIMALS),
            confidence=_confidence(timing),
            line=w.line,
            interpolated=timing is None,
            marker=w.marker,
        )
        for w, timing, (start, end) in zip(lyrics.words, timings, filled)
    )
    lines = tuple(
        Line(
            text=ln.text,
            start=words[ln.first_word].start,
            end=max(w.end for w in words[ln.first_word : ln.first_word + ln.n_words]),
            paragraph=ln.paragraph,
            marker=ln.marker,
        )
        for ln in lyrics.lines
    )
    return AlignmentResult(
        words=words, lines=lines, duration=duration, model=model, language=lyrics.language, method=method,
        extras=_with_language(extras or {}, lyrics),
    )


def _with_language(extras: dict[str, Any], lyrics: Lyrics) -> dict[str, Any]:
    """``extras`` plus the language detection of ``lyrics`` and its warning (if any)."""
    detection = lyrics.detection
    if detection is None:
        return extras
    out = {**extras, "language_detection": detection.to_dict()}
    if detection.warning:
        out["warnings"] = [*extras.get("warnings", []), detection.warning]
    return out


def _monotonic(timings: Sequence[WordTiming | None], duration: float) -> list[tuple[float, float] | None]:
    """Clamp to the audio and make starts non-decreasing, ends >= starts."""
    out: list[tuple[float, float] | None] = []
    floor = 0.0
    for t in timings:
        if t is None:
            out.append(None)
            continue
        start = min(max(float(t.start), floor, 0.0), duration)
        end = min(max(float(t.end), start), duration)
        out.append((start, end))
        floor = start
    return out


def _interpolate(
    spans: list[tuple[float, float] | None], lines: Sequence[int], duration: float
) -> list[tuple[float, float]]:
    """Fill each run of missing spans from its neighbours.

    A run shares the gap between the aligned words around it evenly, but each of its words gets
    at most :data:`MAX_INTERPOLATED_SECONDS`: a ``[Chorus]`` tag before a 30-second instrumental
    must not span the whole break. A capped run sits against the neighbour on its own line
    (before the next word when it opens that word's line, otherwise after the previous word).
    """
    filled: list[tuple[float, float]] = []
    i = 0
    while i < len(spans):
        span = spans[i]
        if span is not None:
            filled.append(span)
            i += 1
            continue
        j = i
        while j < len(spans) and spans[j] is None:
            j += 1
        left = filled[-1][1] if filled else 0.0
        right = spans[j][0] if j < len(spans) else duration  # type: ignore[index]
        left = min(left, right)  # previous word ends after the next starts: squeeze in at the boundary
        step = min((right - left) / (j - i), MAX_INTERPOLATED_SECONDS)
        anchored_right = j < len(spans) and lines[j - 1] == lines[j]
        first = right - step * (j - i) if anchored_right else left
        filled.extend((first + k * step, first + (k + 1) * step) for k in range(j - i))
        i = j
    return filled


def _confidence(timing: WordTiming | None) -> float | None:
    """0 for an interpolated word (nothing placed it), None where the engine has no confidence, else clipped to [0, 1]."""
    if timing is None:
        return 0.0
    if timing.confidence is None:
        return None
    return min(1.0, max(0.0, float(timing.confidence)))
