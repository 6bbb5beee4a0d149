"""SubRip (SRT): one numbered cue per shown line, millisecond times; and its reader."""

from __future__ import annotations

from ..schema import AlignmentResult
from .base import Format, FormatError, RenderOptions, shown_lines
from .cues import Cue, blocks, clock, cue_millis, timing


def render_srt(result: AlignmentResult, options: RenderOptions) -> str:
    out = []
    for number, (line, _) in enumerate(shown_lines(result), start=1):
        start, end = cue_millis(line)
        out.append(f"{number}\n{clock(start, ',')} --> {clock(end, ',')}\n{line.text}\n")
    return "\n".join(out)


def parse_srt(text: str) -> list[Cue]:
    """SRT cues in file order; :class:`FormatError` names the first malformed block."""
    cues = []
    for number, block in enumerate(blocks(text), start=1):
        what = f"SRT cue {number}"
        if not block[0].strip().isdigit():
            raise FormatError(f"{what}: expected a cue number, got {block[0]!r}")
        if len(block) < 2:
            raise FormatError(f"{what}: missing its timing line")
        start, end = timing(block[1], what)
        cues.append(Cue(start, end, "\n".join(block[2:])))
    return cues


SRT = Format("srt", (".srt",), "application/x-subrip; charset=utf-8", "one subtitle cue per line",
             render_srt, parse_srt)
