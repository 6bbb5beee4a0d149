"""The default engine ``hmm``: forced alignment with pocketsphinx's pretrained en-us GMM-HMM, run by
lyricalign's own stack end to end.

A thin composition of the stages, each its own module:

1. pronunciations of the lyrics (:mod:`lyricalign.align.pronounce`);
2. the whole song's decoding graph, triphones and optional silences (:mod:`lyricalign.align.hmm_graph`);
3. MFCC features as the model expects them (:mod:`lyricalign.acoustic.frontend`);
4. senone log-likelihoods from the versioned ONNX checkpoint (:mod:`lyricalign.acoustic.scorer`),
   block by block through a :data:`~lyricalign.acoustic.scorer.ScoreFunction` (the service plugs in
   its batching endpoint);
5. one exact word-level Viterbi pass over the whole song (:mod:`lyricalign.align.hmm_viterbi`);
6. per-song adaptation of the Gaussian means, then the final pass (:mod:`lyricalign.acoustic.adaptation`);
7. per-word confidences against a free phone loop (:meth:`HMMEngine._frame_ratios`) and the song-level
   quality verdict, lyrics against the same words in another order (:mod:`lyricalign.align.quality`).

Settings (acoustic scale 0.2, no silence penalty, cross-word triphones) and every variant's
numbers are in docs/benchmarks.md.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..acoustic import frontend
from ..acoustic.adaptation import AdaptationOptions, adapt
from ..acoustic.checkpoint import default_checkpoint_folder, load_cached_checkpoint
from ..acoustic.scorer import MeanTransform, ScoreFunction, SenoneScorer, SenoneSelection, path_log_likelihoods
from ..align.hmm_graph import GraphOptions, WordGraph, build_word_graph, word_spans
from ..align.hmm_viterbi import ViterbiResult, ViterbiSearch
from ..align.pronounce import pronunciations
from ..align.quality import UNDECIDED, QualityProbe, confidence_summary, language_mismatch, quality_probe, verdict
from ..errors import AlignmentError
from ..phonetics import espeak_binary
from ..progress import report_progress
from ..text import Lyrics
from ..timing import WordTiming
from .base import Engine, EngineOutput, PreparedAudio

logger = logging.getLogger(__name__)

ACOUSTIC_SCALE = 0.2  # senone log-likelihoods x 0.2 against unscaled transitions (docs/benchmarks.md)
#: Up to this length (5 minutes) the lyrics' language check runs beside the passes; a longer song's
#: runs after them: lingua's models (~25 MB, kept by the process once loaded) would otherwise add to
#: the passes' peak memory, which the back-pointers make largest on long songs.
TEXT_CHECK_BESIDE_PASSES_FRAMES = 5 * 60 * 100
SCORE_BLOCK_FRAMES = 1024  # frames per scoring request (10 s of audio; two in flight while the search runs)
MIN_FRAMES_PER_PHONE = 3  # three emitting states, no skips
PROGRESS_STAGE = "scoring and search"  # one stage for the engine: fraction of the whole alignment done
#: A progress callback: (stage name, fraction of the alignment done in [0, 1]).
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class HMMOptions:
    """Everything that shapes an ``hmm`` alignment; validated once."""

    checkpoint: str | None = None  # checkpoint folder; None: $LYRICALIGN_ACOUSTIC or the newest installed
    acoustic_scale: float = ACOUSTIC_SCALE
    graph: GraphOptions = GraphOptions()
    adaptation: AdaptationOptions = AdaptationOptions()
    alternative_pronunciations: bool = True
    sung_vocables: bool = True  # "ooh", "mmm", ... read as sung in every language (align/pronounce.py)

    def __post_init__(self) -> None:
        if not np.isfinite(self.acoustic_scale) or not 0 < self.acoustic_scale <= 10:
            raise ValueError(f"acoustic_scale must be in (0, 10], got {self.acoustic_scale}")


@dataclass(frozen=True)
class _Features:
    """:meth:`HMMEngine.prepare`'s analysis: ``features`` ``(T, 39)`` float32 by the front end ``options``,
    computed in ``seconds``."""

    options: frontend.FrontEndOptions
    features: np.ndarray
    seconds: float


@dataclass
class _Pass:
    """One scoring + search pass and where its time went."""

    result: ViterbiResult
    free_loop: np.ndarray | None  # (T,) float32 best context-independent senone score of each frame, if scored
    seconds: dict[str, float] = field(default_factory=dict)


class HMMEngine(Engine):
    """Exact whole-song forced alignment of phone HMMs (pretrained en-us model, ONNX senone scoring)."""

    name = "hmm"

    def __init__(self, options: HMMOptions | None = None, score_function: ScoreFunction | None = None,
                 **overrides: Any) -> None:
        if options is None:
            options = _options_from(overrides)
        elif overrides:
            raise TypeError("pass either options= or keyword overrides, not both")
        self.options = options
        espeak_binary()  # fail now, with the how-to, rather than on the first non-English word
        folder = Path(options.checkpoint) if options.checkpoint else default_checkpoint_folder()
        self.checkpoint = load_cached_checkpoint(folder)
        self._score = score_function or SenoneScorer.for_checkpoint(self.checkpoint)
        definition = self.checkpoint.definition
        self._ci_senones = np.arange(definition.n_ci_senones, dtype=np.int64)
        # The last prepare_text's (lyrics, its pronunciations and graph); one tuple, replaced whole (threads).
        self._prepared_text: tuple[Lyrics, tuple[list, list[int], WordGraph]] | None = None

    @property
    def model_name(self) -> str:
        return self.checkpoint.info.tag

    def warm_up(self) -> None:
        """Align two words to two seconds of silence: runs every ONNX path, kernel and quality-verdict search
        once (two different words: a single one is its own rotation, which skips the verdict), so that the
        first song pays no first-call costs (ONNX Runtime's; numba's ~0.8 s where the C kernels are not built)."""
        from ..language import LanguageDetection
        from ..text import parse_lyrics

        # Not English: no dictionary scan. Marked as detected: no text-language check (lingua stays unloaded).
        lyrics = replace(parse_lyrics("sol mar", "es"), detection=LanguageDetection("es", 1.0))
        self.align_words(np.zeros(2 * self.checkpoint.frontend.sample_rate, np.float32), lyrics)

    def prepare_text(self, lyrics: Lyrics) -> None:
        """Build the song's pronunciations and decoding graph now (the CLI does it while the audio decodes)."""
        self._prepared_text = (lyrics, self._song_text(lyrics))

    def _song_text(self, lyrics: Lyrics) -> tuple[list, list[int], WordGraph]:
        """``(pronunciations per token, the tokens that have one, the decoding graph)`` of ``lyrics``."""
        prepared = self._prepared_text
        if prepared is not None and prepared[0] is lyrics:
            return prepared[1]
        vocabulary = {part for w in lyrics.words for part in w.spoken.split()} if lyrics.language == "en" else ()
        prons = pronunciations(lyrics, self.checkpoint.pronunciations_of(vocabulary),
                               self.options.alternative_pronunciations, self.options.sung_vocables)
        tokens = [i for i, p in enumerate(prons) if p]
        graph = build_word_graph(prons, tokens, self.checkpoint.definition, self.checkpoint.log_transitions,
                                 self.options.graph)
        return prons, tokens, graph

    def prepare(self, audio: np.ndarray) -> PreparedAudio:
        """The features of ``audio`` (the CLI computes them while the kernels warm up); the waveform is
        not kept: the alignment needs nothing else from it."""
        return PreparedAudio(None, self._features_of(audio), n_samples=len(audio))

    def align_prepared(self, audio: PreparedAudio, lyrics: Lyrics) -> EngineOutput:
        analysis = audio.analysis
        if not (isinstance(analysis, _Features) and analysis.options == self.checkpoint.frontend):
            return self.align_words(audio.require_waveform(), lyrics)
        if len(analysis.features) != frontend.frame_count(audio.n_samples, self.checkpoint.frontend):
            raise ValueError(f"{len(analysis.features)} feature frames do not belong to {audio.n_samples} samples")
        return self._align_features(analysis, lyrics, None)

    def align_words(self, audio: np.ndarray, lyrics: Lyrics, progress: Progress | None = None) -> EngineOutput:
        """Timings of ``lyrics.words`` in ``audio`` (``(N,)`` float32, 16 kHz) and the run's diagnostics."""
        return self._align_features(self._features_of(audio), lyrics, progress)

    def _features_of(self, audio: np.ndarray) -> _Features:
        started = time.perf_counter()
        features = frontend.features(audio, self.checkpoint.frontend)
        return _Features(self.checkpoint.frontend, features, time.perf_counter() - started)

    def _align_features(self, analysis: _Features, lyrics: Lyrics, progress: Progress | None) -> EngineOutput:
        """:meth:`align_words` from the song's features."""
        report = progress or report_progress  # the caller's callback, else the context's (the CLI's bar)
        features = analysis.features
        clock = _Clock()
        clock.laps["features"] = round(analysis.seconds, 4)
        prons, tokens, graph = self._song_text(lyrics)
        clock.lap("graph")
        _check_length(len(features), [prons[t] for t in tokens])
        report(PROGRESS_STAGE, 0.05)
        identity = MeanTransform.identity(self.checkpoint.n_codebooks, features.shape[1])
        adapting = self.options.adaptation.iterations > 0
        probe = quality_probe(prons, tokens, self.checkpoint.definition, self.checkpoint.log_transitions,
                              self.options.graph, len(features), self.options.acoustic_scale)
        clock.lap("quality")
        text_language = _text_language_check(lyrics, len(features))  # beside the scoring (outside the GIL)
        passes, probed = itertools.count(), []

        def run_pass(transform: MeanTransform, span: tuple[float, float]) -> _Pass:
            # The free phone loop (confidences) needs every codebook scored: only in passes that can be final.
            # The quality probe rides along the pass scheduled last (the final one unless adaptation rejects it).
            k = next(passes)
            rides = probe if k == self.options.adaptation.iterations else None
            done = self._pass(graph, features, transform, report, span, free_loop=k > 0 or not adapting, probe=rides)
            probed.extend([done] if rides is not None else [])
            return done

        first = run_pass(identity, (0.05, 0.45))
        adapted = adapt(first, graph, features, self.checkpoint, self.options.adaptation, run_pass)
        final = adapted.final_pass
        if final.free_loop is None:  # every adapted pass was discarded: the first pass is final
            final.free_loop = self._free_loop(features, identity)
        clock.lap("passes")
        spans = word_spans(graph, final.result.states)
        ratio = self._frame_ratios(graph, features, final, adapted.transform)
        clock.lap("confidences")
        timings = self._timings(graph, spans, ratio, len(lyrics.words))
        report(PROGRESS_STAGE, 1.0)
        judged = verdict(probed[0].result.score, probe, text_language()) if probed else None
        quality = {**(judged.to_dict() if judged else UNDECIDED), **confidence_summary(ratio, spans)}
        clock.lap("quality")
        extras = {"model": self.model_name, "frames": len(features), "states": graph.hmm.n_states,
                  "senones": len(graph.selection.senones), "path_score": final.result.score,
                  "seconds": {**clock.laps, **_sum_passes(adapted.passes)}, "adaptation": adapted.report,
                  "quality": quality}
        extras["seconds"]["quality_search"] = round(probe.seconds if probe else 0.0, 4)  # within the passes
        if judged and judged.warning:
            extras["warnings"] = [judged.warning]
        return EngineOutput(timings, extras)

    def _timings(self, graph: WordGraph, spans: Sequence[tuple[int, int] | None], ratio: np.ndarray,
                 n_words: int) -> list[WordTiming | None]:
        """One timing per lyrics word (None for words the graph has no token for); confidence: ``exp`` of
        the mean of ``ratio`` (:meth:`_frame_ratios`) over the word's frames."""
        rate = self.checkpoint.frontend.frame_rate
        timings: list[WordTiming | None] = [None] * n_words
        for token, span in zip(graph.tokens, spans):
            if span is not None:
                confidence = float(np.exp(ratio[span[0] : span[1]].mean()))
                timings[token] = WordTiming(start=span[0] / rate, end=span[1] / rate, confidence=confidence)
        return timings

    def _pass(self, graph: WordGraph, features: np.ndarray, transform: MeanTransform, report: Progress,
              span: tuple[float, float], free_loop: bool, probe: QualityProbe | None = None) -> _Pass:
        """Score ``features`` block by block and feed one Viterbi search (and ``probe``, the quality verdict's
        searches, the whole block); with ``free_loop``, also keep each frame's best context-independent score
        (the CI senones scored beside the graph's)."""
        n = len(features)
        search = ViterbiSearch(graph.hmm, n, self.options.acoustic_scale)
        selection, graph_columns, ci_columns = graph.selection, None, None
        if free_loop:
            selection = SenoneSelection.of(np.concatenate([graph.selection.senones, self._ci_senones]),
                                           self.checkpoint.definition.senone_codebook, self.checkpoint.n_codebooks)
            graph_columns, ci_columns = selection.index_of(graph.selection.senones), selection.index_of(self._ci_senones)
        best_ci = np.empty(n, dtype=np.float32) if free_loop else None
        seconds = {"scoring": 0.0, "search": 0.0}
        starts = range(0, n, SCORE_BLOCK_FRAMES)
        # The next chunk is scored while the search consumes this one (the search releases the GIL).
        with ThreadPoolExecutor(1, thread_name_prefix="score-ahead") as ahead:
            pending = ahead.submit(self._score, features[: SCORE_BLOCK_FRAMES], selection, transform)
            for start in starts:
                started = time.perf_counter()
                block = pending.result()
                if start + SCORE_BLOCK_FRAMES < n:
                    pending = ahead.submit(self._score, features[start + SCORE_BLOCK_FRAMES : start + 2 * SCORE_BLOCK_FRAMES],
                                           selection, transform)
                if probe is not None:
                    probe.feed(block, selection)
                if best_ci is not None:
                    best_ci[start : start + len(block)] = block[:, ci_columns].max(axis=1)
                    block = block[:, graph_columns]
                scored = time.perf_counter()
                search.feed(block)
                seconds["scoring"] += scored - started  # waiting for scores not yet ready
                seconds["search"] += time.perf_counter() - scored
                report(PROGRESS_STAGE, span[0] + (span[1] - span[0]) * (start + len(block)) / n)
        started = time.perf_counter()
        result = search.finish()
        seconds["search"] += time.perf_counter() - started
        return _Pass(result=result, free_loop=best_ci, seconds=seconds)

    def _free_loop(self, features: np.ndarray, transform: MeanTransform) -> np.ndarray:
        """``(T,)`` each frame's best context-independent senone score (for a final pass scored without)."""
        selection = SenoneSelection.of(self._ci_senones, self.checkpoint.definition.senone_codebook,
                                       self.checkpoint.n_codebooks)
        return np.concatenate([self._score(features[start : start + SCORE_BLOCK_FRAMES], selection, transform).max(axis=1)
                               for start in range(0, len(features), SCORE_BLOCK_FRAMES)])

    def _frame_ratios(self, graph: WordGraph, features: np.ndarray, final: _Pass,
                      transform: MeanTransform) -> np.ndarray:
        """``(T,)`` per-frame log-likelihood ratio (acoustic scale applied, <= 0) of the aligned state against
        a free loop of context-independent phones: the best CI senone of each frame.

        A word placed on audio its phones do not explain (an instrumental, another line) falls far below
        what some phone reaches there; a well-placed word stays near 0. Word confidences are ``exp`` of
        its frames' mean ratio, in (0, 1]. The path's own scores are recomputed for its one senone per
        frame (no ``(T, S)`` matrix is kept: 150 MB for a 10-minute song).
        """
        g = self.checkpoint.gaussians
        on_path = path_log_likelihoods(features, graph.senone[final.result.states],
                                       self.checkpoint.definition.senone_codebook, g.means, g.variances,
                                       g.log_weights, transform)
        return np.minimum(on_path - final.free_loop, 0.0) * self.options.acoustic_scale


