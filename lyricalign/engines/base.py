"""The one interface every alignment method implements: audio + lyrics -> timings and diagnostics."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from ..audio import SAMPLE_RATE
from ..schema import AlignmentResult
from ..text import Lyrics
from ..timing import WordTiming, assemble_result


@dataclass(frozen=True)
class EngineOutput:
    """What one :meth:`Engine.align_words` call found.

    ``words``: one timing per ``lyrics.words`` entry, in order; None where the engine could not
    place the word (:func:`lyricalign.timing.assemble_result` interpolates it). A timing's
    ``confidence`` is None when the method has no measure of it (``dtw``, ``uniform``): a constant
    would look like one. ``extras``: the call's diagnostics (JSON-safe), which become
    ``AlignmentResult.extras``; returned rather than kept on the engine, so one engine can serve
    several threads.
    """

    words: Sequence[WordTiming | None]
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(self.words))  # a list handed in cannot change later


@dataclass(frozen=True)
class PreparedAudio:
    """A song's audio as :meth:`Engine.prepare` left it for the alignment: the ``(N,)`` float32 16 kHz
    ``waveform``, or only what the engine derived from it (``analysis``, e.g. the hmm engine's features,
    computed while its kernels warm up) and its length, when the engine needs nothing else: a
    10-minute waveform is 40 MB that need not stay in memory through the alignment.

    ``analysis`` is the preparing engine's own record (None: nothing prepared). An engine given another
    engine's analysis, or one made with other settings, starts from the waveform instead (an error
    if it was dropped).
    """

    waveform: np.ndarray | None
    analysis: Any = None
    n_samples: int = -1  # the waveform's length; given when the waveform is not kept

    def __post_init__(self) -> None:
        if self.waveform is not None:
            object.__setattr__(self, "n_samples", int(self.waveform.shape[-1]))
        elif self.n_samples < 0:
            raise ValueError("prepared audio without its waveform needs n_samples")

    @property
    def duration(self) -> float:
        return self.n_samples / SAMPLE_RATE

    def require_waveform(self) -> np.ndarray:
        if self.waveform is None:
            raise ValueError("this audio was prepared by another engine, which did not keep the waveform")
        return self.waveform


class Engine(ABC):
    """An alignment method. Subclasses implement :meth:`align_words`; :meth:`align` is shared.

    Engines are created once and reused across songs (models load in ``__init__``), and one
    engine may serve several threads at once: per-call state (such as diagnostics) must not be
    kept on the instance; :meth:`align_words` returns it in its :class:`EngineOutput`.

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

    def prepare_text(self, lyrics: Lyrics) -> None:
        """Do the work of aligning ``lyrics`` that needs no audio now (e.g. the hmm engine's decoding
        graph, in a thread while the caller decodes the audio); :meth:`align` of the same ``lyrics``
        object then skips it. Optional; the default does nothing."""

    def prepare(self, audio: np.ndarray) -> PreparedAudio:
        """What :meth:`align` will need from ``audio`` (``(N,)`` float32 at 16 kHz) before the lyrics, e.g.
        while :meth:`warm_up` runs in another thread. Optional; the default prepares nothing."""
        return PreparedAudio(audio)

    def align(self, audio: np.ndarray | PreparedAudio, lyrics: Lyrics) -> AlignmentResult:
        """Align ``lyrics`` to ``audio`` (``(N,)`` float32 at 16 kHz, or what :meth:`prepare` made of it)."""
        prepared = audio if isinstance(audio, PreparedAudio) else PreparedAudio(audio)
        output = self.align_prepared(prepared, lyrics)
        return assemble_result(lyrics, output.words, prepared.duration, model=self.model_name,
                               method=self.name, extras=output.extras)

    def align_prepared(self, audio: PreparedAudio, lyrics: Lyrics) -> EngineOutput:
        """:meth:`align_words` given a prepared waveform; engines that prepare something use it here."""
        return self.align_words(audio.require_waveform(), lyrics)

    @abstractmethod
    def align_words(self, audio: np.ndarray, lyrics: Lyrics) -> EngineOutput:
        """Timings of ``lyrics.words`` in ``audio`` (``(N,)`` float32 at 16 kHz) and the call's diagnostics."""
