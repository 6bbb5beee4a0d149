"""Audio acquisition with yt-dlp: bounded parallel workers, resumable, atomic, retried, reported.

One item = one song id and a URL (a YouTube video id expanded through a URL template, so a local
mirror such as ``http://127.0.0.1:8000/{id}.wav`` can stand in for YouTube). Per item:

1. yt-dlp (Python API, ``bestaudio/best``) downloads into a private temporary folder;
2. ffmpeg converts it to the training format (16 kHz mono flac by default) into a temporary file
   beside the destination, which is decoded once to verify it and measure its duration;
3. ``os.replace`` moves it into place -- an interrupted run never leaves a partial file under the
   final name -- and a line ``{"id", "path", "duration"}`` is appended (and fsynced) to the
   download archive ``archive.jsonl``.

The per-item temporary folders live in ``<out>/.partial/``: a run clears it when it starts (a killed
run's half-downloaded items are fetched again, never resumed from their fragments) and removes it when
it ends if it is empty (it holds files only while an item is in progress, or after a kill).

Only one run may use a folder at a time. A re-run skips every item whose file exists and decodes to the archived duration (a file present
but not archived -- killed between rename and archive -- is verified by decoding and archived).
Failures are retried with exponential backoff unless permanent (HTTP 4xx, unsupported URL,
unavailable video, or a file that arrived whole but does not convert or decode: fetching the same
bytes again cannot help), then written as one JSONL line ``{"id", "url", "error", "message", "attempts"}``
to ``errors.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from lyricalign.audio import SAMPLE_RATE, AudioLimits, ffmpeg_binary, load_audio
from lyricalign.errors import AudioError, DatasetError

from .textfile import is_safe_id, read_lines

logger = logging.getLogger(__name__)

ARCHIVE_NAME = "archive.jsonl"
PARTIAL_DIR = ".partial"  # per-item temporary folders; cleared when a run starts, removed when it ends empty
ERRORS_NAME = "errors.jsonl"
YOUTUBE_TEMPLATE = "https://www.youtube.com/watch?v={id}"
AUDIO_FORMATS = {"flac": ["-c:a", "flac"], "wav": ["-c:a", "pcm_s16le"]}
DURATION_TOLERANCE = 0.05  # seconds between archived and re-decoded duration
_PERMANENT = re.compile(r"HTTP Error 4\d\d|Unsupported URL|Video unavailable|Private video|not available", re.I)


@dataclass(frozen=True)
class DownloadItem:
    id: str  # becomes the file name: letters, digits, "_", "-", "." (not first)
    url: str  # a full URL, or a bare id to expand with the URL template

    def __post_init__(self) -> None:
        if not is_safe_id(self.id):
            raise DatasetError(f"download id {self.id!r} is not a safe file name")


@dataclass(frozen=True)
class DownloadOptions:
    """How to download. ``rate_limit`` in bytes/s per download (yt-dlp's ``ratelimit``)."""

    out_dir: Path
    url_template: str = YOUTUBE_TEMPLATE
    audio_format: str = "flac"
    sample_rate: int = SAMPLE_RATE
    channels: int = 1
    workers: int = 2
    retries: int = 3
    backoff: float = 2.0  # seconds before the first retry; doubled each time
    socket_timeout: float = 20.0
    rate_limit: int | None = None
    min_interval: float = 0.0  # seconds between the starts of two downloads (all workers together)
    cookies: Path | None = None
    proxy: str | None = None
    progress: bool | None = None  # None: a bar when stderr is a terminal

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio_format must be one of {sorted(AUDIO_FORMATS)}, got {self.audio_format!r}")
        if "{id}" not in self.url_template:
            raise ValueError(f"url_template must contain '{{id}}', got {self.url_template!r}")
        if self.workers < 1 or self.retries < 0 or self.backoff < 0 or self.socket_timeout <= 0:
            raise ValueError("workers must be >= 1, retries and backoff >= 0, socket_timeout > 0")
        if self.sample_rate <= 0 or self.channels not in (1, 2):
            raise ValueError("sample_rate must be positive and channels 1 or 2")
        if self.cookies is not None and not Path(self.cookies).is_file():
            raise DatasetError(f"{self.cookies}: cookies file not found")

    def url_for(self, item: DownloadItem) -> str:
        return item.url if "://" in item.url else self.url_template.format(id=item.url)

    def path_for(self, item: DownloadItem) -> Path:
        return self.out_dir / f"{item.id}.{self.audio_format}"


@dataclass(frozen=True)
class Outcome:
    id: str
    status: str  # "downloaded", "skipped" or "failed"
    path: Path | None = None
    duration: float | None = None
    error: str | None = None
    message: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class DownloadSummary:
    downloaded: int
    skipped: int
    failed: int
    archive: Path
    errors: Path


class _Archive:
    """The append-only JSONL record of verified downloads (thread-safe, fsynced per line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    entry = json.loads(line)
                    self.entries[str(entry["id"])] = entry
                except (ValueError, KeyError, TypeError):
                    logger.warning("%s:%d: ignoring a malformed archive line (interrupted write?)", path, number)

    def add(self, item_id: str, path: Path, duration: float) -> None:
        entry = {"id": item_id, "path": path.name, "duration": round(duration, 4)}
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self.entries[item_id] = entry


class _ErrorReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.write_text("", encoding="utf-8")  # one report per run

    def add(self, outcome: Outcome, url: str) -> None:
        record = {"id": outcome.id, "url": url, "error": outcome.error, "message": outcome.message, "attempts": outcome.attempts}
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


class _StartLimiter:
    """At most one download start every ``interval`` seconds across all workers."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            delay = max(0.0, self._next - now)
            self._next = max(now, self._next) + self.interval
        time.sleep(delay)


def download_all(items: Sequence[DownloadItem], options: DownloadOptions) -> DownloadSummary:
    """Download ``items`` with ``options.workers`` threads; see the module docstring."""
    _require_tools()
    options.out_dir.mkdir(parents=True, exist_ok=True)
    partial = options.out_dir / PARTIAL_DIR
    shutil.rmtree(partial, ignore_errors=True)  # leftovers of a killed run
    partial.mkdir()
    try:
        return _download_into(items, options)
    finally:
        _remove_if_empty(partial)


def _download_into(items: Sequence[DownloadItem], options: DownloadOptions) -> DownloadSummary:
    """The run itself, once ``.partial/`` is ready: archive, error report, workers, progress bar."""
    archive = _Archive(options.out_dir / ARCHIVE_NAME)
    report = _ErrorReport(options.out_dir / ERRORS_NAME)
    limiter = _StartLimiter(options.min_interval)
    counts = {"downloaded": 0, "skipped": 0, "failed": 0}
    bar = _progress_bar(len(items), options.progress)
    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="download") as pool:
        futures = {pool.submit(_process, item, options, archive, limiter): item for item in items}
        for future in as_completed(futures):
            item, outcome = futures[future], future.result()
            counts[outcome.status] += 1
            if outcome.status == "failed":
                report.add(outcome, options.url_for(item))
                logger.warning("%s: %s: %s", item.id, outcome.error, outcome.message)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(counts, refresh=False)
    if bar is not None:
        bar.close()
    return DownloadSummary(archive=archive.path, errors=report.path, **counts)


