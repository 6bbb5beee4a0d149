"""The :class:`Format` record every output format registers, and what their writers share.

A format module (``json``, ``lrc``, ``srt``, ...) defines its writer, its reader if it has one,
and one :class:`Format` per format name; :mod:`lyricalign.formats` lists them once. Standard
library only: the CLI imports the registry to build its ``--format`` choices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import LyricalignError
from ..schema import AlignmentResult, Line, Word


class FormatError(LyricalignError, ValueError):
    """Unknown format name, a result that cannot be rendered, or a malformed file being read."""


@dataclass(frozen=True)
class RenderOptions:
    """How to render, where a format leaves a choice.

    ``compact``: JSON on one line without the trailing newline (the HTTP service's bodies); the
    other formats have one layout and ignore it.
    """

    compact: bool = False


Renderer = Callable[[AlignmentResult, RenderOptions], str]


def _has_content(parsed: Any) -> bool:
    return bool(parsed)


@dataclass(frozen=True)
class Format:
    """One output format: its name, file suffixes, media type, writer and (optional) reader.

    ``suffixes``: the first is the one written (``song.lrc``); a path's suffix names the first
    format of the registry that lists it, so ``.lrc`` reads as plain ``lrc``, not ``elrc``.
    ``parser``: text -> the format's own records (None: no reader; ``ass`` is checked with
    libass in the tests instead). ``has_content``: whether a parsed file holds an alignment
    (batch resume skips a song whose output passes it).
    """

    name: str
    suffixes: tuple[str, ...]
    media_type: str
    description: str
    renderer: Renderer
    parser: Callable[[str], Any] | None = None
    has_content: Callable[[Any], bool] = _has_content

    @property
    def suffix(self) -> str:
        """The suffix of the files this format writes."""
        return self.suffixes[0]

    def render(self, result: AlignmentResult, options: RenderOptions | None = None) -> str:
        """``result`` as this format's text; :class:`FormatError` if the result has impossible times."""
        check_renderable(result)
        return self.renderer(result, options or RenderOptions())

    def parse(self, text: str) -> Any:
        """The records ``text`` holds (see :attr:`parser`); :class:`FormatError` if malformed or no reader."""
        if self.parser is None:
            raise FormatError(f"format {self.name!r} has no reader")
        return self.parser(text)

    def parses_back(self, text: str) -> bool:
        """Whether ``text`` is a complete output of this format: it parses and holds an alignment
        (formats without a reader: it is not blank -- outputs are written atomically).

        Raises:
            FormatError, ValueError: ``text`` is malformed.
        """
        if self.parser is None:
            return bool(text.strip())
        return self.has_content(self.parser(text))


def check_renderable(result: AlignmentResult) -> None:
    """Refuse a result no format can show: non-finite or negative times, words of missing lines."""
    if not (math.isfinite(result.duration) and result.duration >= 0):
        raise FormatError(f"cannot render a result of duration {result.duration}")
    for kind, items in (("word", result.words), ("line", result.lines)):
        for i, item in enumerate(items):
            if not (math.isfinite(item.start) and math.isfinite(item.end) and 0 <= item.start <= item.end):
                raise FormatError(f"cannot render {kind} {i} ({item.text!r}): invalid times {item.start}..{item.end}")
    for i, word in enumerate(result.words):
        if not 0 <= word.line < len(result.lines):
            raise FormatError(f"cannot render word {i} ({word.text!r}): line {word.line} does not exist")


def shown_lines(result: AlignmentResult) -> list[tuple[Line, list[Word]]]:
    """The lines a display format shows (marker lines left out), each with its words."""
    grouped: list[list[Word]] = [[] for _ in result.lines]
    for word in result.words:
        grouped[word.line].append(word)
    return [(line, words) for line, words in zip(result.lines, grouped) if not line.marker]
