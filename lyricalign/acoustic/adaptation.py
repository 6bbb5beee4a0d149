"""Per-song unsupervised adaptation: a diagonal MLLR transform of the Gaussian means, fitted to the
song from its own first-pass alignment, then the song aligned again.

The pretrained model was trained on read speech; a song's "silence" is loud accompaniment and its
vowels are sung. From the Viterbi path, each frame's state gives its senone; within that senone's
mixture the Gaussians share the frame by posterior. For every regression class (vowel codebooks,
the other phones' codebooks, SIL: defined by the model's phone set) and every feature dimension,
``mu' = a * mu + b`` is the closed-form maximum-likelihood fit (a 2 x 2 weighted least-squares
system per dimension, variances unchanged). Transformed means go to the same ONNX scorer as
inputs, so adapted re-scoring is the same batchable call as the first pass.

EM cannot lower the likelihood of the path it was fitted on, so the next Viterbi path scores at
least as well under the new model; a pass that scores worse (possible only through the small
ridge toward the identity, or with ``restart``, whose step starts from the pretrained means) is
discarded. Measured variants: docs/benchmarks.md.

What the options measure (all off by default; none beat the design on the dev songs): more EM steps
per alignment (``em_steps``) climb the same likelihood further, and it keeps rising as the means
contract toward each class's centre (vowel scale 0.70, 0.58, 0.51, ... on one song): iterations
move alignments because the ML transform is still moving, not through a bookkeeping error.
``restart`` keeps every iteration one step from the pretrained means (the transform stays put,
only the path is refined). ``grouping`` pools the classes (fewer, better-estimated transforms) or
splits them (a transform per well-observed codebook, a regression tree's leaves).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .path_kernel import path_mixtures
from .scorer import MeanTransform, transformed_means

if TYPE_CHECKING:  # pragma: no cover
    from ..align.hmm_graph import WordGraph
    from .checkpoint import AcousticCheckpoint

logger = logging.getLogger(__name__)

VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
SILENCE = "SIL"
CLASS_NAMES = ("vowel", "other", "silence")
RIDGE = 1e-3  # pull toward the identity, relative to each system's diagonal: keeps sparse classes sane


#: How codebooks are pooled into regression classes (one transform per group):
#: ``phone-classes`` the three of :data:`CLASS_NAMES`; ``speech-silence`` vowels and other phones pooled;
#: ``global`` one transform for every codebook; ``codebooks`` a regression tree's leaves: every codebook (CI
#: phone) seen on at least :data:`SPLIT_FRAMES` frames gets its own transform, the others their class's.
#: Measured in docs/benchmarks.md (the default: the design).
GROUPINGS = ("phone-classes", "speech-silence", "global", "codebooks")
SPLIT_FRAMES = 1000.0  # HTK HAdapt's default occupancy threshold for a regression class (SPLITTHRESH), not tuned here


@dataclass(frozen=True)
class AdaptationOptions:
    """``iterations`` re-estimations (0: off), over the regression ``classes`` (others keep the identity).

    ``em_steps``: EM steps of the transform on each alignment before re-aligning (each step's Gaussian
    posteriors use the previous step's transform). ``restart``: every iteration's posteriors use the
    pretrained means (its transform is one EM step from the identity on the new path) instead of the
    current transform, so iterations refine the alignment without compounding the transform.
    """

    iterations: int = 1
    classes: tuple[str, ...] = CLASS_NAMES
    min_frames: int = 100  # a class seen on fewer frames keeps the identity
    bias_only: bool = False  # True: mu' = mu + b (a shift per class and dimension, no scale)
    em_steps: int = 1
    restart: bool = False
    grouping: str = "phone-classes"

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or not 0 <= self.iterations <= 5:
            raise ValueError(f"adaptation iterations must be an integer in [0, 5], got {self.iterations!r}")
        unknown = set(self.classes) - set(CLASS_NAMES)
        if unknown or not self.classes:
            raise ValueError(f"adaptation classes must be among {', '.join(CLASS_NAMES)}, got {self.classes!r}")
        if self.min_frames < 1:
            raise ValueError(f"min_frames must be >= 1, got {self.min_frames}")
        if isinstance(self.em_steps, bool) or not isinstance(self.em_steps, int) or not 1 <= self.em_steps <= 10:
            raise ValueError(f"em_steps must be an integer in [1, 10], got {self.em_steps!r}")
        if self.grouping not in GROUPINGS:
            raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}, got {self.grouping!r}")
        if self.grouping != GROUPINGS[0] and set(self.classes) != set(CLASS_NAMES):
            raise ValueError("a grouping other than phone-classes adapts every class: leave classes at the default")


@dataclass(frozen=True)
class Statistics:
    """Zeroth and first order Gaussian occupancies: ``count (C, K, G)``, ``total (C, K, G, d)``."""

    count: np.ndarray
    total: np.ndarray


@dataclass
class Adapted:
    final_pass: Any  # the engine's pass record of the final alignment
    passes: list[Any]
    transform: MeanTransform
    report: dict[str, Any] = field(default_factory=dict)


def codebook_classes(phones: tuple[str, ...], filler: tuple[bool, ...] | None = None) -> np.ndarray:
    """``(C,)`` regression class (index into :data:`CLASS_NAMES`) of each codebook (= CI phone).

    The silence class is the model's fillers (mdef's filler flags: SIL and the noise models), or SIL
    alone when the flags are not given.
    """
    filler = filler if filler is not None else tuple(p == SILENCE for p in phones)
    return np.array([2 if f else 0 if p in VOWELS else 1 for p, f in zip(phones, filler)], dtype=np.int64)


def accumulate(features: np.ndarray, senones: np.ndarray, senone_codebook: np.ndarray, means: np.ndarray,
               variances: np.ndarray, log_weights: np.ndarray, transform: MeanTransform | None = None) -> Statistics:
    """Occupancies of every Gaussian given each frame's senone (``senones`` ``(T,)``, the path's).

    Posteriors within the senone's mixture use the current (transformed) means.
    """
    mixtures = path_mixtures(features, senones, senone_codebook, transformed_means(means, transform), variances,
                             log_weights, statistics=True)
    return Statistics(count=mixtures.count, total=mixtures.total)


def estimate(stats: Statistics, means: np.ndarray, variances: np.ndarray, classes: np.ndarray,
             options: AdaptationOptions) -> tuple[MeanTransform, dict[str, Any]]:
    """Closed-form diagonal MLLR ``(a, b)`` per group, stream and dimension, expanded to every codebook.

    ``classes`` ``(C,)`` is each codebook's class (:func:`codebook_classes`); ``options.grouping`` pools
    them into the groups that share a transform.
    """
    n_books, n_streams, _, dim = means.shape
    scale = np.ones((n_books, n_streams, dim))
    bias = np.zeros((n_books, n_streams, dim))
    report: dict[str, Any] = {}
    precision = 1.0 / variances.astype(np.float64)
    for name, members in _groups(options.grouping):
        books = np.flatnonzero(np.isin(classes, members))
        frames = float(stats.count[books, 0].sum())
        if not any(CLASS_NAMES[m] in options.classes for m in members) or frames < options.min_frames:
            report[name] = {"frames": round(frames, 1), "adapted": False}
            continue
        a, b = _solve(stats.count[books], stats.total[books], means[books].astype(np.float64), precision[books],
                      options.bias_only)
        scale[books], bias[books] = a, b
        report[name] = {"frames": round(frames, 1), "adapted": True, "mean_scale": round(float(a.mean()), 4),
                        "c0_bias": round(float(b[0, 0]), 4)}
    if options.grouping == "codebooks":
        own = [c for c in range(n_books) if stats.count[c, 0].sum() >= max(SPLIT_FRAMES, options.min_frames)]
        for c in own:
            scale[c], bias[c] = _solve(stats.count[[c]], stats.total[[c]], means[[c]].astype(np.float64),
                                       precision[[c]], options.bias_only)
        report["own_codebooks"] = own
    flat = (n_books, n_streams * dim)
    return MeanTransform(scale.reshape(flat).astype(np.float32), bias.reshape(flat).astype(np.float32)), report


def _groups(grouping: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``(name, class indices)`` of each group of codebooks sharing one transform."""
    if grouping == "speech-silence":
        return (("speech", (0, 1)), ("silence", (2,)))
    if grouping == "global":
        return (("all", (0, 1, 2)),)
    return tuple((name, (index,)) for index, name in enumerate(CLASS_NAMES))


