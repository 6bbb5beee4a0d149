"""Annotated datasets for evaluation: what to align, and the true word onsets.

Two layouts (see :func:`load_dataset`):

- **JamendoLyrics layout**: ``JamendoLyrics.csv`` (``Filepath``, ``Language`` columns),
  ``mp3/<Filepath>``, ``lyrics/<song>.txt``, optionally ``lyrics/<song>.words.txt`` and
  ``annotations/words/<song>.csv`` (``word_start,word_end,line_end``). The annotated words are
  the whitespace tokens of ``<song>.txt``, one CSV row each, in order (checked).
- **JSONL manifest** (DALI-style, written by the data pipeline; record in
  :mod:`lyricalign.manifest`): ``audio``, ``text``, ``language``, ``song_id``,
  ``words: [{"text", "start", "end"}]`` (seconds in the audio file's timeline, one per
  whitespace token of ``text``) and optional segment bounds ``start``/``end`` (absent: the whole
  file). Items are the segments, or with ``unit="song"`` the segments of a song merged (they must
  share one audio file).

Only the stdlib and light core modules are imported: the CLI loads this package to register
``lyricalign evaluate``.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import DatasetError, LyricsError
from ..manifest import SegmentRecord, audio_path, read_records
from ..text import normalize_language

JAMENDO_CSV = "JamendoLyrics.csv"
JAMENDO_AUDIO_DIR = "mp3"
JAMENDO_LYRICS_DIR = "lyrics"
JAMENDO_WORDS_DIR = os.path.join("annotations", "words")
MANIFEST_SUFFIX = ".jsonl"
#: Manifest fields evaluation needs beyond ``audio`` and ``text``.
MANIFEST_FIELDS = ("language", "song_id", "words")
UNITS = ("segment", "song")


@dataclass(frozen=True)
class EvalItem:
    """One thing to align and score: a song, or a segment of one."""

    name: str
    audio_path: Path
    lyrics_text: str
    language: str  # ISO 639-1
    reference: tuple[tuple[float, float], ...]  # (start, end) seconds per whitespace token, file timeline
    start: float = 0.0  # segment bounds in the audio file (seconds); end None: to the end of the file
    end: float | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    items: tuple[EvalItem, ...]

    def select(self, names: Sequence[str] | None) -> "Dataset":
        """Only the items named in ``names`` (by name or audio file name); all when None/empty."""
        if not names:
            return self
        wanted = set(names)
        chosen = tuple(i for i in self.items if i.name in wanted or i.audio_path.name in wanted)
        found = {i.name for i in chosen} | {i.audio_path.name for i in chosen}
        missing = sorted(wanted - found)
        if missing:
            raise DatasetError(f"{self.name}: no song named {', '.join(missing)} (have: {', '.join(i.name for i in self.items)})")
        return Dataset(name=self.name, items=chosen)


def load_dataset(path: str | os.PathLike, unit: str = "segment") -> Dataset:
    """A JamendoLyrics folder, a ``.jsonl`` manifest, or a folder holding exactly one manifest."""
    root = Path(path)
    if root.is_file() and root.suffix == MANIFEST_SUFFIX:
        return read_manifest(root, unit=unit)
    if root.is_file():
        raise DatasetError(f"{root}: a file, not a dataset folder or a {MANIFEST_SUFFIX} manifest")
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder or {MANIFEST_SUFFIX} manifest")
    if (root / JAMENDO_CSV).is_file():
        return read_jamendo(root)
    manifests = sorted(root.glob(f"*{MANIFEST_SUFFIX}"))
    if len(manifests) == 1:
        return read_manifest(manifests[0], unit=unit)
    raise DatasetError(f"{root / JAMENDO_CSV}: missing (not a JamendoLyrics folder, and no single {MANIFEST_SUFFIX} manifest)")


def read_jamendo(root: Path) -> Dataset:
    """Read a JamendoLyrics-layout folder, checking that annotations match the lyrics 1:1."""
    table = root / JAMENDO_CSV
    rows = _read_csv(table, required=("Filepath", "Language"))
    items = tuple(_jamendo_item(root, table, n, row) for n, row in enumerate(rows, start=2))
    if not items:
        raise DatasetError(f"{table}: no songs listed")
    return Dataset(name=root.name, items=items)


def _jamendo_item(root: Path, table: Path, row_number: int, row: dict[str, str]) -> EvalItem:
    filepath = row["Filepath"].strip()
    if not filepath:
        raise DatasetError(f"{table}: row {row_number} has an empty Filepath")
    name = Path(filepath).stem
    language = _language(row["Language"], f"{table}: row {row_number}")
    audio = root / JAMENDO_AUDIO_DIR / filepath
    if not audio.is_file():
        raise DatasetError(f"{audio}: audio file missing")
    lyrics_path = root / JAMENDO_LYRICS_DIR / f"{name}.txt"
    lyrics_text = _read_text(lyrics_path)
    tokens = lyrics_text.split()
    words_path = root / JAMENDO_LYRICS_DIR / f"{name}.words.txt"
    if words_path.is_file():
        listed = _read_text(words_path).split()
        if listed != tokens:
            raise DatasetError(
                f"{words_path}: {len(listed)} words do not match the {len(tokens)} whitespace tokens of {lyrics_path.name}"
            )
    annotation = root / JAMENDO_WORDS_DIR / f"{name}.csv"
    reference = tuple(
        (_seconds(r["word_start"], annotation, n), _seconds(r["word_end"], annotation, n))
        for n, r in enumerate(_read_csv(annotation, required=("word_start", "word_end")), start=2)
    )
    if len(reference) != len(tokens):
        raise DatasetError(
            f"{annotation}: {len(reference)} annotated words but {lyrics_path} has {len(tokens)} words"
        )
    _check_onsets(reference, annotation)
    return EvalItem(name=name, audio_path=audio, lyrics_text=lyrics_text, language=language, reference=reference)


def read_manifest(path: Path, unit: str = "segment") -> Dataset:
    """Read a DALI-style JSONL manifest; ``unit="song"`` merges each song's segments."""
    if unit not in UNITS:
        raise DatasetError(f"unknown evaluation unit {unit!r} (choose from: {', '.join(UNITS)})")
    segments = [_manifest_item(f"{path}:{n}", path, record) for n, record in read_records(path, MANIFEST_FIELDS)]
    if not segments:
        raise DatasetError(f"{path}: manifest has no records")
    items = tuple(item for _, item in segments) if unit == "segment" else _merge_songs(path, segments)
    return Dataset(name=path.stem, items=items)


