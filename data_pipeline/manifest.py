"""Training manifests: one JSONL record per segment (a line, or consecutive lines up to a duration).

The record, its JSON line and its reader are :mod:`lyricalign.manifest` (``SegmentRecord``,
``WordRecord``, ``record_line``; times in seconds from the start of the audio file)::

    {"audio", "start", "end", "text", "language", "song_id", "artist", "split",
     "words": [{"text", "start", "end"}]}

``text`` and each word's ``text`` are spoken forms from :func:`lyricalign.text.normalize_token`
(lower case, numbers spelled out); tokens with nothing to say are dropped. The split is decided
per artist (a hash of the normalised name), so no artist is in two splits and the assignment is
the same on every machine and run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Mapping, Sequence

from lyricalign.errors import DatasetError
from lyricalign.fsutil import atomic_open, atomic_write_text
from lyricalign.manifest import SegmentRecord, WordRecord, record_line
from lyricalign.text import SUPPORTED_LANGUAGES, normalize_token

from .dali import DaliSong, Segment
from .textfile import is_safe_id, read_lines

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SUMMARY_NAME = "summary.json"
_ANNOTATION = re.compile(r"\[.*\]")
AUDIO_EXTENSIONS = (".flac", ".wav", ".mp3", ".ogg", ".m4a", ".opus", ".webm")


@dataclass(frozen=True)
class SplitOptions:
    """Fractions of artists (not songs) held out; ``salt`` changes the assignment deterministically."""

    val_fraction: float = 0.05
    test_fraction: float = 0.05
    salt: str = "lyricalign"

    def __post_init__(self) -> None:
        if self.val_fraction < 0 or self.test_fraction < 0 or self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val and test fractions must be >= 0 and sum to less than 1")

    def split_of(self, artist: str) -> str:
        digest = hashlib.sha256(f"{self.salt}\0{normalize_name(artist)}".encode("utf-8")).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        if position < self.test_fraction:
            return "test"
        if position < self.test_fraction + self.val_fraction:
            return "val"
        return "train"


@dataclass(frozen=True)
class SegmentOptions:
    max_duration: float = 15.0  # seconds per segment; a longer single line is dropped
    max_gap: float = 4.0  # lines further apart than this are never joined (instrumental break)

    def __post_init__(self) -> None:
        if self.max_duration <= 0 or self.max_gap < 0:
            raise ValueError("max_duration must be positive and max_gap >= 0")


def normalize_name(name: str) -> str:
    """Artist/title key: NFKC, case-folded, accents removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.split())


def spoken_words(segments: Sequence[Segment], language: str) -> list[WordRecord]:
    """Annotated words -> spoken-form word records, dropping those with nothing to say
    (including bracketed annotations such as ``[Chorus]``, which are not sung)."""
    out = []
    for seg in segments:
        if _ANNOTATION.fullmatch(seg.text.strip()):
            continue
        spoken = normalize_token(seg.text, language)
        if spoken and seg.end >= seg.start:
            out.append(WordRecord(spoken, seg.start, seg.end))
    return out


def song_segments(
    song: DaliSong, audio: str, split: str, options: SegmentOptions = SegmentOptions(), audio_duration: float | None = None
) -> list[SegmentRecord]:
    """Group a song's lines greedily into segments of at most ``options.max_duration`` seconds.

    Lines without a spoken word, lines longer than the limit and (when ``audio_duration`` is
    known) lines ending past the audio are left out; a left-out line also ends the current segment.
    """
    language = song.info.language
    segments: list[SegmentRecord] = []
    chunk: list[WordRecord] = []

    def flush() -> None:
        if chunk:
            segments.append(
                SegmentRecord(
                    audio=audio,
                    start=chunk[0].start,
                    end=chunk[-1].end,
                    text=" ".join(w.text for w in chunk),
                    language=language,
                    song_id=song.info.id,
                    artist=song.info.artist,
                    split=split,
                    words=tuple(chunk),
                )
            )
            chunk.clear()

    for index in range(len(song.lines)):
        words = spoken_words(song.words_of_line(index), language)
        usable = bool(words) and words[-1].end - words[0].start <= options.max_duration
        if usable and audio_duration is not None and words[-1].end > audio_duration:
            usable = False
        if not usable:
            flush()
            continue
        if chunk and (words[-1].end - chunk[0].start > options.max_duration or words[0].start - chunk[-1].end > options.max_gap):
            flush()
        chunk.extend(words)
    flush()
    return segments


