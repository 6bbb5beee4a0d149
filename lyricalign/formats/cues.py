"""What SRT and WebVTT share: the :class:`Cue` record, clock times, cue timing lines and blocks.

**Zero-length cues**: a line whose end rounds to its start gets a cue of :data:`MIN_CUE_SECONDS`
(1 ms) rather than being merged into a neighbour, so every line keeps its own cue, number and
order. Cues may then overlap their successor by that millisecond. Times are milliseconds, rounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..schema import Line
from .base import FormatError

#: Shortest SRT/VTT cue (seconds), for lines of zero length.
MIN_CUE_SECONDS = 0.001

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{2}):(\d{2})[.,](\d{3})$")


@dataclass(frozen=True)
class Cue:
    """An SRT or WebVTT cue. ``words``: VTT karaoke segments ``(start, text)``, first at the cue start."""

    start: float
    end: float
    text: str
    words: tuple[tuple[float, str], ...] = ()


def clock(millis: int, separator: str) -> str:
    """``HH:MM:SS<sep>mmm`` from integer milliseconds; hours keep counting past 99."""
    hours, minutes, seconds = millis // 3_600_000, millis // 60_000 % 60, millis // 1000 % 60
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis % 1000:03d}"


def cue_millis(line: Line) -> tuple[int, int]:
    """A line's cue ``(start, end)`` in milliseconds, at least :data:`MIN_CUE_SECONDS` long."""
    start = round(line.start * 1000)
    return start, max(round(line.end * 1000), start + round(MIN_CUE_SECONDS * 1000))


def clock_seconds(text: str, what: str) -> float:
    """``[HH:]MM:SS.mmm`` (or ``,mmm``) -> seconds; :class:`FormatError` naming ``what`` if malformed."""
    match = _CLOCK.match(text.strip())
    if match is None:
        raise FormatError(f"{what}: malformed time {text.strip()!r}")
    hours, minutes, seconds, millis = match.groups()
    return (((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)) / 1000


def timing(line: str, what: str) -> tuple[float, float]:
    """``start --> end [settings]`` -> ``(start, end)`` seconds."""
    if "-->" not in line:
        raise FormatError(f"{what}: expected 'start --> end', got {line!r}")
    start, _, rest = line.partition("-->")
    end = rest.split()[0] if rest.split() else ""
    return clock_seconds(start, what), clock_seconds(end, what)


def blocks(text: str) -> list[list[str]]:
    """Groups of non-blank lines separated by blank lines."""
    found: list[list[str]] = []
    current: list[str] = []
    for line in text.lstrip("\ufeff").replace("\r\n", "\n").split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found