def _remove_if_empty(folder: Path) -> None:
    """Remove ``folder`` if it is empty: every item cleans its own temporary folder, so an empty
    ``.partial/`` is clutter; one that still holds files (an item's folder that could not be removed) is
    left for the next run, which clears it when it starts."""
    try:
        folder.rmdir()  # refuses a folder that is not empty
    except FileNotFoundError:
        pass
    except OSError as e:
        logger.warning("%s: not removed (%s)", folder, e.strerror or e)


def _process(item: DownloadItem, options: DownloadOptions, archive: _Archive, limiter: _StartLimiter) -> Outcome:
    target = options.path_for(item)
    if _verified(item, target, archive):
        return Outcome(item.id, "skipped", target, archive.entries[item.id]["duration"])
    url = options.url_for(item)
    attempt = 0
    while True:
        attempt += 1
        limiter.wait()
        try:
            duration = _download_one(url, target, options)
        except Exception as e:  # yt-dlp, ffmpeg and decoding raise many types; all are per-item failures
            permanent = isinstance(e, AudioError) or bool(_PERMANENT.search(str(e)))
            if permanent or attempt > options.retries:
                return Outcome(item.id, "failed", error=type(e).__name__, message=_one_line(e), attempts=attempt)
            delay = options.backoff * 2 ** (attempt - 1)
            logger.info("%s: attempt %d failed (%s); retrying in %.1f s", item.id, attempt, _one_line(e), delay)
            time.sleep(delay)
            continue
        archive.add(item.id, target, duration)
        return Outcome(item.id, "downloaded", target, duration, attempts=attempt)


