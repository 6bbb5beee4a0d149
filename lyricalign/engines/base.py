"""The one interface every alignment method implements: audio + lyrics -> result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

import numpy as np

from ..audio import duration_of
from ..schema import AlignmentResult
from ..text import Lyrics
from ..timing import WordTiming, assemble_result


class Engine(ABC):
    """An alignment method. Subclasses implement :meth:`align_words`; :meth:`align` is shared.

    Engines are created once and reused across songs (models load in ``__init__``), and one
    engine may serve several threads at once: per-call state (such as diagnostics) must not be
    kept on the instance. An engine whose diagnostics come out of the alignment overrides
    :meth:`align_words_with_extras` and returns them; the default asks :meth:`extras` after
    :meth:`align_words` (for engines that keep them per thread).

    Progress: an engine with long stages (decoding, scoring, search) calls
    :func:`lyricalign.progress.report_progress` ``(stage, fraction)`` as it goes -- 0.0 at a stage's
    start, 1.0 at its end, a few hundred calls at most; a no-op unless the caller (the CLI) installed
    a callback. See :mod:`lyricalign.progress` for the stage names in use.
    """

    name: ClassVar[str]

    @property
    def model_name(self) -> str:
        """Identity of the model behind the engine, reported in every result."""
        return self.name

    def warm_up(self) -> None:
        """Do the one-off work of a first alignment now (compiled kernels, runtime sessions), e.g. in a
        thread while the caller decodes the audio. Optional; the default does nothing."""

    def align(self, audio: np.ndarray, lyrics: Lyrics) -> AlignmentResult:
        """Align ``lyrics`` to ``audio`` (``(N,)`` float32 at 16 kHz)."""
        timings, extras = self.align_words_with_extras(audio, lyrics)
        return assemble_result(lyrics, timings, duration_of(audio), model=self.model_name, method=self.name, extras=extras)

    @abstractmethod
    def align_words(self, audio: np.ndarray, lyrics: Lyrics) -> Sequence[WordTiming | None]:
        """One timing per ``lyrics.words`` entry; None where the engine could not place the word."""

    def align_words_with_extras(
        self, audio: np.ndarray, lyrics: Lyrics
    ) -> tuple[Sequence[WordTiming | None], dict[str, Any]]:
        """:meth:`align_words` and the call's diagnostics (JSON-safe), which :meth:`align` puts in
        ``AlignmentResult.extras``."""
        timings = self.align_words(audio, lyrics)
        return timings, self.extras()

    def extras(self) -> dict[str, Any]:
        """Diagnostics of the calling thread's last alignment, for engines that keep them per thread;
        empty by default (engines that return them from :meth:`align_words_with_extras` keep none)."""
        return {}
