"""Output formats: render an :class:`AlignmentResult` as JSON, LRC, enhanced LRC, SRT, WebVTT, ASS
karaoke or a Praat TextGrid, and read each of them back (ASS is checked by rendering it with libass).

Standard library only (the CLI imports this module to build its ``--format`` choices).

Decisions where the formats leave room:

* **Precision.** Each format's own: LRC centiseconds, SRT/VTT milliseconds, JSON milliseconds
  (:meth:`AlignmentResult.to_dict`), TextGrid microseconds. Times are rounded, not truncated.
* **LRC breaks.** A player shows an LRC line until the next one starts; after a line followed by
  more than :data:`LRC_GAP_SECONDS` of silence or instrumental (or by the end of the song) an
  empty timed line at the line's end clears the display. Readers return it as ``(time, "")``.
* **Enhanced LRC** (the "A2 extension"): ``[mm:ss.xx] <mm:ss.xx> word <mm:ss.xx> word ... <mm:ss.xx>``,
  one tag before each word (its start), the final tag the line's end. Pauses inside a line are not
  representable: a word is shown from its start until the next word's start.
* **Zero-length cues** (SRT/VTT): a line whose end rounds to its start gets a cue of
  :data:`MIN_CUE_SECONDS` (1 ms) rather than being merged into a neighbour, so every line keeps its
  own cue, number and order. Cues may then overlap their successor by that millisecond.
* **VTT karaoke.** A ``<HH:MM:SS.mmm>`` timestamp precedes each word after the first. WebVTT requires
  them strictly inside the cue and strictly increasing; a word whose start does not satisfy that
  (a zero-length word, or one starting with its predecessor) carries no timestamp and is shown with
  the previous word.
* **Markers.** Lines flagged ``marker`` (section headers, stage directions: see
  :func:`lyricalign.text.parse_lyrics`) are left out of every format but JSON, which keeps one word
  per token and flags them.
* **ASS karaoke.** One ``Dialogue`` event per line on a 1280x720 canvas, bottom-centred; each word
  carries ``{\\k<centiseconds>}`` = the time from its start to the next word's start (the last: to
  the line's end), so libass/Aegisub/ffmpeg fill the words in as they are sung. The first word's
  duration starts at the event's start (the line's start), so the ``\\k`` values of a line add up to
  the event's length. ASS times have centisecond precision.
* **TextGrid.** Tiers must tile ``[0, duration]`` with intervals of positive length: gaps become
  empty intervals, an overlapping start is clipped to the previous end, and a zero-length word
  shares the interval of its predecessor (text joined by a space) -- or of its successor when it has
  no predecessor touching it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from .errors import LyricalignError
from .fsutil import PathLike, atomic_write_text
from .schema import AlignmentResult, Line, Word

FORMATS = ("json", "lrc", "elrc", "srt", "vtt", "ass", "textgrid")
FORMAT_SUFFIXES = {
    "json": ".json", "lrc": ".lrc", "elrc": ".lrc", "srt": ".srt", "vtt": ".vtt", "ass": ".ass",
    "textgrid": ".TextGrid",
}

#: A gap after a line longer than this (seconds) gets an empty timed LRC line that clears the display.
LRC_GAP_SECONDS = 4.0
#: Shortest SRT/VTT cue (seconds), for lines of zero length.
MIN_CUE_SECONDS = 0.001
#: Decimal places of TextGrid times (microseconds: finer than any engine's frame rate).
TEXTGRID_DECIMALS = 6

_LRC_TAG = re.compile(r"\[(\d+):(\d{1,2}(?:[.:]\d{1,3})?)\]")
_LRC_WORD_TAG = re.compile(r"<(\d+):(\d{1,2}(?:\.\d{1,3})?)>")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{2}):(\d{2})[.,](\d{3})$")
_VTT_TIMESTAMP = re.compile(r"<((?:\d+:)?\d{2}:\d{2}\.\d{3})>")
_VTT_TAG = re.compile(r"</?[^>]*>")
_TEXTGRID_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"'  # string, quotes doubled
    r"|\[\s*\d*\s*\]"  # "item [1]:" / "intervals [3]:" indices of the long format: skipped
    r"|(<exists>|<absent>)"
    r"|(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
)


class FormatError(LyricalignError, ValueError):
    """Unknown format name, a result that cannot be rendered, or a malformed file being read."""


@dataclass(frozen=True)
class Cue:
    """An SRT or WebVTT cue. ``words``: VTT karaoke segments ``(start, text)``, first at the cue start."""

    start: float
    end: float
    text: str
    words: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Interval:
    """One TextGrid interval (for point tiers ``xmin == xmax``)."""

    xmin: float
    xmax: float
    text: str


# --------------------------------------------------------------------------------------- writing


def render(result: AlignmentResult, fmt: str) -> str:
    """``result`` as the text of format ``fmt`` (one of :data:`FORMATS`)."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise FormatError(f"unknown output format {fmt!r} (choose from: {', '.join(FORMATS)})")
    _check_renderable(result)
    return renderer(result)


