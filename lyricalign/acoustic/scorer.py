"""Senone log-likelihoods of feature frames: the ONNX checkpoint at run time, and its numpy reference.

The scorer computes, for every frame and every requested senone ``s`` of a semi-continuous
(PTM) model, ``sum over streams k of log sum_g w[s, k, g] N(x_k; mu'[c(s), k, g], var[c(s), k, g])``
where ``c(s)`` is the senone's codebook and ``mu' = scale[c] * mu + bias[c]`` (a per-song diagonal
mean transform, identity by default; see :mod:`lyricalign.acoustic.adaptation`).

Only the senones a song's graph uses are scored (about 850 of 5,126 for a 3-minute song: 7x less
work). The ONNX graph (built by ``training/acoustic_export.py``) takes them grouped by codebook:
``senones`` sorted by codebook and ``counts`` per codebook, so each codebook's mixture sums are
one matrix product ``E_c (N, 128) @ W_c (128, S_c)`` with no ragged gather. Frames go through in
blocks of :data:`BLOCK_FRAMES` so memory stays bounded whatever the song's length.

Graph contract (inputs -> output), names in :data:`INPUTS` / :data:`OUTPUT`:
``features (N, D) float32, senones (S,) int64, counts (C,) int64, mean_scale (C, D) float32,
mean_bias (C, D) float32 -> scores (N, S) float32``.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelError

logger = logging.getLogger(__name__)

INPUTS = ("features", "senones", "counts", "mean_scale", "mean_bias")
OUTPUT = "scores"
BLOCK_FRAMES = 64  # frames per ONNX call: fastest measured (benchmarks/bench_scorer.py) and ~1 MB per intermediate
THREADS_ENV = "LYRICALIGN_INTRA_OP_THREADS"


@dataclass(frozen=True)
class SenoneSelection:
    """The senones to score, in the order the scorer returns them (grouped by codebook).

    Attributes:
        senones: ``(S,)`` int64 model senone ids, sorted by codebook (then id).
        counts: ``(C,)`` int64 how many of them belong to each codebook.
    """

    senones: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, senone_ids: np.ndarray, senone_codebook: np.ndarray, n_codebooks: int) -> "SenoneSelection":
        """Unique ``senone_ids`` grouped by ``senone_codebook`` (``(n_senones,)`` codebook of each senone)."""
        unique = np.unique(np.asarray(senone_ids, dtype=np.int64))
        if len(unique) == 0:
            raise ValueError("no senones to score")
        if unique[0] < 0 or unique[-1] >= len(senone_codebook):
            raise ValueError(f"senone ids must be in [0, {len(senone_codebook)})")
        books = senone_codebook[unique]
        order = np.lexsort((unique, books))
        return cls(senones=unique[order], counts=np.bincount(books, minlength=n_codebooks).astype(np.int64))

    def index_of(self, senone_ids: np.ndarray) -> np.ndarray:
        """Column of each senone id in the scores (all must be selected)."""
        lookup = {int(s): k for k, s in enumerate(self.senones)}
        try:
            return np.array([lookup[int(s)] for s in np.asarray(senone_ids).ravel()], dtype=np.int32).reshape(
                np.shape(senone_ids))
        except KeyError as e:
            raise ValueError(f"senone {e.args[0]} is not in the selection") from e


@dataclass(frozen=True)
class MeanTransform:
    """Diagonal transform of every codebook's Gaussian means: ``mu' = scale * mu + bias``, ``(C, D)`` each."""

    scale: np.ndarray
    bias: np.ndarray

    @classmethod
    def identity(cls, n_codebooks: int, dim: int) -> "MeanTransform":
        return cls(np.ones((n_codebooks, dim), np.float32), np.zeros((n_codebooks, dim), np.float32))

    def __post_init__(self) -> None:
        if self.scale.shape != self.bias.shape or self.scale.ndim != 2:
            raise ValueError(f"scale and bias must both be (C, D), got {self.scale.shape} and {self.bias.shape}")
        if not (np.all(np.isfinite(self.scale)) and np.all(np.isfinite(self.bias))):
            raise ValueError("a mean transform must be finite")


#: A batch scorer: ``(features (N, D), selection, transform) -> (N, S)``; the service plugs in its
#: batching endpoint here, the CLI the local session.
ScoreFunction = Callable[[np.ndarray, SenoneSelection, MeanTransform], np.ndarray]


class SenoneScorer:
    """An ONNX Runtime session over the scorer graph (CPU by default; CUDA when asked and available).

    On the CPU the blocks of one call run side by side on ``threads`` worker threads (default: one per
    core), each ONNX call single-threaded: the graph is many small products, which one call spreads over
    cores far worse than independent blocks do (docs/benchmarks.md).
    """

    def __init__(self, path: str | Path, threads: int | None = None, providers: tuple[str, ...] | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.set_denormal_as_zero", "1")  # denormals slow MatMul ~5x
        options.enable_cpu_mem_arena = False  # the arena keeps every block's peak; songs need bounded memory
        available = ort.get_available_providers()
        chosen = [p for p in (providers or ("CPUExecutionProvider",)) if p in available] or ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=chosen)
        except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
            raise ModelError(f"{path}: cannot load the senone scorer: {e}") from e
        names = tuple(i.name for i in self._session.get_inputs())
        if set(names) != set(INPUTS) or [o.name for o in self._session.get_outputs()] != [OUTPUT]:
            raise ModelError(f"{path}: not a lyricalign senone scorer (inputs {names})")
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.threads = threads or int(os.environ.get(THREADS_ENV, "0") or 0) or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="scorer") if self.threads > 1 else None

    def __call__(self, features: np.ndarray, selection: SenoneSelection, transform: MeanTransform) -> np.ndarray:
        """Scores ``(N, S)`` float32 of ``features`` ``(N, D)`` for the selected senones, block by block."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != transform.scale.shape[1]:
            raise ValueError(f"features must be (N, {transform.scale.shape[1]}), got {features.shape}")
        out = np.empty((len(features), len(selection.senones)), dtype=np.float32)
        fixed = {"senones": selection.senones, "counts": selection.counts,
                 "mean_scale": transform.scale.astype(np.float32), "mean_bias": transform.bias.astype(np.float32)}

        def run(start: int) -> None:
            block = features[start : start + BLOCK_FRAMES]
            out[start : start + len(block)] = self._session.run([OUTPUT], {"features": block, **fixed})[0]

        starts = range(0, len(features), BLOCK_FRAMES)
        if self._pool is None or len(starts) == 1:
            for start in starts:
                run(start)
        else:
            list(self._pool.map(run, starts))
        return out


