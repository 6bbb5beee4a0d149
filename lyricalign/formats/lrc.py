"""LRC and enhanced LRC (the "A2 extension"), and their readers.

* **Precision**: centiseconds, rounded.
* **Breaks.** A player shows an LRC line until the next one starts; after a line followed by
  more than :data:`LRC_GAP_SECONDS` of silence or instrumental (or by the end of the song) an
  empty timed line at the line's end clears the display. Readers return it as ``(time, "")``.
* **Enhanced LRC**: ``[mm:ss.xx] <mm:ss.xx> word <mm:ss.xx> word ... <mm:ss.xx>``, one tag before
  each word (its start), the final tag the line's end. Pauses inside a line are not
  representable: a word is shown from its start until the next word's start.
"""

from __future__ import annotations

import re
from typing import Sequence

from ..schema import AlignmentResult, Line
from .base import Format, RenderOptions, shown_lines

#: A gap after a line longer than this (seconds) gets an empty timed LRC line that clears the display.
LRC_GAP_SECONDS = 4.0

_LRC_TAG = re.compile(r"\[(\d+):(\d{1,2}(?:[.:]\d{1,3})?)\]")
_LRC_WORD_TAG = re.compile(r"<(\d+):(\d{1,2}(?:\.\d{1,3})?)>")
_TEXT = "text/plain; charset=utf-8"


def _lrc_time(seconds: float) -> str:
    """``mm:ss.xx``; minutes keep counting past 59."""
    centis = round(seconds * 100)
    return f"{centis // 6000:02d}:{centis // 100 % 60:02d}.{centis % 100:02d}"


def _lrc_header(result: AlignmentResult) -> list[str]:
    total = round(result.duration)
    return [f"[length: {total // 60}:{total % 60:02d}]", "[re:lyricalign]"]


def _break_after(lines: Sequence[Line], index: int, duration: float) -> float | None:
    """End time of line ``index`` if a gap longer than :data:`LRC_GAP_SECONDS` follows it."""
    following = lines[index + 1].start if index + 1 < len(lines) else duration
    end = lines[index].end
    return end if following - end > LRC_GAP_SECONDS else None


def _render(result: AlignmentResult, word_tags: bool) -> str:
    out = _lrc_header(result)
    shown = shown_lines(result)
    lines = [line for line, _ in shown]
    for i, (line, words) in enumerate(shown):
        if word_tags:
            tagged = " ".join(f"<{_lrc_time(w.start)}> {w.text}" for w in words)
            out.append(f"[{_lrc_time(line.start)}] {tagged} <{_lrc_time(line.end)}>")
        else:
            out.append(f"[{_lrc_time(line.start)}]{line.text}")
        if (end := _break_after(lines, i, result.duration)) is not None:
            out.append(f"[{_lrc_time(end)}]")
    return "\n".join(out) + "\n"


def render_lrc(result: AlignmentResult, options: RenderOptions) -> str:
    """``[mm:ss.xx]line`` per shown line, plus break lines."""
    return _render(result, word_tags=False)


def render_elrc(result: AlignmentResult, options: RenderOptions) -> str:
    """Enhanced LRC: a ``<mm:ss.xx>`` tag before each word and the line's end after the last."""
    return _render(result, word_tags=True)


def _tag_seconds(minutes: str, seconds: str) -> float:
    """``("61", "40.25")`` -> 3700.25, with one rounding (a single division) rather than a float sum."""
    whole, _, fraction = seconds.replace(":", ".").partition(".")
    scale = 10 ** len(fraction)
    return ((int(minutes) * 60 + int(whole)) * scale + int(fraction or 0)) / scale


def _leading_tags(line: str) -> tuple[list[float], str]:
    """Time tags at the start of an LRC line and the rest of it."""
    times: list[float] = []
    position = 0
    while match := _LRC_TAG.match(line, position):
        times.append(_tag_seconds(match.group(1), match.group(2)))
        position = match.end()
    return times, line[position:]


def parse_lrc(text: str) -> list[tuple[float, str]]:
    """``(time, text)`` per timed line, sorted by time (a line with several tags yields several entries).

    ID tags (``[ar:...]``, ``[length: ...]``) and untimed lines are ignored; enhanced-LRC word tags are
    removed from the text.
    """
    entries: list[tuple[float, str]] = []
    for raw in text.lstrip("\ufeff").splitlines():
        times, rest = _leading_tags(raw.strip())
        body = " ".join(_LRC_WORD_TAG.sub(" ", rest).split())
        entries += [(t, body) for t in times]
    entries.sort(key=lambda entry: entry[0])
    return entries


def parse_elrc(text: str) -> list[tuple[float, list[tuple[float, str]]]]:
    """``(line time, [(word time, word), ...])`` per timed line, in file order.

    The final tag of a line, with no word after it, is kept as ``(line end, "")``; text before the
    first word tag is given the line's time.
    """
    lines: list[tuple[float, list[tuple[float, str]]]] = []
    for raw in text.lstrip("\ufeff").splitlines():
        times, rest = _leading_tags(raw.strip())
        if not times:
            continue
        words: list[tuple[float, str]] = []
        first = _LRC_WORD_TAG.search(rest)
        head = (rest[: first.start()] if first else rest).strip()
        if head:
            words.append((times[0], head))
        for tag in _LRC_WORD_TAG.finditer(rest):
            following = _LRC_WORD_TAG.search(rest, tag.end())
            word = rest[tag.end() : following.start() if following else len(rest)].strip()
            words.append((_tag_seconds(tag.group(1), tag.group(2)), word))
        lines += [(t, words) for t in times]
    return lines


LRC = Format("lrc", (".lrc",), _TEXT, "[mm:ss.xx]line per line", render_lrc, parse_lrc)
ELRC = Format("elrc", (".lrc",), _TEXT, "enhanced LRC: [mm:ss.xx] <mm:ss.xx> word <mm:ss.xx> word ...",
              render_elrc, parse_elrc)