def write(result: AlignmentResult, fmt: str, path: PathLike) -> None:
    """Render, then write atomically: on any error ``path`` is left as it was."""
    atomic_write_text(path, render(result, fmt))


def output_format(fmt: str | None, path: PathLike | None) -> str:
    """The format to write: ``fmt`` if given, else the one ``path``'s suffix names, else json (stdout).

    Raises:
        FormatError: ``path`` has a suffix no format uses and no ``fmt`` was given (rather than
            silently writing JSON into ``song.ass``).
    """
    if fmt:
        if fmt not in FORMATS:
            raise FormatError(f"unknown output format {fmt!r} (choose from: {', '.join(FORMATS)})")
        return fmt
    if path is None:
        return "json"
    found = format_for_path(path)
    if found is None:
        suffixes = ", ".join(dict.fromkeys(FORMAT_SUFFIXES.values()))
        raise FormatError(f"cannot tell the output format from {Path(path).name!r}: use a suffix of {suffixes} "
                          f"or pass --format ({', '.join(FORMATS)})")
    return found


def format_for_path(path: PathLike) -> str | None:
    """The format a file name's suffix suggests (``.lrc`` -> plain ``lrc``), or None."""
    suffix = Path(path).suffix.lower()
    for fmt, fmt_suffix in FORMAT_SUFFIXES.items():
        if suffix == fmt_suffix.lower():
            return fmt
    return None


def _check_renderable(result: AlignmentResult) -> None:
    if not (math.isfinite(result.duration) and result.duration >= 0):
        raise FormatError(f"cannot render a result of duration {result.duration}")
    for kind, items in (("word", result.words), ("line", result.lines)):
        for i, item in enumerate(items):
            if not (math.isfinite(item.start) and math.isfinite(item.end) and 0 <= item.start <= item.end):
                raise FormatError(f"cannot render {kind} {i} ({item.text!r}): invalid times {item.start}..{item.end}")
    for i, word in enumerate(result.words):
        if not 0 <= word.line < len(result.lines):
            raise FormatError(f"cannot render word {i} ({word.text!r}): line {word.line} does not exist")


def _words_by_line(result: AlignmentResult) -> list[list[Word]]:
    grouped: list[list[Word]] = [[] for _ in result.lines]
    for word in result.words:
        grouped[word.line].append(word)
    return grouped


def _shown(result: AlignmentResult) -> list[tuple[Line, list[Word]]]:
    """The lines a display format shows (marker lines left out), each with its words."""
    return [(line, words) for line, words in zip(result.lines, _words_by_line(result)) if not line.marker]


