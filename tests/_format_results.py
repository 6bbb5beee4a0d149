"""Alignment results the format tests render: built through the core's contract, not by hand."""

from __future__ import annotations

from lyricalign.schema import AlignmentResult, Line, Word
from lyricalign.text import parse_lyrics
from lyricalign.timing import WordTiming, assemble_result

LYRICS = 'Say "hi" to the 😀 world\nÇa va, señor?\n\n[Chorus] 42 times'


def song_result() -> AlignmentResult:
    """A realistic result through the core contract: quotes, emoji, accents, an interpolated token,
    a zero-length word, a long instrumental break and a last line past one hour."""
    lyrics = parse_lyrics(LYRICS, "en")
    timings = [
        WordTiming(1.0, 1.4, 0.9), WordTiming(1.4, 1.9, 0.8), WordTiming(2.0, 2.2), WordTiming(2.2, 2.2),
        None, WordTiming(2.9, 3.5, 0.7),  # "😀" interpolated: [2.2, 2.9]
        WordTiming(4.0, 4.3), WordTiming(4.3, 4.6), WordTiming(4.6, 5.25),
        WordTiming(3725.5, 3725.5, 0.1), WordTiming(3725.5, 3726.0), WordTiming(3726.0, 3727.125),  # an hour later
    ]
    return assemble_result(lyrics, timings, 3730.0, model="test-model", method="ctc")


def one_line_result(words: list[tuple[str, float, float]], duration: float = 10.0) -> AlignmentResult:
    ws = tuple(Word(text, start, end, 1.0, 0) for text, start, end in words)
    line = Line(" ".join(w.text for w in ws), ws[0].start, max(w.end for w in ws))
    return AlignmentResult(ws, (line,), duration, "m", "en")
