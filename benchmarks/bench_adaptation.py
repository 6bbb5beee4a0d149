"""Per-song adaptation variants of the ``hmm`` engine on the dev songs, in one process.

Each song's features, graph and first pass are computed once; every variant then re-estimates,
re-scores and re-aligns from that first pass (exactly what the engine does, minus the repeated
first pass). Prints AAE / MedAE / PCO per song and variant, the mean per variant, and the
estimated transforms of each variant. Variants with an ``occupancy`` key are bench-only: their statistics
need the pass's senone scores (forward-backward: a ``(T, N)`` float32 posterior matrix, ~400 MB for a
3-minute song) or its free phone loop, which the engine's ``adapt()`` is not given; they reuse its
``estimate()`` on weighted statistics computed here.

    python benchmarks/bench_adaptation.py [--data ../shared/data/jamendo-dev] [--variants default,iter-2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lyricalign.jit import njit

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "jamendo-dev"

VARIANTS: dict[str, dict] = {
    "off": {"iterations": 0},
    "default": {},
    "iter-2": {"iterations": 2},
    "iter-3": {"iterations": 3},
    "silence-only": {"classes": ("silence",)},
    "phones-only": {"classes": ("vowel", "other")},
    "bias-only": {"bias_only": True},
    "bias-only-iter-2": {"bias_only": True, "iterations": 2},
    # EM steps of the transform on the first-pass path, then one re-alignment (the converged ML transform
    # of that alignment, vs the default's single step)
    "em-2": {"em_steps": 2},
    "em-3": {"em_steps": 3},
    "em-5": {"em_steps": 5},
    # every iteration one EM step from the pretrained means on the new path (no compounding of the transform)
    "restart-iter-2": {"iterations": 2, "restart": True},
    "restart-iter-3": {"iterations": 3, "restart": True},
    # fewer regression classes: vowels and other phones pooled; one transform for everything
    "speech-silence": {"grouping": "speech-silence"},
    "speech-silence-iter-2": {"grouping": "speech-silence", "iterations": 2},
    "global": {"grouping": "global"},
    "global-iter-2": {"grouping": "global", "iterations": 2},
    # a regression tree's leaves: codebooks with >= 1000 frames (HTK's default threshold) their own transform
    "codebooks": {"grouping": "codebooks"},
    "codebooks-iter-2": {"grouping": "codebooks", "iterations": 2},
    # Statistics from other occupancies than the hard path (bench-only: they need the pass's scores or its
    # free phone loop, which adapt() is not given; computed below, then the engine's estimate()):
    # forward-backward state posteriors (scaled likelihoods, as the search uses them; posteriors < 1e-3 dropped)
    "forward-backward": {"occupancy": "forward-backward"},
    "forward-backward-iter-2": {"occupancy": "forward-backward", "iterations": 2},
    # each path frame weighted by its confidence (exp of the engine's scaled log ratio against the free
    # phone loop), per frame or averaged over each word / silence run as the word confidences are
    "confidence-frame": {"occupancy": "confidence-frame"},
    "confidence-frame-iter-2": {"occupancy": "confidence-frame", "iterations": 2},
    "confidence-word": {"occupancy": "confidence-word"},
    "confidence-word-iter-2": {"occupancy": "confidence-word", "iterations": 2},
    # frames of words under the quality module's "low confidence" (0.3) left out, silences kept
    "exclude-low-confidence": {"occupancy": "exclude-low-confidence"},
    "exclude-low-confidence-iter-2": {"occupancy": "exclude-low-confidence", "iterations": 2},
    # Diagonal CMLLR (feature-space MLLR, Gales 1998) for the same three classes: x' = a x + b per class, i.e.
    # the model's means AND variances transformed (mu - b) / a, var / a^2 (bench-only: the scorer's MeanTransform
    # moves means only)
    "feature-space": {"feature_space": True},
    "feature-space-iter-2": {"feature_space": True, "iterations": 2},
    # bench-only: the first pass scores every second frame and repeats its scores (pocketsphinx's -ds 2),
    # then the default adaptation and an exact final pass: what halving the first pass's scoring costs
    "first-pass-step-2": {"first_pass_step": 2},
}
LOW_CONFIDENCE = 0.3  # lyricalign.align.quality.confidence_summary's "low_confidence_words" threshold
POSTERIOR_FLOOR = 1e-3


@njit(cache=False)  # a benchmark (run as __main__ or loaded by path): numba cannot cache it reliably
def _weighted_kernel(x, frame, senone, book_of, weight, mu, precision, log_norm, log_weights, count, total, square):
    """lyricalign.acoustic.path_kernel's statistics for ``(frame, senone, weight)`` triples (+ second order)."""
    n_streams, dim = x.shape[1], x.shape[2]
    terms = np.empty(mu.shape[2])
    for i in range(frame.shape[0]):
        t, sen, w = frame[i], senone[i], weight[i]
        book = book_of[sen]
        for k in range(n_streams):
            peak = -np.inf
            for g in range(mu.shape[2]):
                dist = 0.0
                for j in range(dim):
                    diff = x[t, k, j] - mu[book, k, g, j]
                    dist += diff * diff * precision[book, k, g, j]
                terms[g] = log_norm[book, k, g] - 0.5 * dist + log_weights[sen, k, g]
                peak = max(peak, terms[g])
            terms[:] = np.exp(terms - peak)
            mass = terms.sum()
            for g in range(mu.shape[2]):
                p = w * terms[g] / mass
                count[book, k, g] += p
                for j in range(dim):
                    total[book, k, g, j] += p * x[t, k, j]
                    square[book, k, g, j] += p * x[t, k, j] ** 2


