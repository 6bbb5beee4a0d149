"""The mixtures along a state path: one senone per frame, its log-likelihood and its Gaussians' occupancies.

Adaptation needs, for the senone a Viterbi path puts on each frame, the posterior of every Gaussian of
that senone's mixture (to accumulate zeroth and first order statistics); the confidences need the
frame's log-likelihood under that senone. Both are the same loop over ``(frame, stream, Gaussian,
dimension)``, about 80 M multiply-adds for a 3-minute song: one numba kernel does it in ~0.1 s where
the vectorised numpy form allocated ``(block, K, G, d)`` float64 temporaries and took ~1 s. The numpy
definitions stay as the tests' oracles (:func:`lyricalign.acoustic.scorer.reference_scores` and
``tests/test_acoustic_stack.py``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import native
from ..jit import njit

MIN_PART_FRAMES = 2_000  # shorter inputs run on one thread (a thread's start costs more than they take)


@dataclass(frozen=True)
class PathMixtures:
    """What :func:`path_mixtures` returns.

    Attributes:
        log_likelihood: ``(T,)`` float64 log-likelihood of each frame under its senone (summed over streams).
        count: ``(C, K, G)`` float64 Gaussian occupancies (zeros unless statistics were asked for).
        total: ``(C, K, G, d)`` float64 occupancy-weighted sums of the frames' features.
    """

    log_likelihood: np.ndarray
    count: np.ndarray
    total: np.ndarray


def path_mixtures(features: np.ndarray, senones: np.ndarray, senone_codebook: np.ndarray, means: np.ndarray,
                  variances: np.ndarray, log_weights: np.ndarray, statistics: bool = True) -> PathMixtures:
    """Log-likelihoods (and, with ``statistics``, Gaussian occupancies) of frame ``t`` under ``senones[t]``.

    Args:
        features: ``(T, K * d)`` float; senones: ``(T,)`` int model senone ids.
        senone_codebook: ``(n_senones,)`` codebook of each senone.
        means, variances: ``(C, K, G, d)`` (already transformed when adapting); log_weights: ``(n_senones, K, G)``.
    """
    n_books, n_streams, n_dens, dim = means.shape
    senones = np.ascontiguousarray(senones, dtype=np.int64)
    if features.ndim != 2 or features.shape[1] != n_streams * dim or len(senones) != len(features):
        raise ValueError(f"features must be (T, {n_streams * dim}) with one senone per frame, "
                         f"got {features.shape} and {senones.shape}")
    variances = np.ascontiguousarray(variances, dtype=np.float64)
    log_norm = -0.5 * np.log(2 * np.pi * variances).sum(axis=-1)  # (C, K, G)
    x = np.ascontiguousarray(features.reshape(len(features), n_streams, dim), dtype=np.float64)
    books = np.ascontiguousarray(senone_codebook[senones], dtype=np.int64)
    model = (np.ascontiguousarray(means, dtype=np.float64), 1.0 / variances, log_norm,
             np.ascontiguousarray(log_weights, dtype=np.float64))
    log_likelihood = np.empty(len(features))
    parts = _frame_parts(len(features))
    shape = (n_books, n_streams, n_dens) if statistics else (0, 0, 0)
    counts = [np.zeros(shape) for _ in parts]
    totals = [np.zeros((*shape, dim) if statistics else (0, 0, 0, 0)) for _ in parts]

    def run(k: int) -> None:
        part = parts[k]
        _kernel(x[part], books[part], senones[part], *model, statistics, log_likelihood[part], counts[k], totals[k])

    if len(parts) == 1:
        run(0)
    else:  # the kernel releases the GIL: the parts run side by side
        with ThreadPoolExecutor(len(parts), thread_name_prefix="path-mixtures") as pool:
            list(pool.map(run, range(len(parts))))
    return PathMixtures(log_likelihood=log_likelihood, count=sum(counts[1:], counts[0]),
                        total=sum(totals[1:], totals[0]))


def _frame_parts(n_frames: int) -> list[slice]:
    """Contiguous frame ranges, one per core, none shorter than :data:`MIN_PART_FRAMES`."""
    n_parts = max(1, min(os.cpu_count() or 1, n_frames // MIN_PART_FRAMES))
    bounds = np.linspace(0, n_frames, n_parts + 1).astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


@njit(cache=True, nogil=True)
def _kernel_numba(x, books, senones, mu, precision, log_norm, log_weights, statistics, log_likelihood, count,
                  total):  # pragma: no cover - compiled (its numpy definition is the tests' oracle)
    n_frames, n_streams, dim = x.shape
    n_dens = mu.shape[2]
    terms = np.empty(n_dens)
    for t in range(n_frames):
        book, senone = books[t], senones[t]
        frame_total = 0.0
        for k in range(n_streams):
            peak = -np.inf
            for g in range(n_dens):
                distance = 0.0
                for j in range(dim):
                    diff = x[t, k, j] - mu[book, k, g, j]
                    distance += diff * diff * precision[book, k, g, j]
                value = log_norm[book, k, g] - 0.5 * distance + log_weights[senone, k, g]
                terms[g] = value
                if value > peak:
                    peak = value
            mass = 0.0
            for g in range(n_dens):
                terms[g] = np.exp(terms[g] - peak)
                mass += terms[g]
            frame_total += peak + np.log(mass)
            if statistics:
                for g in range(n_dens):
                    posterior = terms[g] / mass
                    count[book, k, g] += posterior
                    for j in range(dim):
                        total[book, k, g, j] += posterior * x[t, k, j]
        log_likelihood[t] = frame_total


_kernel = native.kernel(native.path_mixtures, _kernel_numba)  # C when built (lyricalign.native)
