"""The songs of a batch: the records of a run (:class:`BatchJob`, :class:`BatchOptions`,
:class:`JobOutcome`, :class:`BatchSummary`) and their discovery in a directory of pairs or a CSV /
JSONL list (see :mod:`lyricalign.batch`)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..audio import AudioLimits
from ..errors import LyricalignError
from ..formats import format_for_path, get_format, known_suffixes

#: Suffixes taken for audio when scanning a directory of pairs (anything ffmpeg decodes is accepted
#: from a list).
AUDIO_SUFFIXES = frozenset(
    {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff", ".mka", ".mp4",
     ".webm", ".mkv"}
)
LYRICS_SUFFIX = ".txt"
LIST_FIELDS = ("audio", "lyrics", "language", "out")


@dataclass(frozen=True)
class BatchJob:
    """One song: ``audio`` and ``lyrics`` files in, ``output`` file (in ``format``) out.

    ``language`` None: the batch's default. ``source`` says where the job came from (list line) for
    messages.
    """

    id: str
    audio: Path
    lyrics: Path
    output: Path
    format: str
    language: str | None = None
    source: str = ""


@dataclass(frozen=True)
class BatchOptions:
    """How to align every song: the single-song CLI options plus the batch's own."""

    method: str | None = None
    model: str | None = None
    language: str = "en"
    limits: AudioLimits = AudioLimits()
    jobs: int = 1
    errors: Path | None = None  # None: OUT_DIR/errors.jsonl
    progress: bool | None = None  # None: a bar when stderr is a terminal, else log lines

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise LyricalignError(f"--jobs must be at least 1, got {self.jobs}")


@dataclass(frozen=True)
class JobOutcome:
    """What became of one :class:`BatchJob`. ``status``: ``aligned``, ``skipped`` or ``failed``."""

    id: str
    status: str
    output: Path
    seconds: float = 0.0
    words: int = 0
    error: str | None = None  # exception type name when failed
    message: str | None = None
    fatal: bool = False  # the method itself is unusable: stop the batch


@dataclass(frozen=True)
class BatchSummary:
    aligned: int
    skipped: int
    failed: int
    errors: Path
    seconds: float
    outcomes: tuple[JobOutcome, ...] = field(default=(), repr=False)

    @property
    def total(self) -> int:
        return self.aligned + self.skipped + self.failed


def discover_jobs(source: str | os.PathLike, out_dir: str | os.PathLike, fmt: str | None) -> list[BatchJob]:
    """The jobs of ``source``: a directory of audio + ``.txt`` pairs, or a ``.csv`` / ``.jsonl`` list.

    ``fmt`` None: each list row's ``out`` suffix decides, else ``json``.

    Raises:
        LyricalignError: the source is missing or malformed, holds no song, or two songs would
            write the same output (nothing has been aligned yet).
    """
    path, out = Path(source), Path(out_dir)
    if fmt is not None:
        get_format(fmt)  # an unknown name is refused before anything is read
    if path.is_dir():
        jobs = _directory_jobs(path, out, fmt or "json")
    elif path.is_file() and path.suffix.lower() == ".csv":
        jobs = [_row_job(row, where, path.parent, out, fmt) for row, where in _csv_rows(path)]
    elif path.is_file() and path.suffix.lower() in (".jsonl", ".ndjson"):
        jobs = [_row_job(row, where, path.parent, out, fmt) for row, where in _jsonl_rows(path)]
    elif not path.exists():
        raise LyricalignError(f"{path}: no such file or directory")
    else:
        raise LyricalignError(f"{path}: expected a directory of audio + .txt pairs, or a .csv or .jsonl list")
    if not jobs:
        raise LyricalignError(f"{path}: no songs found" + (" (audio files with a .txt beside them)" if path.is_dir() else ""))
    _check_unique_outputs(jobs)
    return jobs


def _directory_jobs(folder: Path, out: Path, fmt: str) -> list[BatchJob]:
    audio_files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    suffix = get_format(fmt).suffix
    return [
        BatchJob(id=p.stem, audio=p, lyrics=p.with_suffix(LYRICS_SUFFIX), output=out / f"{p.stem}{suffix}", format=fmt,
                 source=str(p))
        for p in audio_files
    ]


def _csv_rows(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [f for f in ("audio", "lyrics") if f not in (reader.fieldnames or [])]
            if missing:
                raise LyricalignError(f"{path}: the header row must name the columns audio and lyrics "
                                      f"(optional: language, out); missing {', '.join(missing)}")
            for row in reader:
                yield {k: v for k, v in row.items() if k is not None}, f"{path}:{reader.line_num}"
    except UnicodeDecodeError as e:
        raise LyricalignError(f"{path}: not UTF-8 text") from e
    except csv.Error as e:
        raise LyricalignError(f"{path}: not a readable CSV ({e})") from e


def _jsonl_rows(path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise LyricalignError(f"{path}: not UTF-8 text") from e
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise LyricalignError(f"{path}:{number}: not a JSON object ({e})") from e
        if not isinstance(row, dict):
            raise LyricalignError(f"{path}:{number}: expected a JSON object with audio and lyrics")
        yield row, f"{path}:{number}"


def _row_job(row: dict[str, Any], where: str, base: Path, out: Path, fmt: str | None) -> BatchJob:
    values = {}
    for name in LIST_FIELDS:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise LyricalignError(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
        values[name] = (value or "").strip()
    if not values["audio"] or not values["lyrics"]:
        raise LyricalignError(f"{where}: audio and lyrics are required")
    audio = base / values["audio"]
    if values["out"]:
        name = Path(values["out"])
        if name.anchor or ".." in name.parts:  # anchor: "/x", and on Windows also "\\x", "C:x"
            raise LyricalignError(f"{where}: out must name a file inside OUT_DIR, got {values['out']!r}")
        output = out / name
        row_fmt = fmt or format_for_path(output)
        if row_fmt is None:
            raise LyricalignError(f"{where}: cannot tell the format of out {values['out']!r} from its suffix "
                                  f"(give --format or a suffix of: {', '.join(known_suffixes())})")
    else:
        row_fmt = fmt or "json"
        output = out / f"{audio.stem}{get_format(row_fmt).suffix}"
    return BatchJob(id=output.stem, audio=audio, lyrics=base / values["lyrics"], output=output, format=row_fmt,
                    language=values["language"] or None, source=where)


def _check_unique_outputs(jobs: Sequence[BatchJob]) -> None:
    """No two songs write one file, and no song writes over an input (a lyrics file of the same name)."""
    inputs = {_key(path): job for job in jobs for path in (job.audio, job.lyrics)}
    seen: dict[Path, BatchJob] = {}
    for job in jobs:
        key = _key(job.output)
        if key in seen:
            raise LyricalignError(f"{seen[key].source} and {job.source} would both write {job.output}")
        if key in inputs:
            raise LyricalignError(f"{job.source}: its output {job.output} is an input of {inputs[key].source}; "
                                  "it would be overwritten")
        seen[key] = job


def _key(path: Path) -> Path:
    return Path(os.path.normcase(os.path.realpath(path)))