def reference_scores(
    features: np.ndarray,
    means: np.ndarray,
    variances: np.ndarray,
    log_weights: np.ndarray,
    senone_codebook: np.ndarray,
    senones: np.ndarray,
    transform: MeanTransform | None = None,
) -> np.ndarray:
    """The scorer's definition in plain numpy (the tests' oracle): ``(N, len(senones))`` float64.

    Args:
        features: ``(N, K * d)``; means, variances: ``(C, K, G, d)``; log_weights: ``(n_senones, K, G)``.
    """
    n_books, n_streams, _, dim = means.shape
    if transform is not None:
        means = means * transform.scale.reshape(n_books, n_streams, 1, dim) + transform.bias.reshape(
            n_books, n_streams, 1, dim)
    x = features.astype(np.float64).reshape(len(features), n_streams, 1, 1, dim)  # (N, K, 1, 1, d)
    diff = x - np.swapaxes(means, 0, 1)[None]  # (N, K, C, G, d)
    var = np.swapaxes(variances, 0, 1)[None].astype(np.float64)
    gauss = -0.5 * np.sum(np.log(2 * np.pi * var) + diff**2 / var, axis=-1)  # (N, K, C, G)
    out = np.zeros((len(features), len(senones)))
    for j, s in enumerate(senones):
        terms = gauss[:, :, senone_codebook[s], :] + log_weights[s][None].astype(np.float64)  # (N, K, G)
        peak = terms.max(axis=-1, keepdims=True)
        out[:, j] = np.sum(np.log(np.exp(terms - peak).sum(axis=-1)) + peak[..., 0], axis=-1)
    return out


def path_log_likelihoods(features: np.ndarray, senones: np.ndarray, senone_codebook: np.ndarray, means: np.ndarray,
                         variances: np.ndarray, log_weights: np.ndarray, transform: MeanTransform | None = None,
                         block: int = 512) -> np.ndarray:
    """``(T,)`` log-likelihood of frame ``t`` under senone ``senones[t]`` (one senone per frame: a state path).

    The scorer's definition (:func:`reference_scores`) for one column per frame, in blocks: what the
    confidences need after the search, without keeping a ``(T, S)`` score matrix for the whole song.
    """
    n_books, n_streams, _, dim = means.shape
    if transform is not None:
        means = means * transform.scale.reshape(n_books, n_streams, 1, dim) + transform.bias.reshape(
            n_books, n_streams, 1, dim)
    log_norm = -0.5 * np.log(2 * np.pi * variances).sum(axis=-1)  # (C, K, G)
    precision = 1.0 / variances
    out = np.empty(len(features), dtype=np.float64)
    x_all = features.reshape(len(features), n_streams, 1, dim)
    for start in range(0, len(features), block):
        sen = senones[start : start + block]
        books = senone_codebook[sen]
        diff = x_all[start : start + block] - means[books]  # (B, K, G, d)
        terms = log_norm[books] - 0.5 * np.einsum("bkgd,bkgd->bkg", diff * diff, precision[books]) + log_weights[sen]
        peak = terms.max(axis=-1, keepdims=True)
        out[start : start + block] = (np.log(np.exp(terms - peak).sum(axis=-1)) + peak[..., 0]).sum(axis=-1)
    return out
