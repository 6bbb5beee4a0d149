"""Senone log-likelihoods of feature frames: the ONNX checkpoint at run time, and its numpy reference.

The scorer computes, for every frame and every requested senone ``s`` of a semi-continuous
(PTM) model, ``sum over streams k of log sum_g w[s, k, g] N(x_k; mu'[c(s), k, g], var[c(s), k, g])``
where ``c(s)`` is the senone's codebook and ``mu' = scale[c] * mu + bias[c]`` (a per-song diagonal
mean transform, identity by default; see :mod:`lyricalign.acoustic.adaptation`).

Only the senones a song's graph uses are scored (about 850 of 5,126 for a 3-minute song: 7x less
work). The ONNX graph (built by ``training/acoustic_export.py``) is one chain per codebook ``c``:
its Gaussians' log-densities as one matrix product of the frames' ``[x^2, x, 1]`` with the
quadratic form ``form_c``, then its senones' mixture sums as one product with ``weights_c``. Both are
overridable initializers holding the pretrained model; :class:`SenoneScorer` feeds a song's own
(the weights of its selected senones, the forms of its mean transform), built once per song and
reused by every block, so no call gathers or copies parameters. Frames go through in blocks of
:data:`BLOCK_FRAMES` so memory stays bounded whatever the song's length.

Graph contract (inputs -> output): ``features (N, D) float32`` and, per codebook ``c`` (names
:func:`form_input`, :func:`weights_input`), ``form_c (K, 2d+1, G_c)`` and ``weights_c (K, G_c, S_c)``
float32 ``-> scores (N, sum S_c) float32``, codebook by codebook. Defaults: every Gaussian and every
senone (by id) of the codebook, so ``features`` alone scores the whole model. A codebook a song does
not use gets one zero Gaussian and no senones (an empty chain).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ModelError
from .checkpoint import AcousticCheckpoint, Gaussians

logger = logging.getLogger(__name__)

FEATURES = "features"
OUTPUT = "scores"
#: Frames per ONNX call: four per scoring request of the hmm engine (1,024 frames), two per core. In a
#: whole alignment 256 took 10-20 % less CPU than 128 or 64 (docs/benchmarks.md).
BLOCK_FRAMES = 256
SONG_INPUTS_KEPT = 8  # transforms' forms and selections' weights kept, each (a server interleaves songs)


def form_input(codebook: int) -> str:
    """The graph input of codebook ``codebook``'s quadratic form ``(K, 2d+1, G)``."""
    return f"form_{codebook}"


