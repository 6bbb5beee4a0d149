"""Bounded admission of alignment jobs: at most ``queue`` at once (running + waiting), the next refused at
once with 503 + Retry-After instead of piling up. Shared by the ``hmm`` thread pool and the engine pool."""

from __future__ import annotations

import contextlib
from typing import Iterator

from .pipeline import RequestError


class Admission:
    """``with admission.reserve("hmm aligner", "in progress"): ...``; :attr:`admitted` places are held."""

    def __init__(self, queue: int, retry_after_s: int) -> None:
        self.queue = queue
        self.retry_after_s = retry_after_s
        self.admitted = 0

    @contextlib.contextmanager
    def reserve(self, what: str, state: str) -> Iterator[None]:
        """Hold one place for the block; 503 + Retry-After at once when none is free."""
        if self.admitted >= self.queue:
            raise RequestError(503, f"{what} busy: {self.admitted} songs {state}, retry later",
                               retry_after=self.retry_after_s)
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1
