"""ASS/SSA karaoke (Aegisub, libass, ffmpeg's ``subtitles`` filter, mpv). No reader: the tests check
our output by rendering it with libass.

One ``Dialogue`` event per line on a 1280x720 canvas, bottom-centred; each word carries
``{\\k<centiseconds>}`` = the time from its start to the next word's start (the last: to the line's
end), so libass/Aegisub/ffmpeg fill the words in as they are sung. The first word's duration starts
at the event's start (the line's start), so the ``\\k`` values of a line add up to the event's
length. ASS times have centisecond precision.
"""

from __future__ import annotations

from typing import Sequence

from ..schema import AlignmentResult, Word
from .base import Format, RenderOptions, shown_lines

#: The ASS script header: a 1280x720 canvas and one karaoke style (white text filled in yellow as
#: sung, black outline), bottom-centred with a 40 px margin.
ASS_HEADER = """[Script Info]
; written by lyricalign
Title: {title}
ScriptType: v4.00+
WrapStyle: 0
ScaledBorderAndShadow: yes
YCbCr Matrix: None
PlayResX: 1280
PlayResY: 720

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, \
MarginV, Encoding
Style: Karaoke,Arial,48,&H0000FFFF,&H00FFFFFF,&H00000000,&H80000000,-1,0,0,0,100,100,0,0,1,3,1,2,40,40,40,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
""".replace("\\\n", "")


def _ass_time(centis: int) -> str:
    """``H:MM:SS.cc`` from integer centiseconds (ASS's precision)."""
    return f"{centis // 360_000}:{centis // 6000 % 60:02d}:{centis // 100 % 60:02d}.{centis % 100:02d}"


def _ass_escape(text: str) -> str:
    """Text safe in a Dialogue: braces would open override blocks, a backslash an escape."""
    return text.replace("\\", "\u29f5").replace("{", "(").replace("}", ")").replace("\n", " ")


def _ass_karaoke(words: Sequence[Word], start: int, end: int) -> str:
    """``{\\kNN}word {\\kNN}word ...``: each word's centiseconds until the next word (or the end)."""
    parts = []
    cursor = start
    for k, word in enumerate(words):
        following = round(words[k + 1].start * 100) if k + 1 < len(words) else end
        following = min(max(following, cursor), end)
        parts.append(f"{{\\k{following - cursor}}}{_ass_escape(word.text)}")
        cursor = following
    return " ".join(parts)


def render_ass(result: AlignmentResult, options: RenderOptions) -> str:
    out = [ASS_HEADER.format(title=f"lyricalign {result.method} {result.model}".strip())]
    for line, words in shown_lines(result):
        start = round(line.start * 100)
        end = max(round(line.end * 100), start + 1)  # a zero-length line still gets one centisecond
        out.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Karaoke,,0,0,0,,{_ass_karaoke(words, start, end)}\n")
    return "".join(out)


ASS = Format("ass", (".ass",), "text/x-ssa; charset=utf-8",
             "ASS/SSA karaoke: one event per line, {\\k} word timing in centiseconds", render_ass)
