"""CTC forced alignment of lyrics with an ONNX acoustic model (characters -> frames -> words).

Pipeline: audio -> ``(T, C)`` log-probabilities (windowed ONNX inference, :mod:`lyricalign.acoustic.ctc_model`)
-> one target sequence for the whole song (each word's characters, the word delimiter between
words, a wildcard "star" token at the song's start and end and between lines) -> Viterbi path
(:func:`lyricalign.align.ctc_viterbi.forced_align`) -> the frames of each word's characters -> word times.

Frame ``f`` starts at ``f * frame_stride / sample_rate`` seconds; a word spans from the first frame
of its first character to the end of the last frame of its last character.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import AlignmentError, ModelError
from ..acoustic.ctc_model import AcousticModel
from ..acoustic.ctc_runtime import RuntimeOptions
from ..align.ctc_viterbi import append_wildcard, forced_align, min_frames, path_log_prob, token_spans
from ..model_store import require_model
from ..schema import AlignmentResult
from ..text import Lyrics, Vocabulary
from ..timing import WordTiming, assemble_result
from .base import Engine, EngineOutput

logger = logging.getLogger(__name__)

#: Per-frame log-probability of the wildcard: between what a sharp CTC model gives sung characters
#: (> 0.5) and what it gives any one class on non-lexical frames (see lyricalign.align.ctc_viterbi.append_wildcard).
DEFAULT_WILDCARD_LOG_PROB = math.log(0.02)
NOT_A_WORD = -1  # owner of separator tokens (delimiters, stars) in a target sequence


@dataclass(frozen=True)
class CTCOptions:
    """``wildcard``: put star tokens at song start/end and line boundaries (absorb instrumental
    breaks and non-lexical singing); ``wildcard_log_prob``: the star's per-frame log-probability."""

    wildcard: bool = True
    wildcard_log_prob: float = DEFAULT_WILDCARD_LOG_PROB

    def __post_init__(self) -> None:
        if not (math.isfinite(self.wildcard_log_prob) and self.wildcard_log_prob <= 0):
            raise ValueError(f"wildcard_log_prob must be a finite log-probability (<= 0), got {self.wildcard_log_prob}")


@dataclass(frozen=True)
class Targets:
    """The song as one CTC target sequence: ``ids`` (S,) class ids, ``owner`` (S,) the index of the
    lyrics word each token belongs to (:data:`NOT_A_WORD` for delimiters and stars)."""

    ids: np.ndarray
    owner: np.ndarray


def build_targets(lyrics: Lyrics, vocabulary: Vocabulary, wildcard_id: int | None) -> Targets:
    """Encode every word's spoken form; words with nothing encodable get no tokens (interpolated later).

    Between words of one line goes the vocabulary's word delimiter (if it has one); between lines,
    and at the start and end of the song, the wildcard when ``wildcard_id`` is given (else the
    delimiter between lines, nothing at the ends).
    """
    delimiter = vocabulary.index.get(vocabulary.word_delimiter) if vocabulary.word_delimiter else None
    ids: list[int] = []
    owner: list[int] = []

    def separator(token: int | None) -> None:
        if token is not None:
            ids.append(token)
            owner.append(NOT_A_WORD)

    separator(wildcard_id)
    previous_line: int | None = None
    for index, word in enumerate(lyrics.words):
        encoded = vocabulary.encode(word.spoken) if word.spoken else []
        if not encoded:
            continue
        if previous_line is not None:
            new_line = word.line != previous_line
            separator(wildcard_id if new_line and wildcard_id is not None else delimiter)
        ids.extend(encoded)
        owner.extend([index] * len(encoded))
        previous_line = word.line
    if previous_line is None:
        raise AlignmentError("none of the lyrics' characters is in the acoustic model's vocabulary")
    separator(wildcard_id)
    return Targets(ids=np.asarray(ids, dtype=np.int64), owner=np.asarray(owner, dtype=np.int64))