@dataclass
class Summary:
    """Hours, songs and segments per language and split, plus why songs were left out."""

    cells: dict[tuple[str, str], dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: {"songs": 0, "segments": 0, "seconds": 0.0}))
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add_song(self, language: str, split: str, segments: Sequence[SegmentRecord]) -> None:
        cell = self.cells[(language, split)]
        cell["songs"] += 1
        cell["segments"] += len(segments)
        cell["seconds"] += sum(s.duration for s in segments)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def to_dict(self) -> dict:
        languages: dict[str, dict] = {}
        for (language, split), cell in sorted(self.cells.items()):
            languages.setdefault(language, {})[split] = {
                "songs": int(cell["songs"]),
                "segments": int(cell["segments"]),
                "hours": round(cell["seconds"] / 3600.0, 4),
            }
        total_hours = round(sum(c["seconds"] for c in self.cells.values()) / 3600.0, 4)
        total_songs = int(sum(c["songs"] for c in self.cells.values()))
        return {"languages": languages, "total": {"songs": total_songs, "hours": total_hours}, "skipped": dict(self.skipped)}

    def format_table(self) -> str:
        rows = [f"{'language':<10} {'split':<6} {'songs':>7} {'segments':>9} {'hours':>8}"]
        for (language, split), cell in sorted(self.cells.items(), key=lambda kv: (kv[0][0], SPLITS.index(kv[0][1]))):
            rows.append(f"{language:<10} {split:<6} {int(cell['songs']):>7} {int(cell['segments']):>9} {cell['seconds'] / 3600:>8.3f}")
        total = self.to_dict()["total"]
        rows.append(f"{'total':<10} {'':<6} {total['songs']:>7} {'':>9} {total['hours']:>8.3f}")
        if self.skipped:
            rows.append("skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items())))
        return "\n".join(rows)


class ManifestWriter:
    """``with ManifestWriter(dir) as w: w.write(record)`` -> ``<split>.jsonl`` files, written atomically:
    nothing appears under the final names unless the block completes."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self._stack = contextlib.ExitStack()
        self._handles: dict[str, IO[str]] = {}

    def __enter__(self) -> "ManifestWriter":
        with self._stack as stack:
            self._handles = {s: stack.enter_context(atomic_open(self.out_dir / f"{s}.jsonl", "w")) for s in SPLITS}
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> bool | None:
        return self._stack.__exit__(*exc)

    def write(self, record: SegmentRecord) -> None:
        self._handles[record.split].write(record_line(record))


def write_summary(summary: Summary, out_dir: Path) -> Path:
    path = Path(out_dir) / SUMMARY_NAME
    atomic_write_text(path, json.dumps(summary.to_dict(), indent=2) + "\n")
    return path


@dataclass(frozen=True)
class Exclusions:
    """Songs kept out of the manifests, e.g. an evaluation set: by DALI id or by (artist, title)."""

    ids: frozenset[str] = frozenset()
    songs: frozenset[tuple[str, str]] = frozenset()  # normalised (artist, title)

    def excludes(self, song_id: str, artist: str, title: str) -> bool:
        return song_id in self.ids or (normalize_name(artist), normalize_name(title)) in self.songs


def read_id_list(path: Path) -> frozenset[str]:
    """One id per line; blank lines and ``#`` comments ignored."""
    lines = read_lines(path, "id list")
    return frozenset(x.split()[0] for x in lines if x.strip() and not x.lstrip().startswith("#"))


def read_song_list(path: Path) -> frozenset[tuple[str, str]]:
    """(artist, title) pairs from a CSV with ``Artist`` and ``Title`` columns (any case), e.g. JamendoLyrics.csv."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as e:
        raise DatasetError(f"{path}: cannot read song list ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: cannot read song list (not UTF-8: invalid byte at offset {e.start})") from e
    except csv.Error as e:
        raise DatasetError(f"{path}: cannot read song list ({e})") from e
    if not rows:
        return frozenset()
    columns = {name.strip().lower(): name for name in rows[0]}
    if "artist" not in columns or "title" not in columns:
        raise DatasetError(f"{path}: needs 'Artist' and 'Title' columns, found {sorted(rows[0])}")
    return frozenset((normalize_name(r[columns["artist"]]), normalize_name(r[columns["title"]])) for r in rows)


def find_audio(audio_dir: Path, song_id: str) -> Path | None:
    for ext in AUDIO_EXTENSIONS:
        candidate = audio_dir / f"{song_id}{ext}"
        if candidate.is_file():
            return candidate
    return None


def audio_seconds(path: Path) -> float | None:
    """Duration from the file header (soundfile); None when the header does not say."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except RuntimeError:
        return None
    return info.frames / info.samplerate if info.samplerate else None


@dataclass(frozen=True)
class PrepareResult:
    summary: Summary
    written: bool


def prepare(
    songs: Iterable[DaliSong],
    audio_dir: Path,
    out_dir: Path,
    *,
    split: SplitOptions = SplitOptions(),
    segments: SegmentOptions = SegmentOptions(),
    exclusions: Exclusions = Exclusions(),
    dry_run: bool = False,
) -> PrepareResult:
    """Turn DALI songs with downloaded audio into per-split manifests and ``summary.json``.

    ``dry_run`` counts what would be written (songs without audio count at their annotated
    length) and writes nothing.
    """
    if not dry_run and not Path(audio_dir).is_dir():
        raise DatasetError(f"{audio_dir}: audio folder not found")
    summary = Summary()
    with contextlib.ExitStack() as stack:
        writer = None if dry_run else stack.enter_context(ManifestWriter(out_dir))
        for song in songs:
            if not is_safe_id(song.info.id):  # it names the audio file: "../x" would point outside audio_dir
                logger.warning("skipping song id %r: not a safe file name", song.info.id)
                summary.skip("unsafe_id")
                continue
            if song.info.language not in SUPPORTED_LANGUAGES:
                summary.skip("unsupported_language")
                continue
            if exclusions.excludes(song.info.id, song.info.artist, song.info.title):
                summary.skip("excluded")
                continue
            audio = find_audio(Path(audio_dir), song.info.id)
            if audio is None and not dry_run:
                summary.skip("missing_audio")
                continue
            duration = audio_seconds(audio) if audio is not None else None
            song_split = split.split_of(song.info.artist)
            records = song_segments(song, str(audio.resolve()) if audio else "", song_split, segments, duration)
            if not records:
                summary.skip("no_segments")
                continue
            summary.add_song(song.info.language, song_split, records)
            if writer is not None:
                for record in records:
                    writer.write(record)
    if not dry_run:
        write_summary(summary, out_dir)
    return PrepareResult(summary=summary, written=not dry_run)


def write_records(records: Iterable[SegmentRecord], out_dir: Path) -> Summary:
    """Write already-made records (e.g. synthetic songs) as per-split manifests; one song per ``song_id``."""
    summary = Summary()
    by_song: dict[str, list[SegmentRecord]] = defaultdict(list)
    for record in records:
        by_song[record.song_id].append(record)
    with ManifestWriter(out_dir) as writer:
        for song_records in by_song.values():
            summary.add_song(song_records[0].language, song_records[0].split, song_records)
            for record in song_records:
                writer.write(record)
    write_summary(summary, out_dir)
    return summary


def metadata_summary(infos: Iterable, split: SplitOptions = SplitOptions(), exclusions: Exclusions = Exclusions()) -> Mapping[str, dict]:
    """Songs per language and split from metadata alone (no annotations or audio needed)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {s: 0 for s in SPLITS})
    for info in infos:
        if exclusions.excludes(info.id, info.artist, info.title):
            continue
        counts[info.language][split.split_of(info.artist)] += 1
    return dict(sorted(counts.items(), key=lambda kv: -sum(kv[1].values())))
