"""A bounded pool of worker processes for the sequential engines (hmm, dtw, uniform).

Why processes: the HMM aligner (pocketsphinx) holds the GIL for seconds per song and ~1 GB of
memory; in a thread it would stall the event loop that serves every other request. Why bounded:
at most ``queue`` jobs are admitted (running + waiting); the next one is refused at once with
503 + Retry-After instead of piling up. A crashed worker (e.g. killed for memory) breaks only the
request it was serving: the pool is rebuilt and that request gets 503. Why reserved before the
audio is decoded: a refused request then costs nothing (no decode of a song only to answer 503).
Why the workers die with this process (:func:`lyricalign.procutil.die_with_parent`): a ``kill -9``
of the server worker must not leave ~1 GB engine processes running under PID 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from lyricalign.engines import Engine, create_engine
from lyricalign.errors import EngineUnavailableError, LyricalignError
from lyricalign.procutil import die_with_parent
from lyricalign.schema import AlignmentResult
from lyricalign.text import Lyrics

from .admission import Admission
from .pipeline import RequestError

logger = logging.getLogger(__name__)

# Engines created in a worker process, by method name (each worker loads a model once).
_WORKER_ENGINES: dict[str, Engine] = {}


def _align_in_worker(method: str, audio: np.ndarray, lyrics: Lyrics) -> dict[str, Any]:
    """Runs in a pool process: ``{"result": dict}``, or ``{"error": message, "status": http code}``."""
    try:
        engine = _WORKER_ENGINES.get(method)
        if engine is None:
            engine = _WORKER_ENGINES[method] = create_engine(method)
        return {"result": engine.align(audio, lyrics).to_dict()}
    except EngineUnavailableError as e:
        return {"error": str(e), "status": 501}
    except LyricalignError as e:
        return {"error": str(e), "status": 422}


class EnginePool:
    """``with pool.reserve(method): ... await pool.align(method, audio, lyrics)``; at most ``queue`` admitted.

    :meth:`reserve` refuses (503) at once when the queue is full, before the caller decodes anything;
    :meth:`align` outside a reservation reserves for itself.
    """

    def __init__(self, workers: int, queue: int, retry_after_s: int) -> None:
        self.workers = workers
        self.retry_after_s = retry_after_s
        self._admission = Admission(queue, retry_after_s)
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: the server process has threads and an ONNX session; forking it is unsafe.
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=die_with_parent, initargs=(os.getpid(),))
        return self._executor

    def reserve(self, method: str) -> contextlib.AbstractContextManager[None]:
        """Hold one of the ``queue`` places for the block; 503 + Retry-After at once when none is free."""
        return self._admission.reserve(f"{method} aligner", "queued")

    async def align(self, method: str, audio: np.ndarray, lyrics: Lyrics, reserved: bool = False) -> AlignmentResult:
        """Run one alignment in a worker; ``reserved``: the caller holds a :meth:`reserve` place."""
        with contextlib.nullcontext() if reserved else self.reserve(method):
            outcome = await self._run(method, audio, lyrics)
        if "error" in outcome:
            raise RequestError(outcome["status"], outcome["error"])
        return AlignmentResult.from_dict(outcome["result"])

    async def _run(self, method: str, audio: np.ndarray, lyrics: Lyrics) -> dict[str, Any]:
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool(), _align_in_worker, method, audio, lyrics)
        except BrokenProcessPool as e:
            logger.error("a %s worker process died; restarting the pool", method)
            self.shutdown()
            raise RequestError(503, f"{method} aligner worker failed, retry later",
                               retry_after=self.retry_after_s) from e

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
