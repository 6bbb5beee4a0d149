"""The training-manifest JSONL record: one typed record, read and written here only.

A manifest is a UTF-8 file of JSON lines, one segment of a song per line (times in seconds from
the start of the audio file)::

    {"audio", "start", "end", "text", "language", "song_id", "artist", "split",
     "words": [{"text", "start", "end"}]}

The data pipeline writes every field (``lyricalign.data_pipeline.manifest``); training reads ``audio``,
``start``, ``end`` and ``text``; evaluation reads ``audio``, ``text``, ``language``, ``song_id``,
``words`` and takes a missing ``start``/``end`` to mean the whole file. So only ``audio`` and
``text`` are always required, and each reader names the other fields it needs
(:func:`read_records` ``required=``). ``audio`` is absolute, or relative to the manifest's folder
(:func:`audio_path`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .errors import DatasetError

#: Optional fields a reader may require (``audio`` and ``text`` always are).
OPTIONAL_FIELDS = ("start", "end", "language", "song_id", "artist", "split", "words")


@dataclass(frozen=True)
class WordRecord:
    text: str  # spoken form
    start: float  # seconds, audio file timeline
    end: float


@dataclass(frozen=True, kw_only=True)
class SegmentRecord:
    """One manifest line. ``start``/``end`` None: from the start / to the end of the file."""

    audio: str
    start: float | None = None
    end: float | None = None
    text: str
    language: str = ""
    song_id: str = ""
    artist: str = ""
    split: str = ""
    words: tuple[WordRecord, ...] = ()

    @property
    def duration(self) -> float:
        """``end - start`` seconds (both must be set)."""
        assert self.start is not None and self.end is not None, "duration needs start and end"
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """JSON shape, times rounded to milliseconds, keys in the documented order."""
        record = asdict(self)
        record["start"] = None if self.start is None else round(self.start, 3)
        record["end"] = None if self.end is None else round(self.end, 3)
        record["words"] = [{"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3)} for w in self.words]
        return record

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], required: Sequence[str] = ()) -> "SegmentRecord":
        """Parse one decoded line; ``required``: optional fields that must be present and not null.

        Raises:
            KeyError, TypeError, ValueError: a missing or mistyped field (:func:`read_records`
                turns them into a :class:`DatasetError` naming the line).
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a record is a JSON object, got {type(data).__name__}")
        for name in ("audio", "text", *required):
            if data.get(name) is None:
                raise KeyError(name)
        return cls(
            audio=str(data["audio"]), text=str(data["text"]),
            start=_optional_float(data, "start"), end=_optional_float(data, "end"),
            language=str(data.get("language", "")), song_id=str(data.get("song_id", "")),
            artist=str(data.get("artist", "")), split=str(data.get("split", "")),
            words=tuple(
                WordRecord(text=str(w.get("text", "")), start=float(w["start"]), end=float(w["end"]))
                for w in data.get("words", ())
            ),
        )


def _optional_float(data: Mapping[str, Any], key: str) -> float | None:
    return None if data.get(key) is None else float(data[key])


def record_line(record: SegmentRecord) -> str:
    """One manifest line (with its newline): compact JSON, non-ASCII kept as is."""
    return json.dumps(record.to_dict(), ensure_ascii=False) + "\n"


def read_records(path: str | Path, required: Sequence[str] = ()) -> Iterator[tuple[int, SegmentRecord]]:
    """``(line number, record)`` for every non-blank line of the manifest at ``path``.

    Raises:
        DatasetError: the file cannot be read, is not UTF-8, or a line is not a valid record
            (``<path>:<line>: malformed record (...)``).
    """
    path = Path(path)
    unknown = sorted(set(required) - set(OPTIONAL_FIELDS))
    if unknown:
        raise ValueError(f"not optional manifest fields: {', '.join(unknown)}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: manifest must be UTF-8 JSON lines (invalid byte at offset {e.start})") from e
    except OSError as e:
        raise DatasetError(f"{path}: cannot read manifest ({e.strerror or e})") from e
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = SegmentRecord.from_dict(json.loads(line), required)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise DatasetError(f"{path}:{number}: malformed record ({type(e).__name__}: {e})") from e
        yield number, record


def audio_path(record: SegmentRecord, manifest: str | Path) -> Path:
    """The record's audio file: ``audio`` if absolute, else relative to the manifest's folder."""
    audio = Path(record.audio)
    return audio if audio.is_absolute() else Path(manifest).parent / audio


__all__ = ["OPTIONAL_FIELDS", "SegmentRecord", "WordRecord", "audio_path", "read_records", "record_line"]
