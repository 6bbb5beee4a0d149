"""Aligning the songs: one engine per process, created on the first song and reused; ``spawn``ed
worker processes that die with the parent, fed at most two songs ahead each; a dead worker fails
only the songs it held."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from ..errors import EngineUnavailableError, LyricalignError, ModelError, interrupt_in_chain
from .jobs import BatchJob, BatchOptions, JobOutcome

if TYPE_CHECKING:
    from ..engines import Engine

logger = logging.getLogger("lyricalign.batch")

#: Errors that are about the method, not the song: they stop the batch (exit 2) instead of
#: failing every song one by one.
FATAL_ERRORS = (EngineUnavailableError, ModelError)
WORKER_DIED = "WorkerDied"


class Aligner:
    """One engine, created on the first song and reused (in a worker process, or in the parent)."""

    def __init__(self, options: BatchOptions) -> None:
        self.options = options
        self._engine: "Engine | None" = None

    def __call__(self, job: BatchJob) -> JobOutcome:
        from ..api import AlignOptions, align, create_engine_for
        from ..formats import write
        from ..fsutil import check_output_path

        started = time.monotonic()
        try:
            check_output_path(job.output)  # a folder of that name fails the song before its alignment, not after
            align_options = AlignOptions(language=job.language or self.options.language, method=self.options.method,
                                         model=self.options.model, limits=self.options.limits)
            if self._engine is None:
                self._engine = create_engine_for(align_options)
            result = align(job.audio, _read_lyrics(job), align_options, engine=self._engine)
            write(result, job.format, job.output)
        except Exception as e:
            return outcome_of_error(job, e, started, engine_ready=self._engine is not None)
        return JobOutcome(job.id, "aligned", job.output, seconds=time.monotonic() - started, words=len(result.words))


def outcome_of_error(job: BatchJob, error: Exception, started: float, engine_ready: bool) -> JobOutcome:
    """The failed outcome of ``job`` that raised ``error``; a Ctrl-C or SIGTERM wrapped in ``error`` is raised again.

    A :class:`LyricalignError` of :data:`FATAL_ERRORS` before the engine exists is fatal (the method
    cannot run). Any other exception is a bug on one song, reported, and the catalogue goes on -- unless
    it wraps a KeyboardInterrupt or Terminated (numba's ``SystemError`` when the signal lands in a
    ``nogil`` kernel): that stops the batch like the signal itself, instead of failing the song and
    aligning the next one.

    Raises:
        KeyboardInterrupt, Terminated: ``error`` wraps one (:func:`~lyricalign.errors.interrupt_in_chain`).
    """
    stop = interrupt_in_chain(error)
    if stop is not None:
        raise type(stop)() from error
    if isinstance(error, LyricalignError):
        return _failed(job, error, started, fatal=isinstance(error, FATAL_ERRORS) and not engine_ready)
    logger.debug("%s: internal error", job.id, exc_info=error)
    return _failed(job, error, started)


def _read_lyrics(job: BatchJob) -> str:
    from ..api import read_lyrics_file

    return read_lyrics_file(job.lyrics)


def _failed(job: BatchJob, error: BaseException, started: float, fatal: bool = False) -> JobOutcome:
    message = " ".join(str(error).split()) or type(error).__name__
    return JobOutcome(job.id, "failed", job.output, seconds=time.monotonic() - started, error=type(error).__name__,
                      message=message, fatal=fatal)


_worker_aligner: Aligner | None = None


def _init_worker(options: BatchOptions, parent_pid: int) -> None:
    """Runs first in each worker: die with the parent, leave Ctrl-C to the parent, one engine."""
    global _worker_aligner
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_aligner = Aligner(options)


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


def run_pool(todo: Sequence[BatchJob], options: BatchOptions, record: Callable[[BatchJob, JobOutcome], None]) -> None:
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