def _manifest_item(where: str, path: Path, record: SegmentRecord) -> tuple[str, EvalItem]:
    """``(song_id, item)`` of one record, checked against its audio and its text."""
    language = _language(record.language, where)
    reference = tuple((w.start, w.end) for w in record.words)
    start, end = record.start or 0.0, record.end
    audio = audio_path(record, path)
    if not audio.is_file():
        raise DatasetError(f"{where}: audio file missing: {audio}")
    if len(reference) != len(record.text.split()):
        raise DatasetError(f"{where}: {len(reference)} annotated words but the text has {len(record.text.split())} words")
    _check_onsets(reference, Path(where))
    if reference and (reference[0][0] < start or (end is not None and reference[-1][0] > end)):
        raise DatasetError(f"{where}: word times lie outside the segment [{start}, {end}]")
    name = record.song_id if record.start is None else f"{record.song_id}@{start:.2f}"
    item = EvalItem(name=name, audio_path=audio, lyrics_text=record.text, language=language, reference=reference,
                    start=start, end=end)
    return record.song_id, item


def _merge_songs(path: Path, segments: list[tuple[str, EvalItem]]) -> tuple[EvalItem, ...]:
    by_song: dict[str, list[EvalItem]] = {}
    for song_id, item in segments:
        by_song.setdefault(song_id, []).append(item)
    merged = []
    for song_id, parts in by_song.items():
        parts.sort(key=lambda i: i.start)
        if len({p.audio_path for p in parts}) != 1:
            raise DatasetError(f"{path}: song {song_id} spans several audio files; evaluate it per segment")
        reference = tuple(span for p in parts for span in p.reference)
        _check_onsets(reference, path)
        merged.append(
            EvalItem(
                name=song_id, audio_path=parts[0].audio_path, lyrics_text="\n".join(p.lyrics_text for p in parts),
                language=parts[0].language, reference=reference,
            )
        )
    return tuple(merged)


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetError(f"{path}: file missing")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read CSV ({e})") from e


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(f"{path}: file missing")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from e


def _seconds(value: str | None, path: Path, row_number: int) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{path}: row {row_number}: not a time in seconds: {value!r}") from e
    if not math.isfinite(seconds) or seconds < 0:
        raise DatasetError(f"{path}: row {row_number}: not a time in seconds: {value!r}")
    return seconds


def _check_onsets(reference: Sequence[tuple[float, float]], source: Path) -> None:
    for k in range(1, len(reference)):
        if reference[k][0] < reference[k - 1][0]:
            raise DatasetError(f"{source}: word {k + 1} starts before word {k} ({reference[k][0]} < {reference[k - 1][0]})")


def _language(value: str, where: str) -> str:
    try:
        return normalize_language(value)
    except LyricsError as e:
        raise DatasetError(f"{where}: {e}") from e

