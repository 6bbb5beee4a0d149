"""The default ``hmm`` method inside the service: one engine per process, senone scoring batched
across requests.

Each request's alignment (front end, graph, Viterbi, adaptation) runs in a bounded thread pool:
the Viterbi kernel and ONNX Runtime release the GIL, so the event loop keeps serving. Every
block of frames the engine needs scored goes through ``score`` -- the service's batchable
endpoint when batching is on, so blocks of concurrent requests share one ONNX call -- else the
local session. ``docs/benchmarks.md`` has the batching on/off measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import numpy as np

from lyricalign.acoustic.adaptation import AdaptationOptions
from lyricalign.acoustic.checkpoint import load_cached_checkpoint
from lyricalign.acoustic.scorer import MeanTransform, SenoneScorer, SenoneSelection
from lyricalign.engines.hmm import HMMEngine, HMMOptions
from lyricalign.errors import LyricalignError
from lyricalign.schema import AlignmentResult
from lyricalign.text import Lyrics

from .admission import Admission
from .codec import decode_arrays, encode_arrays
from .pipeline import RequestError

logger = logging.getLogger(__name__)

#: ``(items) -> items``: encoded score requests through the batching endpoint, awaited.
BatchRunner = Callable[[list[str]], Awaitable[list[str]]]


@dataclass(frozen=True)
class ScoreItem:
    """One block of frames to score: ``features (N, D)``, its selection and mean transform."""

    features: np.ndarray
    selection: SenoneSelection
    transform: MeanTransform

    def encode(self) -> str:
        return encode_arrays(features=self.features, senones=self.selection.senones, counts=self.selection.counts,
                             scale=self.transform.scale, bias=self.transform.bias)

    @classmethod
    def decode(cls, text: str) -> "ScoreItem":
        a = decode_arrays(text, ("features", "senones", "counts", "scale", "bias"))
        return cls(a["features"].astype(np.float32, copy=False),
                   SenoneSelection(a["senones"].astype(np.int64), a["counts"].astype(np.int64)),
                   MeanTransform(a["scale"].astype(np.float32), a["bias"].astype(np.float32)))


def score_items(scorer: SenoneScorer, senone_codebook: np.ndarray, items: list[ScoreItem]) -> list[np.ndarray]:
    """Score many blocks in as few ONNX calls as possible: blocks with the same mean transform
    (all first passes share the identity) are concatenated and scored over the union of their
    senones; each block then takes its own columns."""
    out: list[np.ndarray | None] = [None] * len(items)
    groups: dict[bytes, list[int]] = {}
    for k, item in enumerate(items):
        groups.setdefault(item.transform.scale.tobytes() + item.transform.bias.tobytes(), []).append(k)
    for members in groups.values():
        union = SenoneSelection.of(np.concatenate([items[k].selection.senones for k in members]), senone_codebook,
                                   len(items[members[0]].selection.counts))
        frames = np.concatenate([items[k].features for k in members])
        scores = scorer(frames, union, items[members[0]].transform)
        start = 0
        for k in members:
            rows = slice(start, start + len(items[k].features))
            out[k] = scores[rows][:, union.index_of(items[k].selection.senones)]
            start = rows.stop
    return out  # type: ignore[return-value]


class HMMPath:
    """``await path.align(audio, lyrics, adaptation_iterations)``; at most ``queue`` songs admitted."""

    def __init__(self, checkpoint_folder: Path, workers: int, queue: int, retry_after_s: int, threads: int = 0,
                 batch: BatchRunner | None = None) -> None:
        self.folder = Path(checkpoint_folder)
        self.scorer = SenoneScorer.for_checkpoint(load_cached_checkpoint(self.folder), threads=threads or None)
        self._admission = Admission(queue, retry_after_s)
        self._batch = batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="hmm")
        self._engines: dict[int, HMMEngine] = {}
        self.default_engine = self.engine(AdaptationOptions().iterations)

    @property
    def model_tag(self) -> str:
        return self.default_engine.model_name

    def engine(self, adaptation_iterations: int) -> HMMEngine:
        """The engine for one adaptation setting (the checkpoint is shared: creating one is cheap)."""
        if adaptation_iterations not in self._engines:
            options = HMMOptions(checkpoint=str(self.folder),
                                 adaptation=AdaptationOptions(iterations=adaptation_iterations))
            self._engines[adaptation_iterations] = HMMEngine(options, score_function=self._score)
        return self._engines[adaptation_iterations]

    def score_batch(self, encoded: list[str]) -> list[str]:
        """The batching endpoint's work: encoded :class:`ScoreItem` s -> encoded ``(N, S)`` scores.

        An item that is not a valid block (not encoded arrays, wrong shapes, senones out of range) yields
        ``""`` instead of failing the batch it shares with other requests.
        """
        checkpoint = self.default_engine.checkpoint
        items: list[ScoreItem | None] = []
        for text in encoded:
            try:
                items.append(self._checked(ScoreItem.decode(text), checkpoint))
            except (ValueError, TypeError):
                items.append(None)
        valid = [item for item in items if item is not None]
        scores = iter(score_items(self.scorer, checkpoint.definition.senone_codebook, valid)) if valid else iter(())
        return [encode_arrays(scores=next(scores)) if item is not None else "" for item in items]

    @staticmethod
    def _checked(item: ScoreItem, checkpoint) -> ScoreItem:
        n_books, dim = checkpoint.n_codebooks, item.transform.scale.shape[1]
        if item.features.ndim != 2 or item.features.shape[1] != dim or item.transform.scale.shape[0] != n_books:
            raise ValueError("block shapes do not match the model")
        senones, counts = item.selection.senones, item.selection.counts
        if (counts.shape != (n_books,) or counts.sum() != len(senones) or len(senones) == 0
                or senones.min() < 0 or senones.max() >= checkpoint.definition.n_senones):
            raise ValueError("senone selection does not match the model")
        books = checkpoint.definition.senone_codebook[senones]
        if np.any(np.diff(books) < 0) or np.any(np.bincount(books, minlength=n_books) != counts):
            raise ValueError("senones must be grouped by codebook as counted")
        return item

    def _score(self, features: np.ndarray, selection: SenoneSelection, transform: MeanTransform) -> np.ndarray:
        """Called from a worker thread: through the batching endpoint on the event loop, or locally."""
        if self._batch is None or self._loop is None:
            return self.scorer(features, selection, transform)
        future = asyncio.run_coroutine_threadsafe(self._batch([ScoreItem(features, selection, transform).encode()]),
                                                  self._loop)
        encoded = future.result()[0]
        if not encoded:
            raise LyricalignError("the senone scorer refused a block of this song")
        return decode_arrays(encoded, ("scores",))["scores"]

    def reserve(self) -> contextlib.AbstractContextManager[None]:
        """Hold one of the ``queue`` places for the block; 503 + Retry-After at once when none is free."""
        return self._admission.reserve("hmm aligner", "in progress")

    async def align(self, audio: np.ndarray, lyrics: Lyrics, adaptation_iterations: int,
                    reserved: bool = False) -> AlignmentResult:
        """One song in the thread pool; ``reserved``: the caller holds a :meth:`reserve` place."""
        with contextlib.nullcontext() if reserved else self.reserve():
            self._loop = asyncio.get_running_loop()
            engine = self.engine(adaptation_iterations)
            try:
                return await self._loop.run_in_executor(self._executor, engine.align, audio, lyrics)
            except LyricalignError as e:
                raise RequestError(422, str(e)) from e

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