def weights_input(codebook: int) -> str:
    """The graph input of codebook ``codebook``'s selected senones' mixture weights ``(K, G, S_c)``."""
    return f"weights_{codebook}"


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
                 gaussians: "Gaussians | Callable[[], Gaussians] | None" = None,
                 senone_codebook: np.ndarray | None = None) -> None:
        """``gaussians`` (or a function loading them on first use): the model's means, variances and
        mixture weights, from which each song's inputs are made; without them only
        :meth:`score_with_defaults` (the graph's own initializers, every senone) can run.
        ``senone_codebook`` (``(n_senones,)``, optional): checks that selections are grouped by codebook."""
        import onnxruntime as ort

        options = session_options()
        available = ort.get_available_providers()
        chosen = [p for p in (providers or ("CPUExecutionProvider",)) if p in available] or ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=chosen)
        except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
            raise ModelError(f"{path}: cannot load the senone scorer: {e}") from e
        self.n_codebooks = _check_contract(self._session, path)
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.threads = threads or int(os.environ.get(THREADS_ENV, "0") or 0) or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="scorer") if self.threads > 1 else None
        self._gaussians = gaussians
        self._senone_codebook = senone_codebook
        self._forms: OrderedDict[bytes, np.ndarray] = OrderedDict()  # by transform
        self._weights: OrderedDict[bytes, list[np.ndarray | None]] = OrderedDict()  # by selection
        self._lock = threading.Lock()

    @classmethod
    def for_checkpoint(cls, checkpoint: "AcousticCheckpoint", threads: int | None = None,
                       providers: tuple[str, ...] | None = None) -> "SenoneScorer":
        """The checkpoint's scorer (its Gaussians load on first need)."""
        return cls(checkpoint.scorer_path, threads, providers, gaussians=lambda: checkpoint.gaussians,
                   senone_codebook=checkpoint.definition.senone_codebook)

    def _model(self) -> Gaussians:
        if self._gaussians is None:
            raise ValueError("this scorer was made without the model's Gaussians: it can only score every senone "
                             "with the graph's defaults (score_with_defaults)")
        if not isinstance(self._gaussians, Gaussians):
            self._gaussians = self._gaussians()
        return self._gaussians

    def song_inputs(self, selection: SenoneSelection, transform: MeanTransform) -> dict[str, np.ndarray]:
        """The graph's per-codebook inputs for ``selection`` under ``transform``: the forms depend on the
        transform only (every first pass shares the identity's), the weights on the selection only (a
        server's batches mix songs in many ways); each part is built once and kept (least recently used
        first out)."""
        if len(selection.counts) != self.n_codebooks or int(selection.counts.sum()) != len(selection.senones):
            raise ValueError(f"a selection of {len(selection.senones)} senones over {len(selection.counts)} codebooks "
                             f"does not fit this scorer's {self.n_codebooks} codebooks")
        forms = self._cached(self._forms, transform.scale.tobytes() + transform.bias.tobytes(),
                             lambda: self._forms_of(transform))
        weights = self._cached(self._weights, selection.senones.tobytes() + selection.counts.tobytes(),
                               lambda: self._weights_of(selection))
        n_streams, width = forms.shape[1], forms.shape[2]
        empty_form, empty_weights = np.zeros((n_streams, width, 1), np.float32), np.zeros((n_streams, 1, 0), np.float32)
        inputs: dict[str, np.ndarray] = {}
        for c, (count, book_weights) in enumerate(zip(selection.counts, weights)):
            if count:
                inputs[form_input(c)], inputs[weights_input(c)] = forms[c], book_weights
            else:  # an empty chain: one zero Gaussian, no senones (read only: one pair serves them all)
                inputs[form_input(c)], inputs[weights_input(c)] = empty_form, empty_weights
        return inputs

    def _cached(self, cache: "OrderedDict[bytes, Any]", key: bytes, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = build()  # outside the lock: another thread may build the same; either copy is right
        with self._lock:
            cache[key] = value
            while len(cache) > SONG_INPUTS_KEPT:
                cache.popitem(last=False)
        return value

    def _forms_of(self, transform: MeanTransform) -> np.ndarray:
        model = self._model()
        return quadratic_form(model.means, model.variances, transform)  # (C, K, 2d+1, G)

    def _weights_of(self, selection: SenoneSelection) -> list[np.ndarray | None]:
        """Per codebook, its selected senones' mixture weights ``(K, G, S_c)`` (None for none)."""
        model = self._model()
        if len(selection.senones) and (int(selection.senones.min()) < 0
                                       or int(selection.senones.max()) >= len(model.log_weights)):
            raise ValueError(f"senone ids must be in [0, {len(model.log_weights)})")
        books = np.repeat(np.arange(self.n_codebooks), selection.counts)
        if self._senone_codebook is not None and not np.array_equal(self._senone_codebook[selection.senones], books):
            raise ValueError("the selection's senones are not grouped by codebook as its counts say "
                             "(use SenoneSelection.of)")
        return codebook_weights(model.log_weights, selection)

    def __call__(self, features: np.ndarray, selection: SenoneSelection, transform: MeanTransform) -> np.ndarray:
        """Scores ``(N, S)`` float32 of ``features`` ``(N, D)`` for the selected senones, block by block."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != transform.scale.shape[1]:
            raise ValueError(f"features must be (N, {transform.scale.shape[1]}), got {features.shape}")
        return self._run(features, len(selection.senones), self.song_inputs(selection, transform))

    def score_with_defaults(self, features: np.ndarray) -> np.ndarray:
        """``(N, n_senones)``: every senone, in codebook order, from the graph's own initializers only."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        n_senones = int(self.metadata.get("lyricalign.n_senones", 0)) or self._session.run(
            [OUTPUT], {FEATURES: features[:1]})[0].shape[1]
        return self._run(features, n_senones, {})

    def _run(self, features: np.ndarray, n_columns: int, fixed: dict[str, np.ndarray]) -> np.ndarray:
        out = np.empty((len(features), n_columns), dtype=np.float32)

        def run(start: int) -> None:
            block = features[start : start + BLOCK_FRAMES]
            out[start : start + len(block)] = self._session.run([OUTPUT], {FEATURES: block, **fixed})[0]

        starts = range(0, len(features), BLOCK_FRAMES)
        if self._pool is None or len(starts) == 1:
            for start in starts:
                run(start)
        else:
            list(self._pool.map(run, starts))
        return out


def codebook_weights(log_weights: np.ndarray, selection: SenoneSelection) -> list[np.ndarray | None]:
    """Per codebook, the mixture weights ``(K, G, S_c)`` float32 of its senones in ``selection`` (None
    where it has none): the graph's ``weights_c`` (``log_weights``: ``(n_senones, K, G)``)."""
    weights = np.exp(log_weights[selection.senones].astype(np.float64)).astype(np.float32)  # (S, K, G)
    ends = np.cumsum(selection.counts)
    return [np.ascontiguousarray(weights[end - count:end].transpose(1, 2, 0)) if count else None
            for count, end in zip(selection.counts, ends)]


def _check_contract(session, path: str | Path) -> int:
    """The number of codebooks of a scorer graph; ModelError unless it follows the contract above."""
    inputs = [i.name for i in session.get_inputs()]
    overridable = {i.name for i in session.get_overridable_initializers()}
    n_codebooks = sum(1 for name in overridable if name.startswith("form_"))
    expected = {form_input(c) for c in range(n_codebooks)} | {weights_input(c) for c in range(n_codebooks)}
    if FEATURES not in inputs or not n_codebooks or not expected <= overridable \
            or [o.name for o in session.get_outputs()] != [OUTPUT]:
        raise ModelError(f"{path}: not a lyricalign senone scorer of this version (inputs {sorted(inputs)}; "
                         "re-install it: lyricalign models install-acoustic)")
    return n_codebooks


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
