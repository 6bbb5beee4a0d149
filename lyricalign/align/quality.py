"""The song-level alignment verdict: do these lyrics explain this audio better than unrelated lyrics?

A forced alignment always finds *some* placement, so its own score says little: how well the model fits
the recording (the mix, the singer) moves it as much as the lyrics do (docs/benchmarks.md). The verdict
compares three explanations of the same audio, scored by the same model in the same pass, so the
recording cancels out:

* ``S_lyrics``: the lyrics' forced graph (the engine's Viterbi score);
* ``S_null``: the null hypothesis "these lyrics are not this song's", realised as the same words in
  another order (:func:`rotated`: the second half first). Under that hypothesis the real order is
  no better placed than the rotated one; on the right lyrics the real order wins wherever words are
  sung. Same words, same phones, same durations and silences: everything but the order cancels;
* ``S_loop``: a free phone loop (:class:`PhoneLoop`): the model's context-independent phone HMMs
  with their transition matrices, any phone after any other, each phone entry paying the uniform
  phone prior ``log(1 / P)``: what *any* phone sequence reaches on this audio (the phones the
  forced graph can use: speech phones, ``SIL`` and the graph's noise fillers if it has any).

The statistic, the *gain* ``(S_lyrics - S_null) / (S_loop - S_null)``, is the share of the way from
unrelated lyrics to the free loop that the lyrics' order covers: 0 when the lyrics are as unrelated to
the audio as their own rotation, 1 when they explain it as well as a free decoder (the lyrics cannot
beat it by much: the loop may choose every phone). Normalised by the song itself (both ends of the
scale are measured on its audio), it reads the same on every recording; the song is ``suspect``
below :data:`MIN_GAIN` (a tenth of the way). A free phone loop alone is no reference: it beats even
the right lyrics by a recording-dependent margin (measured), so ``S_lyrics - S_loop`` has no natural
zero.

The right lyrics aligned as the wrong language keep their order, so the gain stays high; the text
shows it instead (:func:`language_mismatch`, lingua at its own confidence threshold).

Cost: the null and the loop are forward-only searches (:mod:`lyricalign.align.forward`, no back-pointers)
fed the score blocks of the engine's pass (:class:`QualityProbe`); the rotation reuses the lyrics' scored senones, so nothing is
scored twice. Measured in ``benchmarks/bench_confidence.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from ..acoustic.scorer import SenoneSelection
from ..acoustic.sphinx_mdef import ModelDefinition
from ..errors import LyricalignError
from ..language import LanguageDetection, detect_language
from ..text import Lyrics
from .forward import ForwardSearch, PhoneLoop, PhoneLoopSearch
from .hmm_graph import GraphOptions, Pronunciation, WordGraph, build_word_graph
from .hmm_viterbi import HMMGraph

logger = logging.getLogger(__name__)

#: Below this share of the null-to-loop gap the lyrics are no better than unrelated ones (docs/benchmarks.md).
MIN_GAIN = 0.1
#: ``extras["quality"]`` when no pass carried a probe (lyrics equal to their rotation, or adaptation stopped
#: before the pass scheduled last).
UNDECIDED: dict[str, Any] = {"score": None, "suspect": False, "undecided": True}


def rotated(tokens: Sequence[int]) -> list[int]:
    """The null hypothesis's word order: the same words, the second half first.

    Under "these lyrics are not this song's" the real order and the rotated one are equally unrelated to
    the audio (exchangeable), so the real lyrics beat the rotation by chance only; on the right lyrics
    the real order wins nearly everywhere. A rotation keeps every word's neighbours except at two
    junctions, so the null graph needs the senones already scored for the lyrics (a shuffle would need
    new cross-word triphones on every word boundary, i.e. a second scoring pass).
    """
    half = len(tokens) // 2
    return [*tokens[half:], *tokens[:half]]


def null_hmm(null: WordGraph, selection: SenoneSelection, definition: ModelDefinition) -> HMMGraph:
    """``null``'s HMM reading the columns of ``selection`` (the lyrics graph's scored senones).

    A senone of ``null`` that is not scored (a triphone at one of the rotation's junctions) is read
    as its phone's context-independent senone of the same state, which is always scored.
    """
    n_emit = definition.senone_sequences.shape[1]
    ci = definition.senone_sequences[definition.ci_sseq[null.phone], np.arange(len(null.phone)) % n_emit]
    column = {int(s): k for k, s in enumerate(selection.senones)}
    try:
        emission = [column.get(int(s), column[int(c)]) for s, c in zip(null.senone, ci)]
    except KeyError as e:
        raise ValueError(f"CI senone {e.args[0]} is not in the selection (score the CI senones too)") from e
    return replace(null.hmm, emission=np.array(emission, dtype=np.int32))


class QualityProbe:
    """Rides along one scoring pass of the lyrics graph: the null hypothesis's forward search (the
    rotated lyrics) and the free phone loop, fed the same score blocks.

    ``build(selection)`` makes both searches' graphs for the columns of the blocks the pass scores
    (``selection``: which senone each column holds); it is called on the first block, so the probe
    follows whatever selection the engine scores.
    """

    def __init__(self, build: Callable[[SenoneSelection | None], tuple[HMMGraph, PhoneLoop]], n_frames: int,
                 scale: float) -> None:
        self._build = build
        self.n_frames = n_frames
        self.scale = float(scale)
        self.null: ForwardSearch | None = None
        self.loop: PhoneLoopSearch | None = None
        self.seconds = 0.0

    def feed(self, block: np.ndarray, selection: SenoneSelection | None = None) -> None:
        """The next ``(B, S)`` block of the pass, whose columns are ``selection``'s senones."""
        started = time.perf_counter()
        if self.null is None or self.loop is None:
            null, loop = self._build(selection)
            self.null, self.loop = ForwardSearch(null, self.n_frames, self.scale), PhoneLoopSearch(loop, self.scale)
        self.null.feed(block)
        self.loop.feed(block)
        self.seconds += time.perf_counter() - started


