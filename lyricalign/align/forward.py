"""Forward-only Viterbi searches: the best score of a graph over blocks of scores, without a path.

The quality verdict (:mod:`lyricalign.align.quality`) compares the lyrics' Viterbi score with two
alternatives over the same score blocks; it needs their scores only, so these searches keep no
back-pointers (a fraction of :class:`~lyricalign.align.hmm_viterbi.ViterbiSearch`'s cost and memory):

* :class:`PhoneLoop` / :class:`PhoneLoopSearch` -- a free loop of phone HMMs (any phone after any
  other, each entry paying ``entry_logp``), ``3 P`` states; :func:`loop_score_reference` is the tests'
  brute-force oracle;
* :class:`ForwardSearch` -- any :class:`~lyricalign.align.hmm_viterbi.HMMGraph` (the null hypothesis's
  rotated lyrics): the path search's own kernel with its back-pointers switched off.

Accumulators are float64, as in :mod:`lyricalign.align.hmm_viterbi`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..acoustic.sphinx_mdef import ModelDefinition
from .. import native
from ..jit import njit
from .hmm_viterbi import HMMGraph, ViterbiSearch


@dataclass(frozen=True)
class PhoneLoop:
    """A free loop over ``P`` phones of ``E`` emitting states each.

    Attributes:
        columns: ``(P, E)`` int64, the score column (of the blocks fed to the search) of each state.
        log_transitions: ``(P, E, E + 1)`` float64 natural-log transition matrix of each phone; column
            ``E`` is the exit.
        entry_logp: log-probability of entering a phone (at the start and after each phone's exit).
    """

    columns: np.ndarray
    log_transitions: np.ndarray
    entry_logp: float

    def __post_init__(self) -> None:
        p, e = self.columns.shape if self.columns.ndim == 2 else (0, 0)
        if p < 1 or e < 1:
            raise ValueError(f"columns must be (P, E) with P, E >= 1, got {self.columns.shape}")
        if self.log_transitions.shape != (p, e, e + 1):
            raise ValueError(f"log_transitions must be (P, E, E + 1) = ({p}, {e}, {e + 1}), "
                             f"got {self.log_transitions.shape}")
        if not np.isfinite(self.entry_logp) or self.entry_logp > 0:
            raise ValueError(f"entry_logp must be a finite log-probability, got {self.entry_logp}")

    @property
    def n_phones(self) -> int:
        return self.columns.shape[0]

    @classmethod
    def uniform(cls, columns: np.ndarray, log_transitions: np.ndarray) -> "PhoneLoop":
        """The loop with the uniform phone prior, ``entry_logp = log(1 / P)``."""
        columns = np.asarray(columns, dtype=np.int64)
        return cls(columns=columns, log_transitions=np.asarray(log_transitions, dtype=np.float64),
                   entry_logp=-float(np.log(len(columns))))

    @classmethod
    def of_model(cls, definition: ModelDefinition, log_transitions: np.ndarray, ci_columns: np.ndarray,
                 fillers: Sequence[str] = ("SIL",)) -> "PhoneLoop":
        """The uniform loop over a model's CI phones: every speech phone and the ``fillers`` (the ones the
        forced graph may use: ``SIL``, plus e.g. ``+NSN+`` when the graph allows noise), no other filler.

        ``ci_columns[k]`` is the block column holding CI senone ``k`` (CI senones are ``0 .. n_ci - 1``:
        Sphinx numbers them first), so the loop reads the same blocks as the forced search.
        """
        keep = [i for i, (name, filler) in enumerate(zip(definition.phones, definition.filler))
                if not filler or name in fillers]
        senones = definition.senone_sequences[definition.ci_sseq[keep]]
        return cls.uniform(np.asarray(ci_columns)[senones],
                           np.asarray(log_transitions)[definition.tmat_of_phone[keep]])


@njit(cache=True, nogil=True)
def _loop_block_numba(delta, scores, scale, columns, tmat, entry, first):
    """Advance ``delta`` ``(P, E)`` over ``scores`` ``(B, S)`` (Viterbi, max over predecessors)."""
    n_phones, n_states = columns.shape
    new = np.empty((n_phones, n_states), dtype=np.float64)
    for t in range(scores.shape[0]):
        sc = scores[t]
        if first and t == 0:
            for p in range(n_phones):
                for j in range(n_states):
                    delta[p, j] = (entry if j == 0 else -np.inf) + scale * sc[columns[p, j]]
            continue
        best_exit = -np.inf
        for p in range(n_phones):
            for i in range(n_states):
                v = delta[p, i] + tmat[p, i, n_states]
                if v > best_exit:
                    best_exit = v
        for p in range(n_phones):
            for j in range(n_states):
                best = best_exit + entry if j == 0 else -np.inf
                for i in range(j + 1):
                    v = delta[p, i] + tmat[p, i, j]
                    if v > best:
                        best = v
                new[p, j] = best
        for p in range(n_phones):
            for j in range(n_states):
                delta[p, j] = new[p, j] + scale * sc[columns[p, j]]
    return delta


_loop_block = native.kernel(native.loop_forward, _loop_block_numba)  # C when built (lyricalign.native)


class PhoneLoopSearch:
    """The free loop's Viterbi score over a song fed block by block, like
    :class:`~lyricalign.align.hmm_viterbi.ViterbiSearch` (same blocks, same scale)."""

    def __init__(self, loop: PhoneLoop, scale: float = 1.0) -> None:
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a positive number, got {scale}")
        self.loop = loop
        self.scale = float(scale)
        self.n_frames = 0
        self._delta = np.full(loop.columns.shape, -np.inf)

    def feed(self, scores: np.ndarray) -> None:
        """Advance over ``scores`` ``(B, S)``: the next ``B`` frames' log-likelihood of every column."""
        scores = np.ascontiguousarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape[1] <= int(self.loop.columns.max()):
            raise ValueError(f"scores must be (B, S) with S > {int(self.loop.columns.max())}, got {scores.shape}")
        if len(scores) == 0:
            return
        _loop_block(self._delta, scores, self.scale, self.loop.columns, self.loop.log_transitions,
                    self.loop.entry_logp, self.n_frames == 0)
        self.n_frames += len(scores)

    def score(self) -> float:
        """Log score of the best loop path over the frames fed so far (it ends on a phone's exit)."""
        if self.n_frames == 0:
            raise ValueError("no frames fed")
        exits = self._delta + self.loop.log_transitions[:, :, -1]
        return float(exits.max())