def _solve(count, total, mu, precision, bias_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per stream and dimension: minimise sum_g prec * sum_t gamma (x - a mu - b)^2 (+ a small ridge to (1, 0))."""
    n = count[..., None]  # (c, K, G, 1)
    a11 = np.sum(precision * n * mu**2, axis=(0, 2))  # (K, d)
    a12 = np.sum(precision * n * mu, axis=(0, 2))
    a22 = np.sum(precision * n, axis=(0, 2))
    r1 = np.sum(precision * mu * total, axis=(0, 2))
    r2 = np.sum(precision * total, axis=(0, 2))
    if bias_only:
        return np.ones_like(a22), (r2 - a12) / (a22 * (1 + RIDGE) + 1e-9)
    ridge1, ridge2 = RIDGE * a11 + 1e-9, RIDGE * a22 + 1e-9
    a11, a22, r1 = a11 + ridge1, a22 + ridge2, r1 + ridge1  # prior (a, b) = (1, 0)
    det = a11 * a22 - a12**2
    a = (r1 * a22 - a12 * r2) / det
    b = (a11 * r2 - a12 * r1) / det
    return a, b


def adapt(first_pass: Any, graph: "WordGraph", features: np.ndarray, checkpoint: "AcousticCheckpoint",
          options: AdaptationOptions, rescore: Callable[[MeanTransform, tuple[float, float]], Any]) -> Adapted:
    """Re-estimate the transform ``options.iterations`` times from each pass's path and re-align.

    ``rescore(transform, progress_span)`` runs one scoring + Viterbi pass and returns the engine's pass
    record (``.result.states``, ``.result.score``).
    """
    identity = MeanTransform.identity(checkpoint.n_codebooks, features.shape[1])
    done = Adapted(final_pass=first_pass, passes=[first_pass], transform=identity,
                   report={"iterations": 0, "first_pass_score": round(first_pass.result.score, 2)})
    if options.iterations == 0:
        return done
    gaussians = checkpoint.gaussians
    classes = codebook_classes(checkpoint.definition.phones, tuple(checkpoint.definition.filler))
    current, transform = first_pass, identity
    for iteration in range(options.iterations):
        senones = graph.senone[current.result.states]
        candidate = identity if options.restart else transform
        for _ in range(options.em_steps):  # posteriors under the previous step's transform
            stats = accumulate(features, senones, checkpoint.definition.senone_codebook, gaussians.means,
                               gaussians.variances, gaussians.log_weights, candidate)
            candidate, per_class = estimate(stats, gaussians.means, gaussians.variances, classes, options)
        start = 0.45 + 0.5 * iteration / options.iterations
        new_pass = rescore(candidate, (start, start + 0.5 / options.iterations))
        done.passes.append(new_pass)
        if new_pass.result.score < current.result.score:
            logger.warning("adaptation iteration %d lowered the path score (%.1f < %.1f): kept the previous pass",
                           iteration + 1, new_pass.result.score, current.result.score)
            break
        current, transform = new_pass, candidate
        done.report.update(iterations=iteration + 1, classes=per_class)
    done.final_pass, done.transform = current, transform
    done.report["final_pass_score"] = round(current.result.score, 2)
    return done
