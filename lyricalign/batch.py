"""Batch alignment of a catalogue: many songs, one engine per worker, resumable, with an error report.

Input (:func:`discover_jobs`):

- a **directory** of pairs: every audio file (``song.mp3``) with the lyrics of the same stem
  (``song.txt``) beside it; an audio file without lyrics fails (and is reported), a ``.txt`` without
  audio is ignored (notes, READMEs);
- a **CSV** (header row) or **JSONL** list with the fields ``audio``, ``lyrics`` and optionally
  ``language`` and ``out``; relative paths are relative to the list's folder (``out``: to OUT_DIR).

Every song becomes one :class:`BatchJob` with one output file ``OUT_DIR/<audio stem><suffix>``.
:func:`run_batch` then, per song:

1. **skips** it when its output exists and parses back with the format's reader (outputs are
   written atomically, so a killed run leaves whole files or none);
2. otherwise aligns it in one of ``jobs`` worker processes (``spawn``ed; each creates the engine once
   and reuses it for all its songs; each dies with the parent through ``PR_SET_PDEATHSIG``), or in
   this process when ``jobs`` is 1;
3. writes the output atomically, or, when the song fails (undecodable audio, empty lyrics, ...), one
   JSON line ``{"id", "audio", "lyrics", "output", "error", "message"}`` to the error report
   (``OUT_DIR/errors.jsonl`` by default; each run replaces it, a run without failures leaves
   none) -- the other songs go on.

Progress: a tqdm bar (songs, ETA) on a terminal, else a log line every
:func:`lyricalign.progress.log_interval` seconds. A song that cannot even start because the method
is unusable (e.g. ``ctc`` without an installed model) stops the whole batch with that error.
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from .audio import AudioLimits
from .errors import EngineUnavailableError, LyricalignError, ModelError
from .formats import format_for_path, get_format, known_suffixes

if TYPE_CHECKING:
    from .engines import Engine

logger = logging.getLogger(__name__)

ERRORS_NAME = "errors.jsonl"
#: Suffixes taken for audio when scanning a directory of pairs (anything ffmpeg decodes is accepted
#: from a list).
AUDIO_SUFFIXES = frozenset(
    {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff", ".mka", ".mp4",
     ".webm", ".mkv"}
)
LYRICS_SUFFIX = ".txt"
LIST_FIELDS = ("audio", "lyrics", "language", "out")
#: Errors that are about the method, not the song: they stop the batch (exit 2) instead of
#: failing every song one by one.
FATAL_ERRORS = (EngineUnavailableError, ModelError)
WORKER_DIED = "WorkerDied"


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


# ------------------------------------------------------------------------------------ discovery


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
        output = out / values["out"]
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
    seen: dict[Path, BatchJob] = {}
    for job in jobs:
        key = Path(os.path.normcase(os.path.abspath(job.output)))
        if key in seen:
            raise LyricalignError(f"{seen[key].source} and {job.source} would both write {job.output}")
        seen[key] = job


# ------------------------------------------------------------------------------------- resuming


def is_done(job: BatchJob) -> bool:
    """Whether ``job.output`` exists and parses back with its format's reader (formats without one:
    exists and is not empty -- it was written atomically)."""
    try:
        text = job.output.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        return get_format(job.format).parses_back(text)
    except (LyricalignError, ValueError) as e:
        logger.info("%s: existing output does not parse (%s); aligning again", job.output, e)
        return False


# ------------------------------------------------------------------------------------- aligning


class _Aligner:
    """One engine, created on the first song and reused (in a worker process, or in the parent)."""

    def __init__(self, options: BatchOptions) -> None:
        self.options = options
        self._engine: "Engine | None" = None

    def __call__(self, job: BatchJob) -> JobOutcome:
        from .api import AlignOptions, align, create_engine_for
        from .formats import write

        started = time.monotonic()
        try:
            align_options = AlignOptions(language=job.language or self.options.language, method=self.options.method,
                                         model=self.options.model, limits=self.options.limits)
            if self._engine is None:
                self._engine = create_engine_for(align_options)
            result = align(job.audio, _read_lyrics(job), align_options, engine=self._engine)
            write(result, job.format, job.output)
        except LyricalignError as e:
            return _failed(job, e, started, fatal=isinstance(e, FATAL_ERRORS) and self._engine is None)
        except Exception as e:  # a bug on one song must not stop the catalogue; it is reported
            logger.debug("%s: internal error", job.id, exc_info=True)
            return _failed(job, e, started)
        return JobOutcome(job.id, "aligned", job.output, seconds=time.monotonic() - started, words=len(result.words))


def _read_lyrics(job: BatchJob) -> str:
    from .api import read_lyrics_file

    return read_lyrics_file(job.lyrics)


def _failed(job: BatchJob, error: BaseException, started: float, fatal: bool = False) -> JobOutcome:
    message = " ".join(str(error).split()) or type(error).__name__
    return JobOutcome(job.id, "failed", job.output, seconds=time.monotonic() - started, error=type(error).__name__,
                      message=message, fatal=fatal)


_worker_aligner: _Aligner | None = None


def _init_worker(options: BatchOptions, parent_pid: int) -> None:
    """Runs first in each worker: die with the parent, leave Ctrl-C to the parent, one engine."""
    global _worker_aligner
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_aligner = _Aligner(options)


def _run_in_worker(job: BatchJob) -> JobOutcome:
    assert _worker_aligner is not None, "worker not initialised"
    return _worker_aligner(job)


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the parent dies (prctl PR_SET_PDEATHSIG), so a killed
    batch leaves no orphan workers aligning for nobody; elsewhere the pool's own shutdown is all."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)


class _ErrorReport:
    """The run's JSONL error report, one line per failed song, flushed as failures happen.

    The previous run's report is removed at the start and the file created on the first failure,
    so a report on disk always describes the last run, and a clean run leaves none.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self._handle = None
        self._lock = threading.Lock()

    def add(self, job: BatchJob, outcome: JobOutcome) -> None:
        record = {"id": job.id, "audio": str(job.audio), "lyrics": str(job.lyrics), "output": str(job.output),
                  "error": outcome.error, "message": outcome.message}
        with self._lock:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "w", encoding="utf-8")
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def run_batch(jobs: Sequence[BatchJob], out_dir: str | os.PathLike, options: BatchOptions = BatchOptions()) -> BatchSummary:
    """Align every job not already done; see the module docstring.

    Raises:
        LyricalignError: the method is unusable (fatal for every song); outputs written so far stay.
    """
    from .progress import CountProgress

    started = time.monotonic()
    report = _ErrorReport(Path(options.errors) if options.errors else Path(out_dir) / ERRORS_NAME)
    outcomes: list[JobOutcome] = []
    try:
        with CountProgress(len(jobs), unit="song", desc="align", enabled=options.progress) as progress:

            def record(job: BatchJob, outcome: JobOutcome) -> None:
                if outcome.fatal:
                    raise LyricalignError(outcome.message)
                outcomes.append(outcome)
                progress.update(outcome.status)
                if outcome.status == "failed":
                    report.add(job, outcome)
                    logger.warning("%s: %s: %s", job.id, outcome.error, outcome.message)

            todo = []
            for job in jobs:
                if is_done(job):
                    record(job, JobOutcome(job.id, "skipped", job.output))
                else:
                    todo.append(job)
            logger.info("%d songs, %d already done, %d to align with %d worker(s)", len(jobs),
                        len(jobs) - len(todo), len(todo), min(options.jobs, max(len(todo), 1)))
            if options.jobs == 1 or len(todo) <= 1:
                aligner = _Aligner(options)
                for job in todo:
                    record(job, aligner(job))
            else:
                _run_pool(todo, options, record)
    finally:
        report.close()
    counts = {s: sum(o.status == s for o in outcomes) for s in ("aligned", "skipped", "failed")}
    return BatchSummary(errors=report.path, seconds=time.monotonic() - started, outcomes=tuple(outcomes), **counts)