@dataclass(frozen=True)
class QualityVerdict:
    """The song-level verdict (see the module notes). Scores are totals of one pass over ``n_frames``.

    Attributes:
        lyrics_score: Viterbi score of the lyrics graph (H1).
        null_score: of the rotated lyrics (H0): what unrelated lyrics of the same words reach.
        loop_score: of the free phone loop: what any phone sequence reaches, paying for each phone.
        language: the text's own language when it contradicts the language aligned (None otherwise).
    """

    lyrics_score: float
    null_score: float
    loop_score: float
    n_frames: int
    language: LanguageDetection | None = None
    min_gain: float = MIN_GAIN

    @property
    def gain(self) -> float:
        """``(S_lyrics - S_null) / (S_loop - S_null)``: the share of the way from unrelated lyrics to the free
        loop that the lyrics' order covers (0: no better than unrelated; 1: as good as the free loop)."""
        ahead, room = self.lyrics_score - self.null_score, self.loop_score - self.null_score
        if room <= 0:  # the null already matches the free loop: only the sign of the lead is informative
            return 1.0 if ahead > 0 else 0.0
        return ahead / room

    @property
    def lyrics_unrelated(self) -> bool:
        return self.gain < self.min_gain

    @property
    def suspect(self) -> bool:
        return self.lyrics_unrelated or self.language is not None

    @property
    def warning(self) -> str | None:
        """One sentence for the log and the result when the song is suspect."""
        if self.language is not None:
            return (f"the lyrics look like language {self.language.language!r} ({self.language.confidence:.2f}), "
                    "not the language they were aligned as: pass the right --language (or auto)")
        if self.lyrics_unrelated:
            return (f"the lyrics fit the audio hardly better than the same words in another order (quality "
                    f"{self.gain:.2f} < {self.min_gain}): wrong lyrics or wrong song? the times are likely meaningless")
        return None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe record of ``extras["quality"]``."""
        out: dict[str, Any] = {"score": round(min(max(self.gain, 0.0), 1.0), 4), "suspect": self.suspect,
                               "threshold": self.min_gain, "gain": round(self.gain, 4),
                               "null_llr_per_frame": round((self.lyrics_score - self.null_score) / self.n_frames, 5),
                               "loop_llr_per_frame": round((self.lyrics_score - self.loop_score) / self.n_frames, 5)}
        if self.language is not None:
            out["text_language"] = self.language.to_dict()
        return out


def quality_probe(pronunciations: Sequence[Sequence[Pronunciation]], tokens: Sequence[int],
                  definition: ModelDefinition, log_transitions: np.ndarray, options: GraphOptions, n_frames: int,
                  scale: float) -> QualityProbe | None:
    """The probe for the lyrics graph of ``pronunciations``/``tokens`` (built with ``options``): the rotated
    lyrics' graph and the free loop over the phones that graph can use, read from the pass's columns
    (which must include the CI senones).

    None when the rotation says the same as the lyrics (one word, or a repeated line such as "la la la la"):
    there is no null to tell them from, and the verdict is left undecided rather than flagged.
    """
    if [pronunciations[t] for t in rotated(tokens)] == [pronunciations[t] for t in tokens]:
        return None
    null = build_word_graph(pronunciations, rotated(tokens), definition, log_transitions, options)
    ci_senones = np.arange(definition.n_ci_senones)

    def build(selection: SenoneSelection | None) -> tuple[HMMGraph, PhoneLoop]:
        if selection is None:
            raise ValueError("the probe of a lyrics graph needs the selection of the scored columns")
        loop = PhoneLoop.of_model(definition, log_transitions * options.transition_scale,
                                  selection.index_of(ci_senones), ("SIL", *options.fillers))
        return null_hmm(null, selection, definition), loop

    return QualityProbe(build, n_frames, scale)


def verdict(lyrics_score: float, probe: QualityProbe, language: LanguageDetection | None = None) -> QualityVerdict:
    """The verdict of the pass ``probe`` rode along (``lyrics_score``: that pass's Viterbi score)."""
    if probe.null is None or probe.loop is None:
        raise ValueError("the probe was not fed")
    return QualityVerdict(lyrics_score=float(lyrics_score), null_score=probe.null.score(),
                          loop_score=probe.loop.score(), n_frames=probe.loop.n_frames, language=language)


def language_mismatch(lyrics: Lyrics) -> LanguageDetection | None:
    """The text's detected language when it is sure and differs from ``lyrics.language`` (given explicitly).

    Aligning German lyrics as Spanish still times the words (the order is right), so the audio test
    above does not see it; the text does, at lingua's own confidence threshold (``UNSURE_BELOW``).
    None when the language was detected in the first place, or the detector is unavailable.
    """
    if lyrics.detection is not None:
        return None
    text = "\n".join(line.text for line in lyrics.lines if not line.marker)
    if not any(ch.isalpha() for ch in text):
        return None
    try:
        detection = detect_language(text)
    except LyricalignError as e:
        logger.info("language of the lyrics not checked: %s", e)
        return None
    if detection.unsure or detection.unsupported or detection.language == lyrics.language:
        return None
    return detection


def confidence_summary(ratio: np.ndarray, spans: Sequence[tuple[int, int] | None]) -> dict[str, float]:
    """Diagnostics of the word confidences (``ratio``: the engine's ``(T,)`` per-frame log ratio, ``<= 0``).

    ``confidence_mean``: ``exp`` of the mean ratio over every aligned word's frames (the verdict before
    this module: its level depends on the recording, docs/benchmarks.md); ``between_words``: the same
    over the other frames; ``low_confidence_words``: share of words under confidence 0.3.
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    inside = np.zeros(len(ratio), dtype=bool)
    frames = []
    for a, b in (s for s in spans if s is not None):
        inside[a:b] = True
        frames.append(ratio[a:b])
    words = np.array([np.exp(f.mean()) for f in frames]) if frames else np.zeros(1)
    return {"confidence_mean": round(float(np.exp(ratio[inside].mean())) if inside.any() else 0.0, 4),
            "between_words": round(float(np.exp(ratio[~inside].mean())) if (~inside).any() else 1.0, 4),
            "low_confidence_words": round(float(np.mean(words < 0.3)), 4)}
