"""Output formats: one registry of :class:`Format` records, the only list of formats there is.

Each format lives in its own module (``json``, ``lrc`` with ``elrc``, ``srt``, ``vtt``, ``ass``,
``textgrid``; ``cues`` holds what SRT and VTT share) with its writer, its reader where one exists
and its record. The CLI (``--format`` choices, suffix -> format), batch mode (suffixes, resume by
reading outputs back), the HTTP service (media types, bodies) and the gRPC gateway all take them
from :data:`REGISTRY`; adding a format is a module and one entry here.

Decisions shared by the display formats: times are rounded, not truncated, to each format's own
precision (LRC and ASS centiseconds, SRT/VTT/JSON milliseconds, TextGrid microseconds); lines flagged
``marker`` (section headers, stage directions: :func:`lyricalign.text.parse_lyrics`) are left out of
every format but JSON, which keeps one word per token and flags them. The format modules' docstrings
say what each format leaves open and how it is decided.

Standard library only (the CLI imports this package to build its ``--format`` choices).
"""

from __future__ import annotations

from pathlib import Path

from ..fsutil import PathLike, atomic_write_text
from ..schema import AlignmentResult
from .ass import ASS, ASS_HEADER
from .base import Format, FormatError, RenderOptions
from .cues import MIN_CUE_SECONDS, Cue
from .json import JSON, read_json
from .lrc import ELRC, LRC, LRC_GAP_SECONDS, parse_elrc, parse_lrc
from .srt import SRT, parse_srt
from .textgrid import TEXTGRID, TEXTGRID_DECIMALS, Interval, parse_textgrid
from .vtt import VTT, parse_vtt

#: Every format by name, in the order they are listed to users (a suffix names the first that has it).
REGISTRY: dict[str, Format] = {f.name: f for f in (JSON, LRC, ELRC, SRT, VTT, ASS, TEXTGRID)}
#: The format names (the CLI's ``--format`` choices, the service's ``formats``).
FORMATS: tuple[str, ...] = tuple(REGISTRY)
#: Format name -> the suffix of the files it writes.
FORMAT_SUFFIXES: dict[str, str] = {name: f.suffix for name, f in REGISTRY.items()}


def get_format(name: str) -> Format:
    """The format called ``name``; :class:`FormatError` listing the formats otherwise."""
    found = REGISTRY.get(name)
    if found is None:
        raise FormatError(f"unknown output format {name!r} (choose from: {', '.join(FORMATS)})")
    return found


def render(result: AlignmentResult, fmt: str, options: RenderOptions | None = None) -> str:
    """``result`` as the text of format ``fmt`` (one of :data:`FORMATS`)."""
    return get_format(fmt).render(result, options)


def write(result: AlignmentResult, fmt: str, path: PathLike) -> None:
    """Render, then write atomically: on any error ``path`` is left as it was."""
    atomic_write_text(path, render(result, fmt))


def known_suffixes() -> list[str]:
    """The suffixes formats write, each once, in registry order (for messages)."""
    return list(dict.fromkeys(FORMAT_SUFFIXES.values()))


def format_for_path(path: PathLike) -> str | None:
    """The format a file name's suffix suggests (``.lrc`` -> plain ``lrc``), or None."""
    suffix = Path(path).suffix.lower()
    for fmt in REGISTRY.values():
        if suffix in (s.lower() for s in fmt.suffixes):
            return fmt.name
    return None


def output_format(fmt: str | None, path: PathLike | None) -> str:
    """The format to write: ``fmt`` if given, else the one ``path``'s suffix names, else json (stdout).

    Raises:
        FormatError: ``fmt`` is unknown, or ``path`` has a suffix no format uses and no ``fmt`` was
            given (rather than silently writing JSON into ``song.xyz``).
    """
    if fmt:
        return get_format(fmt).name
    if path is None:
        return JSON.name
    found = format_for_path(path)
    if found is None:
        raise FormatError(f"cannot tell the output format from {Path(path).name!r}: use a suffix of "
                          f"{', '.join(known_suffixes())} or pass --format ({', '.join(FORMATS)})")
    return found


__all__ = [
    "ASS", "ASS_HEADER", "ELRC", "FORMATS", "FORMAT_SUFFIXES", "JSON", "LRC", "LRC_GAP_SECONDS", "MIN_CUE_SECONDS",
    "REGISTRY", "SRT", "TEXTGRID", "TEXTGRID_DECIMALS", "VTT",
    "Cue", "Format", "FormatError", "Interval", "RenderOptions", "format_for_path", "get_format", "known_suffixes",
    "output_format", "parse_elrc", "parse_lrc", "parse_srt", "parse_textgrid", "parse_vtt", "read_json", "render",
    "write",
]