def _check_length(n_frames: int, prons: Sequence[Sequence[tuple[str, ...]]]) -> None:
    needed = sum(MIN_FRAMES_PER_PHONE * min(len(v) for v in p) for p in prons)
    if needed > n_frames:
        raise AlignmentError(f"audio too short for the lyrics: {n_frames / 100:.2f} s of audio, {len(prons)} words "
                             f"need at least {needed / 100:.1f} s")


def _options_from(overrides: dict[str, Any]) -> HMMOptions:
    """``HMMOptions`` from flat keywords, e.g. ``adaptation_iterations=0`` or ``silence_logp=-5``."""
    graph_keys = {k: overrides.pop(k) for k in list(overrides) if k in GraphOptions.__dataclass_fields__}
    adapt_keys = {k.removeprefix("adaptation_"): overrides.pop(k) for k in list(overrides)
                  if k.startswith("adaptation_")}
    options = HMMOptions(**overrides)
    return replace(options, graph=replace(options.graph, **graph_keys),
                   adaptation=replace(options.adaptation, **adapt_keys))


def _text_language_check(lyrics: Lyrics, n_frames: int) -> Callable[[], Any]:
    """:func:`language_mismatch` of ``lyrics`` as a call for its result: started now on its own thread when
    the song is at most :data:`TEXT_CHECK_BESIDE_PASSES_FRAMES` long, else run when called (after the passes).

    lingua loads its models in ~0.2 s holding the GIL, so the thread starts with the passes, whose
    scoring runs in ONNX Runtime outside the GIL, not beside the graph's construction (pure Python)."""
    if n_frames > TEXT_CHECK_BESIDE_PASSES_FRAMES:
        return lambda: language_mismatch(lyrics)
    return _in_background(language_mismatch, lyrics).result


def _in_background(function: Callable[..., Any], *args: Any) -> Future:
    """``function(*args)`` on a daemon thread of its own; its result or exception through the future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as e:  # noqa: BLE001 - re-raised by future.result() in the caller
            future.set_exception(e)

    threading.Thread(target=run, name=f"{function.__name__}-background", daemon=True).start()
    return future


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last, 4)
        self._last = now


def _sum_passes(passes: Sequence[_Pass]) -> dict[str, float]:
    total: dict[str, float] = {}
    for p in passes:
        for key, value in p.seconds.items():
            total[key] = round(total.get(key, 0.0) + value, 4)
    return total
