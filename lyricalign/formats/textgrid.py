"""Praat TextGrid with ``lines`` and ``words`` interval tiers, and a reader of Praat's text formats.

Tiers must tile ``[0, duration]`` with intervals of positive length: gaps become empty intervals,
an overlapping start is clipped to the previous end, and a zero-length word shares the interval of
its predecessor (text joined by a space) -- or of its successor when it has no predecessor touching
it. Times have :data:`TEXTGRID_DECIMALS` decimals (microseconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from ..schema import AlignmentResult
from .base import Format, FormatError, RenderOptions, shown_lines

#: Decimal places of TextGrid times (microseconds: finer than any engine's frame rate).
TEXTGRID_DECIMALS = 6

_TEXTGRID_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"'  # string, quotes doubled
    r"|\[\s*\d*\s*\]"  # "item [1]:" / "intervals [3]:" indices of the long format: skipped
    r"|(<exists>|<absent>)"
    r"|(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
)


@dataclass(frozen=True)
class Interval:
    """One TextGrid interval (for point tiers ``xmin == xmax``)."""

    xmin: float
    xmax: float
    text: str


def _number(value: float) -> str:
    text = f"{value:.{TEXTGRID_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _contiguous(items: Iterable[tuple[float, float, str]], duration: float) -> list[Interval]:
    """Tile ``[0, duration]`` with positive-length intervals: see the module notes."""
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


def render_textgrid(result: AlignmentResult, options: RenderOptions) -> str:
    shown = shown_lines(result)
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


def _has_words(tiers: dict[str, list[Interval]]) -> bool:
    return bool(tiers.get("words"))


TEXTGRID = Format("textgrid", (".TextGrid",), "text/plain; charset=utf-8",
                  "Praat TextGrid with lines and words interval tiers", render_textgrid, parse_textgrid, _has_words)
