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
``features (N, D) float32, senones (S,) int64, counts (C,) int64[, gaussians (C, K, 2d+1, G)
float32] -> scores (N, S) float32``. ``gaussians`` (:func:`quadratic_form`) defaults to the
pretrained model (an initializer of the same name); an adapted model's is computed once per call
here, not once per block inside the graph (a third of the graph's time when it was).
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
from .checkpoint import AcousticCheckpoint, Gaussians

logger = logging.getLogger(__name__)

INPUTS = ("features", "senones", "counts", "gaussians")
OUTPUT = "scores"
#: Frames per ONNX call. 64 is as fast as 128 in benchmarks/bench_scorer.py on two threads and costs
#: about 5 % more CPU in a whole alignment (more calls), for half the buffers: a 10-minute song peaks
#: at 482 MB instead of 506 (benchmarks/bench_align.py --long-minutes 10).
BLOCK_FRAMES = 64
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

    @property
    def is_identity(self) -> bool:
        return bool(np.all(self.scale == 1) and np.all(self.bias == 0))

    def __post_init__(self) -> None:
        if self.scale.shape != self.bias.shape or self.scale.ndim != 2:
            raise ValueError(f"scale and bias must both be (C, D), got {self.scale.shape} and {self.bias.shape}")
        if not (np.all(np.isfinite(self.scale)) and np.all(np.isfinite(self.bias))):
            raise ValueError("a mean transform must be finite")


#: A batch scorer: ``(features (N, D), selection, transform) -> (N, S)``; the service plugs in its
#: batching endpoint here, the CLI the local session.
ScoreFunction = Callable[[np.ndarray, SenoneSelection, MeanTransform], np.ndarray]


def session_options():
    """The ONNX Runtime session options the scorer runs with (one thread per call: blocks run side by side)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.set_denormal_as_zero", "1")  # denormals slow MatMul ~5x
    # The arena (on) keeps one block's intermediates for the next: every block has the same size, so
    # memory stays bounded by the block, and without it each call's ~11 MB buffers are fresh pages
    # (measured: 2 s of page faults per song and a larger, fragmented heap). The memory pattern (off)
    # would pre-plan one buffer for all of a call's intermediates: +80 MB per song at equal speed.
    options.enable_mem_pattern = False
    # ORT warns on every load that an overridable initializer ("gaussians", by design) is not
    # constant-folded; warnings would break the CLI's clean stderr. Errors still surface.
    options.log_severity_level = 3
    return options


class SenoneScorer:
    """An ONNX Runtime session over the scorer graph (CPU by default; CUDA when asked and available).

    On the CPU the blocks of one call run side by side on ``threads`` worker threads (default: one per
    core), each ONNX call single-threaded: the graph is many small products, which one call spreads over
    cores far worse than independent blocks do (docs/benchmarks.md).
    """

    def __init__(self, path: str | Path, threads: int | None = None, providers: tuple[str, ...] | None = None,
                 gaussians: "Gaussians | Callable[[], Gaussians] | None" = None) -> None:
        """``gaussians`` (or a function loading them on first use): the model's means and variances,
        needed only to score under a mean transform other than the identity."""
        import onnxruntime as ort

        options = session_options()
        available = ort.get_available_providers()
        chosen = [p for p in (providers or ("CPUExecutionProvider",)) if p in available] or ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=chosen)
        except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
            raise ModelError(f"{path}: cannot load the senone scorer: {e}") from e
        names = tuple(i.name for i in [*self._session.get_inputs(), *self._session.get_overridable_initializers()])
        if set(names) != set(INPUTS) or [o.name for o in self._session.get_outputs()] != [OUTPUT]:
            raise ModelError(f"{path}: not a lyricalign senone scorer (inputs {names})")
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.threads = threads or int(os.environ.get(THREADS_ENV, "0") or 0) or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="scorer") if self.threads > 1 else None
        self._gaussians = gaussians
        self._forms: dict[bytes, np.ndarray] = {}  # the last transform's quadratic form (one pass: many calls)

    @classmethod
    def for_checkpoint(cls, checkpoint: "AcousticCheckpoint", threads: int | None = None,
                       providers: tuple[str, ...] | None = None) -> "SenoneScorer":
        """The checkpoint's scorer, able to score adapted means (its Gaussians load on first need)."""
        return cls(checkpoint.scorer_path, threads, providers, gaussians=lambda: checkpoint.gaussians)

    def _quadratic_form(self, transform: MeanTransform) -> np.ndarray:
        key = transform.scale.tobytes() + transform.bias.tobytes()
        form = self._forms.get(key)
        if form is None:
            if self._gaussians is None:
                raise ValueError("this scorer was made without the model's Gaussians: it scores the identity "
                                 "transform only")
            gaussians = self._gaussians if isinstance(self._gaussians, Gaussians) else self._gaussians()
            form = quadratic_form(gaussians.means, gaussians.variances, transform)
            self._forms = {key: form}  # replaced whole: threads scoring other transforms never see a half state
        return form

    def __call__(self, features: np.ndarray, selection: SenoneSelection, transform: MeanTransform) -> np.ndarray:
        """Scores ``(N, S)`` float32 of ``features`` ``(N, D)`` for the selected senones, block by block."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != transform.scale.shape[1]:
            raise ValueError(f"features must be (N, {transform.scale.shape[1]}), got {features.shape}")
        out = np.empty((len(features), len(selection.senones)), dtype=np.float32)
        fixed = {"senones": selection.senones, "counts": selection.counts}
        if not transform.is_identity:
            fixed["gaussians"] = self._quadratic_form(transform)

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


def quadratic_form(means: np.ndarray, variances: np.ndarray, transform: MeanTransform | None = None) -> np.ndarray:
    """``(C, K, 2d+1, G)`` float32: each Gaussian's log-density as the weights of ``[x^2, x, 1]``.

    ``log N(x; mu, var) = sum_j -x_j^2 / (2 var_j) + x_j mu_j / var_j - (mu_j^2 / var_j + log(2 pi var_j)) / 2``,
    so one matrix product of the augmented frames gives every Gaussian's log-density. ``means`` and
    ``variances`` are ``(C, K, G, d)``; ``transform`` moves the means first.
    """
    mu = transformed_means(means.astype(np.float64), transform)
    var = variances.astype(np.float64)
    precision = 1.0 / var
    constant = -0.5 * np.sum(mu * mu * precision + np.log(2 * np.pi * var), axis=-1, keepdims=True)  # (C, K, G, 1)
    form = np.concatenate([-0.5 * precision, mu * precision, constant], axis=-1)  # (C, K, G, 2d+1)
    return np.ascontiguousarray(form.transpose(0, 1, 3, 2), dtype=np.float32)


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
    means = transformed_means(means, transform)
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


def transformed_means(means: np.ndarray, transform: MeanTransform | None) -> np.ndarray:
    """``(C, K, G, d)`` means after ``transform`` (whose ``(C, K * d)`` rows are per codebook)."""
    if transform is None:
        return means
    n_books, n_streams, _, dim = means.shape
    return means * transform.scale.reshape(n_books, n_streams, 1, dim) + transform.bias.reshape(
        n_books, n_streams, 1, dim)


def path_log_likelihoods(features: np.ndarray, senones: np.ndarray, senone_codebook: np.ndarray, means: np.ndarray,
                         variances: np.ndarray, log_weights: np.ndarray,
                         transform: MeanTransform | None = None) -> np.ndarray:
    """``(T,)`` log-likelihood of frame ``t`` under senone ``senones[t]`` (one senone per frame: a state path).

    The scorer's definition (:func:`reference_scores`) for one column per frame: what the confidences
    need after the search, without keeping a ``(T, S)`` score matrix for the whole song.
    """
    from .path_kernel import path_mixtures

    return path_mixtures(features, senones, senone_codebook, transformed_means(means, transform), variances,
                         log_weights, statistics=False).log_likelihood
