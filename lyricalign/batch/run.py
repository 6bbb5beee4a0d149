"""Running a batch: skip the songs already done, align the others, report the failures."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Sequence

from ..errors import LyricalignError
from ..formats import get_format
from .jobs import BatchJob, BatchOptions, BatchSummary, JobOutcome
from .pool import Aligner, run_pool

logger = logging.getLogger("lyricalign.batch")

ERRORS_NAME = "errors.jsonl"


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
    from ..progress import CountProgress

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
                aligner = Aligner(options)
                for job in todo:
                    record(job, aligner(job))
            else:
                run_pool(todo, options, record)
    finally:
        report.close()
    counts = {s: sum(o.status == s for o in outcomes) for s in ("aligned", "skipped", "failed")}
    return BatchSummary(errors=report.path, seconds=time.monotonic() - started, outcomes=tuple(outcomes), **counts)