def _verified(item: DownloadItem, target: Path, archive: _Archive) -> bool:
    """Is ``target`` complete? Archived: decoded duration matches; only present: it decodes."""
    if not target.exists():
        return False
    entry = archive.entries.get(item.id)
    try:
        duration = _decoded_duration(target)
    except AudioError as e:
        logger.warning("%s: existing file is corrupt (%s); downloading again", target, e)
        return False
    if entry is None:
        archive.add(item.id, target, duration)  # renamed into place, then interrupted before archiving
        return True
    if abs(duration - float(entry["duration"])) > DURATION_TOLERANCE:
        logger.warning("%s: decodes to %.2f s, archived %.2f s; downloading again", target, duration, entry["duration"])
        return False
    return True


def _decoded_duration(path: Path) -> float:
    audio = load_audio(path, AudioLimits(max_duration=None, reject_silent=False))
    return audio.shape[0] / SAMPLE_RATE


def _download_one(url: str, target: Path, options: DownloadOptions) -> float:
    """Fetch ``url``, convert, verify and atomically place it at ``target``; returns seconds of audio."""
    with tempfile.TemporaryDirectory(prefix=f"{target.stem}.", dir=options.out_dir / PARTIAL_DIR) as tmp:
        source = _fetch(url, Path(tmp), options)
        converted = Path(tmp) / f"converted.{options.audio_format}"
        _convert(source, converted, options)
        duration = _decoded_duration(converted)
        os.replace(converted, target)  # same file system: .partial/ is inside out_dir
    return duration


def _fetch(url: str, folder: Path, options: DownloadOptions) -> Path:
    import yt_dlp

    params: dict[str, Any] = {
        "format": "bestaudio/best",
        "outtmpl": str(folder / "source.%(ext)s"),
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _YtDlpLog(),
        "socket_timeout": options.socket_timeout,
        "retries": 0,  # retries are ours, with backoff, around the whole item
        "fragment_retries": 0,
        "extractor_retries": 0,
        "cachedir": False,
        "overwrites": True,
    }
    optional = {"ratelimit": options.rate_limit, "cookiefile": options.cookies and str(options.cookies), "proxy": options.proxy}
    params.update({k: v for k, v in optional.items() if v is not None})
    with yt_dlp.YoutubeDL(params) as ydl:
        ydl.download([url])
    files = [p for p in folder.iterdir() if p.name.startswith("source.") and not p.name.endswith(".part")]
    if not files:
        raise DatasetError(f"{url}: yt-dlp finished without producing a file")
    return files[0]


class _YtDlpLog:
    """yt-dlp's logger interface, at debug level: failures reach the user once, through the report."""

    _log = logging.getLogger("yt_dlp")

    def debug(self, message: str) -> None:
        self._log.debug(message)

    info = warning = error = debug


def _convert(source: Path, destination: Path, options: DownloadOptions) -> None:
    cmd = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), "-vn"]
    cmd += ["-ac", str(options.channels), "-ar", str(options.sample_rate), *AUDIO_FORMATS[options.audio_format], str(destination)]
    proc = subprocess.run(cmd, capture_output=True, check=False, timeout=3600)
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(f"{source.name}: ffmpeg conversion failed ({reason[-1] if reason else proc.returncode})")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return re.sub(r"\x1b\[[0-9;]*m", "", text)  # yt-dlp colours "ERROR:" on terminals


def _require_tools() -> None:
    from lyricalign.errors import EngineUnavailableError

    ffmpeg_binary()  # raises a helpful AudioError when no ffmpeg can be found
    try:
        import yt_dlp  # noqa: F401
    except ImportError as e:
        raise EngineUnavailableError("downloading needs yt-dlp: pip install 'lyricalign[data]'") from e


def _progress_bar(total: int, enabled: bool | None):
    import sys

    if not (sys.stderr.isatty() if enabled is None else enabled):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="song", desc="download", file=sys.stderr)


def items_from_songs(records: Iterable[Any]) -> list[DownloadItem]:
    """Download items from :class:`~.dali.SongInfo` records (id + YouTube id)."""
    return [DownloadItem(id=r.id, url=r.url) for r in records if r.url and r.url != "None"]


def read_items(path: Path) -> list[DownloadItem]:
    """Items from a text file: ``<id> [url]`` per line (the id doubles as the URL's ``{id}``)."""
    lines = read_lines(path, "the download list")
    items = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) > 2:
            raise DatasetError(f"{path}:{number}: expected '<id> [url]', got {line!r}")
        items.append(DownloadItem(id=fields[0], url=fields[-1]))
    return items