def loop_score_reference(loop: PhoneLoop, scores: np.ndarray, scale: float = 1.0) -> float:
    """The same score by brute force over the expanded state space (the tests' oracle)."""
    p, e = loop.columns.shape
    n = p * e
    arcs = np.full((n, n), -np.inf)
    for a in range(p):
        for i in range(e):
            for j in range(e):
                arcs[a * e + i, a * e + j] = loop.log_transitions[a, i, j]
            for b in range(p):
                arcs[a * e + i, b * e] = max(arcs[a * e + i, b * e], loop.log_transitions[a, i, e] + loop.entry_logp)
    emit = scale * scores[:, loop.columns.reshape(-1)].astype(np.float64)
    delta = np.where(np.arange(n) % e == 0, loop.entry_logp, -np.inf) + emit[0]
    for t in range(1, len(scores)):
        delta = (delta[:, None] + arcs).max(axis=0) + emit[t]
    return float((delta + loop.log_transitions[:, :, -1].reshape(-1)).max())


class ForwardSearch(ViterbiSearch):
    """The best path score of an :class:`~lyricalign.align.hmm_viterbi.HMMGraph` over blocks of scores,
    without back-pointers (the null hypothesis needs no path): :class:`ViterbiSearch`'s own kernel and
    score, at a fraction of its memory."""

    def __init__(self, graph: HMMGraph, n_frames: int, scale: float = 1.0) -> None:
        super().__init__(graph, n_frames, scale, keep_path=False)