def _render_json(result: AlignmentResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


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


def _render_lrc(result: AlignmentResult) -> str:
    out = _lrc_header(result)
    shown = _shown(result)
    lines = [line for line, _ in shown]
    for i, line in enumerate(lines):
        out.append(f"[{_lrc_time(line.start)}]{line.text}")
        if (end := _break_after(lines, i, result.duration)) is not None:
            out.append(f"[{_lrc_time(end)}]")
    return "\n".join(out) + "\n"


def _render_elrc(result: AlignmentResult) -> str:
    out = _lrc_header(result)
    shown = _shown(result)
    lines = [line for line, _ in shown]
    for i, (line, words) in enumerate(shown):
        tagged = " ".join(f"<{_lrc_time(w.start)}> {w.text}" for w in words)
        out.append(f"[{_lrc_time(line.start)}] {tagged} <{_lrc_time(line.end)}>")
        if (end := _break_after(lines, i, result.duration)) is not None:
            out.append(f"[{_lrc_time(end)}]")
    return "\n".join(out) + "\n"


def _clock(millis: int, separator: str) -> str:
    """``HH:MM:SS<sep>mmm`` from integer milliseconds; hours keep counting past 99."""
    hours, minutes, seconds = millis // 3_600_000, millis // 60_000 % 60, millis // 1000 % 60
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis % 1000:03d}"


def _cue_millis(line: Line) -> tuple[int, int]:
    start = round(line.start * 1000)
    return start, max(round(line.end * 1000), start + round(MIN_CUE_SECONDS * 1000))