class CTCEngine(Engine):
    """Forced alignment with an ONNX CTC acoustic model.

    ``model``: an :class:`AcousticModel`, a path to an ``.onnx`` file, an installed model's name,
    or None for the default installed model (:func:`lyricalign.model_store.default_model_path`).
    """

    name = "ctc"

    def __init__(
        self,
        model: str | Path | AcousticModel | None = None,
        runtime: RuntimeOptions | None = None,
        wildcard: bool = True,
        wildcard_log_prob: float = DEFAULT_WILDCARD_LOG_PROB,
    ) -> None:
        self.options = CTCOptions(wildcard=wildcard, wildcard_log_prob=wildcard_log_prob)
        if isinstance(model, AcousticModel) and runtime is not None:
            raise ValueError("runtime options apply when the engine loads the model; this model is already loaded")
        self.model = model if isinstance(model, AcousticModel) else AcousticModel(require_model(model), runtime)

    @property
    def model_name(self) -> str:
        return self.model.metadata.tag

    @property
    def seconds_per_frame(self) -> float:
        return self.model.metadata.frame_stride / self.model.metadata.sample_rate

    def align_words(self, audio: np.ndarray, lyrics: Lyrics) -> EngineOutput:
        return self._align(self.model.log_probs(audio), lyrics)

    def align_log_probs(self, log_probs: np.ndarray, lyrics: Lyrics, duration: float) -> AlignmentResult:
        """Align from precomputed ``(T, C)`` log-probabilities (e.g. windows batched by a server).

        Keeps no state between calls (like :meth:`align`), so concurrent requests may share one engine.
        """
        output = self._align(log_probs, lyrics)
        return assemble_result(lyrics, output.words, duration, model=self.model_name, method=self.name,
                               extras=output.extras)

    def _align(self, log_probs: np.ndarray, lyrics: Lyrics) -> EngineOutput:
        """One timing per lyrics word (None for unencodable words) and diagnostics, from ``(T, C)`` log-probs."""
        metadata = self.model.metadata
        if log_probs.ndim != 2 or log_probs.shape[1] != len(metadata.units):
            raise ModelError(f"expected (frames, {len(metadata.units)}) log-probabilities, got shape {log_probs.shape}")
        if lyrics.language not in metadata.languages:
            logger.warning("model %s was not made for language %r; aligning anyway", metadata.tag, lyrics.language)
        if self.options.wildcard:
            wildcard_id: int | None = log_probs.shape[1]
            log_probs = append_wildcard(log_probs, self._wildcard_column(log_probs))
        else:
            wildcard_id = None
        targets = build_targets(lyrics, self.model.vocabulary, wildcard_id)
        self._check_length(log_probs.shape[0], targets)
        path = forced_align(log_probs, targets.ids, blank=metadata.blank_id)
        spans = token_spans(path, log_probs, targets.ids)
        extras: dict[str, Any] = {
            "frames": int(log_probs.shape[0]),
            "tokens": int(len(targets.ids)),
            "wildcard": self.options.wildcard,
            "path_log_prob_per_frame": round(
                path_log_prob(log_probs, targets.ids, path, blank=metadata.blank_id) / log_probs.shape[0], 4
            ),
        }
        if not metadata.trained:
            extras["warnings"] = [f"acoustic model {metadata.tag} is untrained (randomly initialised): "
                                  "these times are noise"]
        return EngineOutput(self._word_timings(spans, targets, len(lyrics.words)), extras)

    def _wildcard_column(self, log_probs: np.ndarray) -> np.ndarray:
        """``(T,)`` star log-probabilities: the constant level, raised to the blank's where that is higher.

        Each star must occupy at least one frame. With a constant level it would take that frame
        from whichever neighbour scores lowest -- often a word's first or last letter -- shifting
        the word's edge; at least as likely as blank, it takes a non-speech frame instead.
        """
        blank = log_probs[:, self.model.metadata.blank_id]
        return np.maximum(blank, np.float32(self.options.wildcard_log_prob))

    def _word_timings(self, spans: Sequence, targets: Targets, n_words: int) -> list[WordTiming | None]:
        """Group token spans by word: first token's start, last token's end, frame-weighted mean posterior."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        mass: dict[int, float] = {}
        frames: dict[int, int] = {}
        for span, word in zip(spans, targets.owner.tolist()):
            if word == NOT_A_WORD:
                continue
            first.setdefault(word, span.start)
            last[word] = span.end
            mass[word] = mass.get(word, 0.0) + span.score * (span.end - span.start)
            frames[word] = frames.get(word, 0) + span.end - span.start
        spf = self.seconds_per_frame
        return [
            WordTiming(start=first[i] * spf, end=last[i] * spf, confidence=mass[i] / frames[i]) if i in first else None
            for i in range(n_words)
        ]

    def _check_length(self, n_frames: int, targets: Targets) -> None:
        needed = min_frames(targets.ids)
        if n_frames < needed:
            spf = self.seconds_per_frame
            raise AlignmentError(
                f"audio too short for the lyrics: their {len(targets.ids)} tokens (letters and word breaks) need at least {needed * spf:.2f} s "
                f"({needed} frames of {spf * 1000:g} ms), the audio has {n_frames * spf:.2f} s"
            )

