"""The one interface every alignment method implements: audio + lyrics -> result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Sequence

import numpy as np

from ..audio import duration_of
from ..schema import AlignmentResult
from ..text import Lyrics
from ..timing import WordTiming, assemble_result


class Engine(ABC):
    """An alignment method. Subclasses implement :meth:`align_words`; :meth:`align` is shared.

    Engines are created once and reused across songs (models load in ``__init__``); ``align``
    must be safe to call from one thread at a time at least.
    """

    name: ClassVar[str]

    @property
    def model_name(self) -> str:
        """Identity of the model behind the engine, reported in every result."""
        return self.name

    def align(self, audio: np.ndarray, lyrics: Lyrics) -> AlignmentResult:
        """Align ``lyrics`` to ``audio`` (``(N,)`` float32 at 16 kHz)."""
        timings = self.align_words(audio, lyrics)
        return assemble_result(
            lyrics, timings, duration_of(audio), model=self.model_name, method=self.name, extras=self.extras()
        )

    @abstractmethod
    def align_words(self, audio: np.ndarray, lyrics: Lyrics) -> Sequence[WordTiming | None]:
        """One timing per ``lyrics.words`` entry; None where the engine could not place the word."""

    def extras(self) -> dict:
        """Diagnostics of the last :meth:`align` call (JSON-safe); empty by default."""
        return {}
