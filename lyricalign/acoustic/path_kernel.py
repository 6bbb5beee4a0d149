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

from dataclasses import dataclass

import numpy as np

from ..jit import njit


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
    variances = variances.astype(np.float64)
    log_norm = -0.5 * np.log(2 * np.pi * variances).sum(axis=-1)  # (C, K, G)
    count = np.zeros((n_books, n_streams, n_dens) if statistics else (0, 0, 0))
    total = np.zeros((n_books, n_streams, n_dens, dim) if statistics else (0, 0, 0, 0))
    log_likelihood = np.empty(len(features))
    _kernel(np.ascontiguousarray(features.reshape(len(features), n_streams, dim), dtype=np.float64),
            np.ascontiguousarray(senone_codebook[senones], dtype=np.int64), senones,
            np.ascontiguousarray(means, dtype=np.float64), 1.0 / variances, log_norm,
            np.ascontiguousarray(log_weights, dtype=np.float64), statistics, log_likelihood, count, total)
    return PathMixtures(log_likelihood=log_likelihood, count=count, total=total)


@njit(cache=True, nogil=True)
def _kernel(x, books, senones, mu, precision, log_norm, log_weights, statistics, log_likelihood, count,
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