def _moments(features: np.ndarray, frames: np.ndarray, senones: np.ndarray, weights: np.ndarray, checkpoint: Any,
             mu: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zeroth, first and second order occupancies ``(C, K, G)``, ``(C, K, G, d)`` x 2 under Gaussians mu, var."""
    n_books, n_streams, n_dens, dim = mu.shape
    count, total, square = np.zeros((n_books, n_streams, n_dens)), np.zeros(mu.shape), np.zeros(mu.shape)
    _weighted_kernel(np.ascontiguousarray(features.reshape(len(features), n_streams, dim), dtype=np.float64),
                     frames.astype(np.int64), senones.astype(np.int64),
                     checkpoint.definition.senone_codebook.astype(np.int64), weights.astype(np.float64),
                     np.ascontiguousarray(mu, dtype=np.float64), 1.0 / var, -0.5 * np.log(2 * np.pi * var).sum(-1),
                     checkpoint.gaussians.log_weights.astype(np.float64), count, total, square)
    return count, total, square


def weighted_statistics(features: np.ndarray, frames: np.ndarray, senones: np.ndarray, weights: np.ndarray,
                        checkpoint: Any, transform: Any) -> Any:
    """Statistics (lyricalign.acoustic.adaptation.Statistics) of weighted (frame, senone) occupancies."""
    from lyricalign.acoustic.adaptation import Statistics
    from lyricalign.acoustic.scorer import transformed_means

    g = checkpoint.gaussians
    mu = transformed_means(g.means.astype(np.float64), transform)
    count, total, _ = _moments(features, frames, senones, weights, checkpoint, mu, g.variances.astype(np.float64))
    return Statistics(count=count, total=total)


@njit(cache=False)  # a benchmark (run as __main__ or loaded by path): numba cannot cache it reliably
def _logadd(a, b):
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    return max(a, b) + np.log1p(np.exp(-abs(a - b)))


@njit(cache=False)  # a benchmark (run as __main__ or loaded by path): numba cannot cache it reliably
def _state_posteriors(emission, self_logp, next_logp, jump_start, jump_source, jump_logp, initial, final):
    """``(T, N)`` float32 log state posteriors (forward-backward over lyricalign's HMMGraph arrays)."""
    n_frames, n = emission.shape
    gamma = np.empty((n_frames, n), dtype=np.float32)  # alpha first, then alpha + beta - total
    alpha = initial + emission[0]
    gamma[0] = alpha
    new = np.empty(n)
    for t in range(1, n_frames):
        for s in range(n):
            v = alpha[s] + self_logp[s]
            if s > 0:
                v = _logadd(v, alpha[s - 1] + next_logp[s])
            for a in range(jump_start[s], jump_start[s + 1]):
                v = _logadd(v, alpha[jump_source[a]] + jump_logp[a])
            new[s] = v + emission[t, s]
        alpha[:] = new
        gamma[t] = alpha
    total = -np.inf
    for s in range(n):
        total = _logadd(total, alpha[s] + final[s])
    beta = final.copy()
    gamma[n_frames - 1] += (beta - total).astype(np.float32)
    for t in range(n_frames - 2, -1, -1):
        before = np.full(n, -np.inf)
        for s in range(n):
            w = emission[t + 1, s] + beta[s]
            before[s] = _logadd(before[s], w + self_logp[s])
            if s > 0:
                before[s - 1] = _logadd(before[s - 1], w + next_logp[s])
            for a in range(jump_start[s], jump_start[s + 1]):
                before[jump_source[a]] = _logadd(before[jump_source[a]], w + jump_logp[a])
        beta = before
        gamma[t] += (beta - total).astype(np.float32)
    return gamma


def occupancies(kind: str, engine: Any, graph: Any, features: np.ndarray, states: np.ndarray,
                transform: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frames, senones, weights)`` of one pass for the bench-only occupancy ``kind``."""
    from lyricalign.acoustic.scorer import path_log_likelihoods

    ck, scale = engine.checkpoint, engine.options.acoustic_scale
    if kind == "forward-backward":
        h = graph.hmm
        emission = scale * engine._score(features, graph.selection, transform)[:, h.emission].astype(np.float64)
        gamma = _state_posteriors(emission, h.self_logp, h.next_logp, h.jump_start, h.jump_source, h.jump_logp,
                                  h.initial, h.final)
        frames, kept = np.nonzero(gamma > np.log(POSTERIOR_FLOOR))
        return frames, graph.senone[kept], np.exp(gamma[frames, kept].astype(np.float64))
    g = ck.gaussians
    senones = graph.senone[states]
    on_path = path_log_likelihoods(features, senones, ck.definition.senone_codebook, g.means, g.variances,
                                   g.log_weights, transform)
    ratio = np.minimum(on_path - engine._free_loop(features, transform), 0.0) * scale  # the engine's confidences
    if kind != "confidence-frame":  # averaged over each run of one word slot (or silence), like a word's
        runs = np.split(np.arange(len(ratio)), np.flatnonzero(np.diff(graph.slot[states]) != 0) + 1)
        ratio = np.concatenate([np.full(len(r), ratio[r].mean()) for r in runs])
    weights = np.exp(ratio)
    if kind == "exclude-low-confidence":
        weights = ((graph.slot[states] < 0) | (weights >= LOW_CONFIDENCE)).astype(np.float64)
    frames = np.arange(len(features))
    return frames, senones, weights


def adapt_with_occupancy(kind: str, iterations: int, engine: Any, graph: Any, features: np.ndarray, first: Any,
                         run_pass: Callable[[Any], Any]) -> tuple[Any, dict]:
    """adapt()'s loop with bench-only occupancies (no rejection: their statistics carry no EM guarantee)."""
    from lyricalign.acoustic.adaptation import AdaptationOptions, codebook_classes, estimate
    from lyricalign.acoustic.scorer import MeanTransform

    ck = engine.checkpoint
    classes = codebook_classes(ck.definition.phones, tuple(ck.definition.filler))
    current, transform, report = first, MeanTransform.identity(ck.n_codebooks, features.shape[1]), {}
    for _ in range(iterations):
        frames, senones, weights = occupancies(kind, engine, graph, features, current.result.states, transform)
        stats = weighted_statistics(features, frames, senones, weights, ck, transform)
        transform, report = estimate(stats, ck.gaussians.means, ck.gaussians.variances, classes, AdaptationOptions())
        current = run_pass(transform)
    return current, {"classes": report}


def feature_space_gaussians(scale: np.ndarray, shift: np.ndarray, checkpoint: Any) -> tuple[np.ndarray, np.ndarray]:
    """The model-space form of the per-class feature transform ``x' = a x + b`` (``(C, K, d)`` each):
    ``N(a x + b; mu, var) |a| = N(x; (mu - b) / a, var / a^2)``, so scoring needs no Jacobian term."""
    g = checkpoint.gaussians
    a, b = scale[:, :, None, :], shift[:, :, None, :]
    return (g.means.astype(np.float64) - b) / a, g.variances.astype(np.float64) / a**2


def solve_feature_space(count: np.ndarray, total: np.ndarray, square: np.ndarray, classes: np.ndarray,
                        checkpoint: Any) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal CMLLR (Gales 1998) per class, stream and dimension: maximise
    ``sum gamma [log a - (a x + b - mu)^2 / (2 var)]``; with ``b`` eliminated, ``a`` is the positive root of
    ``C a^2 - D a - n = 0``. Statistics are of the raw features; ``mu``, ``var`` the pretrained model's."""
    g = checkpoint.gaussians
    n_books, n_streams, _, dim = g.means.shape
    scale, shift = np.ones((n_books, n_streams, dim)), np.zeros((n_books, n_streams, dim))
    mu, precision = g.means.astype(np.float64), 1.0 / g.variances.astype(np.float64)
    for index in range(3):
        books = np.flatnonzero(classes == index)
        n, m, p = count[books][..., None], mu[books], precision[books]
        frames = n[..., 0].sum(axis=(0, 2))[:, None]  # (K, 1)
        g11, g12, g22 = (np.sum(p * square[books], axis=(0, 2)), np.sum(p * total[books], axis=(0, 2)),
                         np.sum(p * n, axis=(0, 2)))
        k1, k2 = np.sum(p * m * total[books], axis=(0, 2)), np.sum(p * m * n, axis=(0, 2))
        c, d = g11 - g12**2 / g22, k1 - k2 * g12 / g22
        a = (d + np.sqrt(d**2 + 4 * c * frames)) / (2 * c)
        scale[books], shift[books] = a, (k2 - a * g12) / g22
    return scale, shift


def adapt_feature_space(iterations: int, engine: Any, graph: Any, features: np.ndarray, first: Any,
                        nothing: Callable) -> tuple[Any, dict]:
    """adapt()'s loop with diagonal CMLLR (feature space) instead of mean MLLR: the model-space form transforms
    means and variances, which MeanTransform cannot carry, so each pass scores with its own SenoneScorer."""
    from lyricalign.acoustic.adaptation import codebook_classes
    from lyricalign.acoustic.checkpoint import Gaussians
    from lyricalign.acoustic.scorer import MeanTransform, SenoneScorer
    from lyricalign.engines.hmm import HMMEngine

    ck = engine.checkpoint
    classes = codebook_classes(ck.definition.phones, tuple(ck.definition.filler))
    n_books, n_streams, _, dim = ck.gaussians.means.shape
    scale, shift = np.ones((n_books, n_streams, dim)), np.zeros((n_books, n_streams, dim))
    current = first
    # The scorer's identity transform means "the baked-in Gaussians": a 1e-30 bias makes it use the given ones.
    nearly_identity = MeanTransform(np.ones((n_books, n_streams * dim), np.float32),
                                    np.full((n_books, n_streams * dim), 1e-30, np.float32))
    for _ in range(iterations):
        mu, var = feature_space_gaussians(scale, shift, ck)
        frames = np.arange(len(features))
        count, total, square = _moments(features, frames, graph.senone[current.result.states], np.ones(len(frames)),
                                        ck, mu, var)
        scale, shift = solve_feature_space(count, total, square, classes, ck)
        mu, var = feature_space_gaussians(scale, shift, ck)
        adapted = Gaussians(means=mu.astype(np.float32), variances=var.astype(np.float32),
                            log_weights=ck.gaussians.log_weights)
        scorer = HMMEngine(engine.options, score_function=SenoneScorer(ck.scorer_path, gaussians=adapted))
        current = scorer._pass(graph, features, nearly_identity, nothing, (0, 1), free_loop=False)
    report = {name: {"mean_scale_of_means": round(float(1 / scale[classes == i].mean()), 4)}
              for i, name in enumerate(("vowel", "other", "silence"))}
    return current, {"classes": report}


def decimated_first_pass(engine: Any, graph: Any, features: np.ndarray, step: int) -> Any:
    """The first pass with every ``step``-th frame scored and its scores repeated over the next ``step - 1``
    frames (the engine's 1024-frame score requests are multiples of ``step``, so the scored frames are
    the song's every ``step``-th)."""
    from lyricalign.acoustic.scorer import MeanTransform

    exact = engine._score

    def every_step(block: np.ndarray, selection: Any, transform: Any) -> np.ndarray:
        return np.repeat(exact(block[::step], selection, transform), step, axis=0)[: len(block)]

    engine._score = every_step
    try:
        return engine._pass(graph, features, MeanTransform.identity(engine.checkpoint.n_codebooks, features.shape[1]),
                            lambda stage, fraction: None, (0, 1), free_loop=False)
    finally:
        engine._score = exact


def run_variant(spec: dict, engine: Any, graph: Any, features: np.ndarray, first: Any) -> tuple[Any, dict]:
    """The final pass and report of one variant, re-estimated and re-aligned from ``first``."""
    from dataclasses import replace

    from lyricalign.acoustic.adaptation import AdaptationOptions, adapt

    nothing = lambda stage, fraction: None  # noqa: E731
    iterations = spec.get("iterations", 1)
    if spec.get("feature_space"):
        return adapt_feature_space(iterations, engine, graph, features, first, nothing)
    if "occupancy" in spec:
        return adapt_with_occupancy(spec["occupancy"], iterations, engine, graph, features, first,
                                    lambda t: engine._pass(graph, features, t, nothing, (0, 1), free_loop=False))
    done = adapt(first, graph, features, engine.checkpoint, replace(AdaptationOptions(), **spec),
                 lambda t, span: engine._pass(graph, features, t, nothing, span, free_loop=False))
    return done.final_pass, done.report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    from lyricalign.acoustic import frontend
    from lyricalign.acoustic.scorer import MeanTransform
    from lyricalign.align.hmm_graph import build_word_graph, word_spans
    from lyricalign.align.pronounce import pronunciations
    from lyricalign.audio import load_audio
    from lyricalign.engines.hmm import HMMEngine
    from lyricalign.evaluation import load_dataset
    from lyricalign.metrics import score_song
    from lyricalign.text import parse_lyrics

    engine = HMMEngine(adaptation_iterations=0)
    ck = engine.checkpoint
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    results: dict[str, list] = {name: [] for name in names}
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC, {engine.model_name}, data {args.data}")
    for item in load_dataset(args.data).items:
        lyrics = parse_lyrics(item.lyrics_text, item.language)
        vocabulary = {p for w in lyrics.words for p in w.spoken.split()} if lyrics.language == "en" else ()
        prons = pronunciations(lyrics, ck.pronunciations_of(vocabulary))
        tokens = [i for i, p in enumerate(prons) if p]
        graph = build_word_graph(prons, tokens, ck.definition, ck.log_transitions, engine.options.graph)
        features = frontend.features(load_audio(item.audio_path), ck.frontend)
        nothing = lambda stage, fraction: None  # noqa: E731
        first = engine._pass(graph, features, MeanTransform.identity(ck.n_codebooks, 39), nothing, (0, 1), free_loop=False)
        truth = [s for s, _ in item.reference]
        for name in names:
            started = time.perf_counter()
            spec = dict(VARIANTS[name])
            step = spec.pop("first_pass_step", 1)
            start = first if step == 1 else decimated_first_pass(engine, graph, features, step)
            final, report = run_variant(spec, engine, graph, features, start)
            spans = word_spans(graph, final.result.states)
            starts = [np.nan] * len(lyrics.words)
            for token, span in zip(graph.tokens, spans):
                starts[token] = span[0] / 100 if span else np.nan
            starts = list(np.fmax.accumulate(np.nan_to_num(starts, nan=0.0)))
            scores = score_song(truth, starts)
            results[name].append(scores)
            print(f"{name:>18} {item.name[:30]:<30} AAE {scores.mean_ae:6.3f} MedAE {scores.median_ae:5.3f} "
                  f"PCO {scores.pco:5.3f}  ({time.perf_counter() - started:.1f} s) {report.get('classes', '')}",
                  flush=True)
    for name in names:
        rows = results[name]
        print(f"{name:>18} MEAN AAE {statistics.mean(r.mean_ae for r in rows):6.3f} "
              f"MedAE {statistics.mean(r.median_ae for r in rows):5.3f} PCO {statistics.mean(r.pco for r in rows):5.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