def _run_pool(todo: Sequence[BatchJob], options: BatchOptions, record: Callable[[BatchJob, JobOutcome], None]) -> None:
    """Feed ``todo`` to ``options.jobs`` worker processes, keeping at most two songs queued per worker
    (so a failure that stops the batch leaves little to cancel). A worker that dies (killed, out of
    memory) breaks the pool: the songs it held are reported as failed and a new pool goes on."""
    queue = iter(todo)
    while _run_pool_until_broken(queue, min(options.jobs, len(todo)), options, record):
        logger.warning("a worker process died; starting new workers for the remaining songs")


def _run_pool_until_broken(queue: Iterator[BatchJob], workers: int, options: BatchOptions,
                           record: Callable[[BatchJob, JobOutcome], None]) -> bool:
    """Run songs from ``queue`` until it is empty (False) or the pool broke (True: call again)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads / ONNX sessions
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                   initargs=(options, os.getpid()))
    pending: dict[Future, BatchJob] = {}
    broken = clean = False
    try:
        _top_up(executor, pending, queue, 2 * workers)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                outcome = _outcome_of(future, job)
                broken = broken or outcome.error == WORKER_DIED
                record(job, outcome)
            if not broken:
                _top_up(executor, pending, queue, 2 * workers)
        clean = True
    finally:
        if clean and not broken:
            executor.shutdown(wait=True)
        else:  # Ctrl-C, a fatal error or a dead worker: stop the workers now, not after their songs
            processes = _worker_processes(executor)
            executor.shutdown(wait=False, cancel_futures=True)
            _terminate(processes)
    return broken


def _top_up(executor: ProcessPoolExecutor, pending: dict[Future, BatchJob], queue: Iterator[BatchJob], size: int) -> None:
    while len(pending) < size:
        job = next(queue, None)
        if job is None:
            return
        try:
            future = executor.submit(_run_in_worker, job)
        except BrokenProcessPool as e:  # broke since the last wait: handled like a dead worker's song
            future = Future()
            future.set_exception(e)
        pending[future] = job


def _outcome_of(future: Future, job: BatchJob) -> JobOutcome:
    try:
        return future.result()
    except BrokenProcessPool as e:  # reported, and retried by the next run like any failure
        return JobOutcome(job.id, "failed", job.output, error=WORKER_DIED,
                          message=f"a worker process died while this song was queued or running ({e})")


def _worker_processes(executor: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    # ProcessPoolExecutor has no public terminate(); its worker table (pid -> Process) has been
    # ``_processes`` since 3.2, and is cleared by shutdown(), so it is read before.
    return list((getattr(executor, "_processes", None) or {}).values())


def _terminate(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
