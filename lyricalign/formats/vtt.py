"""WebVTT with karaoke word timestamps, and its reader.

A ``<HH:MM:SS.mmm>`` timestamp precedes each word after the first. WebVTT requires them strictly
inside the cue and strictly increasing; a word whose start does not satisfy that (a zero-length
word, or one starting with its predecessor) carries no timestamp and is shown with the previous
word.
"""

from __future__ import annotations

import re
from typing import Sequence

from ..schema import AlignmentResult, Word
from .base import Format, FormatError, RenderOptions, shown_lines
from .cues import Cue, blocks, clock, clock_seconds, cue_millis, timing

_VTT_TIMESTAMP = re.compile(r"<((?:\d+:)?\d{2}:\d{2}\.\d{3})>")
_VTT_TAG = re.compile(r"</?[^>]*>")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u00a0").replace("&amp;", "&")


def _payload(words: Sequence[Word], start: int, end: int) -> str:
    """Words with a karaoke timestamp before each but the first (only where strictly inside and increasing)."""
    parts: list[str] = []
    previous = start
    for k, word in enumerate(words):
        text = _escape(word.text)
        at = round(word.start * 1000)
        if k > 0 and previous < at < end:
            parts.append(f"<{clock(at, '.')}>{text}")
            previous = at
        else:
            parts.append(text)
    return " ".join(parts)


def render_vtt(result: AlignmentResult, options: RenderOptions) -> str:
    out = ["WEBVTT\n"]
    for line, words in shown_lines(result):
        start, end = cue_millis(line)
        out.append(f"{clock(start, '.')} --> {clock(end, '.')}\n{_payload(words, start, end)}\n")
    return "\n".join(out)


def parse_vtt(text: str) -> list[Cue]:
    """WebVTT cues in file order, with karaoke timestamps as :attr:`Cue.words`; tags removed from text."""
    found = blocks(text)
    if not found or not re.match(r"WEBVTT(?:[ \t]|$)", found[0][0]):
        raise FormatError("not a WebVTT file: it must start with 'WEBVTT'")
    cues = []
    for block in found[1:]:
        if block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing_row = 0 if "-->" in block[0] else 1  # an optional cue identifier comes first
        what = f"WebVTT cue {len(cues) + 1}"
        if timing_row >= len(block):
            raise FormatError(f"{what}: missing its timing line")
        start, end = timing(block[timing_row], what)
        payload = "\n".join(block[timing_row + 1 :])
        cues.append(Cue(start, end, _text(payload), _segments(payload, start, what)))
    return cues


def _text(payload: str) -> str:
    return _unescape(" ".join(_VTT_TAG.sub(" ", payload).split()))


def _segments(payload: str, start: float, what: str) -> tuple[tuple[float, str], ...]:
    pieces = _VTT_TIMESTAMP.split(payload)  # [text, time, text, time, text, ...]
    segments = [(start, _text(pieces[0]))]
    segments += [(clock_seconds(at, what), _text(body)) for at, body in zip(pieces[1::2], pieces[2::2])]
    return tuple(segments)


VTT = Format("vtt", (".vtt",), "text/vtt; charset=utf-8",
             "WebVTT, one cue per line with karaoke <hh:mm:ss.mmm> word timestamps", render_vtt, parse_vtt)