def _render_srt(result: AlignmentResult) -> str:
    blocks = []
    for number, (line, _) in enumerate(_shown(result), start=1):
        start, end = _cue_millis(line)
        blocks.append(f"{number}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{line.text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_payload(words: Sequence[Word], start: int, end: int) -> str:
    """Words with a karaoke timestamp before each but the first (only where strictly inside and increasing)."""
    parts: list[str] = []
    previous = start
    for k, word in enumerate(words):
        text = _vtt_escape(word.text)
        at = round(word.start * 1000)
        if k > 0 and previous < at < end:
            parts.append(f"<{_clock(at, '.')}>{text}")
            previous = at
        else:
            parts.append(text)
    return " ".join(parts)


def _render_vtt(result: AlignmentResult) -> str:
    blocks = ["WEBVTT\n"]
    for line, words in _shown(result):
        start, end = _cue_millis(line)
        blocks.append(f"{_clock(start, '.')} --> {_clock(end, '.')}\n{_vtt_payload(words, start, end)}\n")
    return "\n".join(blocks)


def _number(value: float) -> str:
    text = f"{value:.{TEXTGRID_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _contiguous(items: Iterable[tuple[float, float, str]], duration: float) -> list[Interval]:
    """Tile ``[0, duration]`` with positive-length intervals: see the module notes on TextGrid."""
    intervals: list[Interval] = []
    pending: list[str] = []  # zero-length items waiting for the next interval
    cursor = 0.0
    for start, end, text in items:
        start = min(max(start, cursor), duration)
        end = min(max(end, start), duration)
        if end <= start:
            last = intervals[-1] if intervals else None
            if last is not None and last.text and last.xmax == start:
                intervals[-1] = Interval(last.xmin, last.xmax, f"{last.text} {text}")
            else:
                pending.append(text)
            continue
        if start > cursor:
            intervals.append(Interval(cursor, start, ""))
        intervals.append(Interval(start, end, " ".join([*pending, text])))
        pending = []
        cursor = end
    if cursor < duration or not intervals:
        intervals.append(Interval(cursor, duration, ""))
    if pending:  # zero-length items at the very end: join the last interval
        last = intervals[-1]
        intervals[-1] = Interval(last.xmin, last.xmax, " ".join(t for t in [last.text, *pending] if t))
    return intervals


def _render_textgrid(result: AlignmentResult) -> str:
    shown = _shown(result)
    tiers = {
        "lines": _contiguous(((ln.start, ln.end, ln.text) for ln, _ in shown), result.duration),
        "words": _contiguous(((w.start, w.end, w.text) for _, words in shown for w in words), result.duration),
    }
    xmax = _number(result.duration)
    out = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {xmax}",
           "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for number, (name, intervals) in enumerate(tiers.items(), start=1):
        out += [f"    item [{number}]:", '        class = "IntervalTier"', f"        name = {_quoted(name)}",
                "        xmin = 0", f"        xmax = {xmax}", f"        intervals: size = {len(intervals)}"]
        for k, interval in enumerate(intervals, start=1):
            out += [f"        intervals [{k}]:", f"            xmin = {_number(interval.xmin)}",
                    f"            xmax = {_number(interval.xmax)}", f"            text = {_quoted(interval.text)}"]
    return "\n".join(out) + "\n"


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


def _render_ass(result: AlignmentResult) -> str:
    out = [ASS_HEADER.format(title=f"lyricalign {result.method} {result.model}".strip())]
    for line, words in _shown(result):
        start = round(line.start * 100)
        end = max(round(line.end * 100), start + 1)  # a zero-length line still gets one centisecond
        out.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Karaoke,,0,0,0,,{_ass_karaoke(words, start, end)}\n")
    return "".join(out)


_RENDERERS: dict[str, Callable[[AlignmentResult], str]] = {
    "json": _render_json,
    "lrc": _render_lrc,
    "elrc": _render_elrc,
    "srt": _render_srt,
    "vtt": _render_vtt,
    "ass": _render_ass,
    "textgrid": _render_textgrid,
}

# --------------------------------------------------------------------------------------- reading


def read_json(text: str) -> AlignmentResult:
    """The result a ``json`` rendering describes."""
    try:
        return AlignmentResult.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(f"not a lyricalign JSON result: {e}") from e


def _tag_seconds(minutes: str, seconds: str) -> float:
    """``("61", "40.25")`` -> 3700.25, with one rounding (a single division) rather than a float sum."""
    whole, _, fraction = seconds.replace(":", ".").partition(".")
    scale = 10 ** len(fraction)
    return ((int(minutes) * 60 + int(whole)) * scale + int(fraction or 0)) / scale


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


def _leading_tags(line: str) -> tuple[list[float], str]:
    """Time tags at the start of an LRC line and the rest of it."""
    times: list[float] = []
    position = 0
    while match := _LRC_TAG.match(line, position):
        times.append(_tag_seconds(match.group(1), match.group(2)))
        position = match.end()
    return times, line[position:]


def _clock_seconds(text: str, what: str) -> float:
    match = _CLOCK.match(text.strip())
    if match is None:
        raise FormatError(f"{what}: malformed time {text.strip()!r}")
    hours, minutes, seconds, millis = match.groups()
    return (((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)) / 1000


def _timing(line: str, what: str) -> tuple[float, float]:
    if "-->" not in line:
        raise FormatError(f"{what}: expected 'start --> end', got {line!r}")
    start, _, rest = line.partition("-->")
    end = rest.split()[0] if rest.split() else ""
    return _clock_seconds(start, what), _clock_seconds(end, what)


def _blocks(text: str) -> list[list[str]]:
    """Groups of non-blank lines separated by blank lines."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.lstrip("\ufeff").replace("\r\n", "\n").split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def parse_srt(text: str) -> list[Cue]:
    """SRT cues in file order; :class:`FormatError` names the first malformed block."""
    cues = []
    for number, block in enumerate(_blocks(text), start=1):
        what = f"SRT cue {number}"
        if not block[0].strip().isdigit():
            raise FormatError(f"{what}: expected a cue number, got {block[0]!r}")
        if len(block) < 2:
            raise FormatError(f"{what}: missing its timing line")
        start, end = _timing(block[1], what)
        cues.append(Cue(start, end, "\n".join(block[2:])))
    return cues


def parse_vtt(text: str) -> list[Cue]:
    """WebVTT cues in file order, with karaoke timestamps as :attr:`Cue.words`; tags removed from text."""
    blocks = _blocks(text)
    if not blocks or not re.match(r"WEBVTT(?:[ \t]|$)", blocks[0][0]):
        raise FormatError("not a WebVTT file: it must start with 'WEBVTT'")
    cues = []
    for block in blocks[1:]:
        if block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing_row = 0 if "-->" in block[0] else 1  # an optional cue identifier comes first
        what = f"WebVTT cue {len(cues) + 1}"
        if timing_row >= len(block):
            raise FormatError(f"{what}: missing its timing line")
        start, end = _timing(block[timing_row], what)
        payload = "\n".join(block[timing_row + 1 :])
        cues.append(Cue(start, end, _vtt_text(payload), _vtt_segments(payload, start, what)))
    return cues


def _vtt_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u00a0").replace("&amp;", "&")


def _vtt_text(payload: str) -> str:
    return _vtt_unescape(" ".join(_VTT_TAG.sub(" ", payload).split()))


def _vtt_segments(payload: str, start: float, what: str) -> tuple[tuple[float, str], ...]:
    pieces = _VTT_TIMESTAMP.split(payload)  # [text, time, text, time, text, ...]
    segments = [(start, _vtt_text(pieces[0]))]
    segments += [(_clock_seconds(at, what), _vtt_text(body)) for at, body in zip(pieces[1::2], pieces[2::2])]
    return tuple(segments)


def parse_textgrid(text: str) -> dict[str, list[Interval]]:
    """Tier name -> intervals, from a Praat TextGrid (long or short text format).

    Point tiers (``TextTier``) are returned with ``xmin == xmax`` per point. Praat saves grids with
    non-ASCII text as UTF-16 by default: decode the file accordingly (it starts with a BOM).
    """
    tokens = _textgrid_tokens(text)
    try:
        if next(tokens) != "ooTextFile" or next(tokens) != "TextGrid":
            raise FormatError("not a TextGrid: expected 'File type = \"ooTextFile\"' and 'Object class = \"TextGrid\"'")
        _extent(tokens)  # the grid's time range: checked, not returned
        if next(tokens) != "<exists>":
            return {}
        tiers: dict[str, list[Interval]] = {}
        for _ in range(int(next(tokens))):
            tier_class, name = next(tokens), next(tokens)
            _extent(tokens)  # the tier's time range
            count = int(next(tokens))
            if tier_class == "IntervalTier":
                tiers[name] = [Interval(*_extent(tokens), next(tokens)) for _ in range(count)]
            elif tier_class == "TextTier":
                tiers[name] = [_point(tokens) for _ in range(count)]
            else:
                raise FormatError(f"TextGrid tier {name!r}: unknown class {tier_class!r}")
        return tiers
    except StopIteration as e:
        raise FormatError("TextGrid ends early: fewer values than its sizes announce") from e
    except FormatError:
        raise
    except ValueError as e:  # a string where a number belongs
        raise FormatError(f"malformed TextGrid: {e}") from e


def _extent(tokens: Iterator[str]) -> tuple[float, float]:
    """The next ``xmin, xmax`` pair (checked to be numbers)."""
    return float(next(tokens)), float(next(tokens))


def _point(tokens: Iterator[str]) -> Interval:
    time = float(next(tokens))
    return Interval(time, time, next(tokens))


def _textgrid_tokens(text: str) -> Iterator[str]:
    """Strings (unquoted), flags and numbers (as text), in order; labels and indices are skipped."""
    for match in _TEXTGRID_TOKEN.finditer(text.lstrip("\ufeff")):
        string, flag, number = match.groups()
        if string is not None:
            yield string.replace('""', '"')
        elif flag is not None:
            yield flag
        elif number is not None:
            yield number
