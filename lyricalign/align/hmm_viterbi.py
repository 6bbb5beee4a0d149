"""Exact Viterbi over an HMM graph with sparse arcs: emissions in, best state path out.

A small functional core in the style of ``torchaudio.functional.forced_align``, for the graphs
of :mod:`lyricalign.align.hmm_graph` (phone HMMs of the lyrics with optional silences):

* :class:`HMMGraph` -- states, each emitting one column of the score matrix, and the arcs into
  each state (CSR by destination, self-loops included) with their log-probabilities.
* :func:`viterbi` -- the best path, ``O(T * A)`` time for ``A`` arcs, accumulated in float64.
* :func:`viterbi_reference` -- an obviously-correct loop over the same graph, the tests' oracle.

No pruning: the search is exact over the whole song. Memory is what bounds that. Back-pointers
are packed per state into the fewest bits that index its incoming arcs: 1 bit for the phone
states (stay or advance: the bulk of the graph), 2-8 bits for the few word-entry states. A
3-minute song of 5,000 states keeps ~12 MB of back-pointers instead of 90 MB as uint8, a
20-minute song ~100 MB. The score matrix can be fed in blocks (:class:`ViterbiSearch`), so the
caller never holds all senone scores of a long song at once.

Accumulators are float64: float32 drifted 16 nats over a 19,534-frame song (measured), enough to
flip back-pointers between near-equal paths. Ties prefer the arc listed first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AlignmentError

from .. import native
from ..jit import njit

NEG_INF = -np.inf
MAX_JUMPS_PER_STATE = 15  # a jump back-pointer is a nibble (0: no jump)


_FIELD_DTYPES = {"emission": np.int32, "self_logp": np.float64, "next_logp": np.float64, "jump_start": np.int32,
                 "jump_source": np.int32, "jump_logp": np.float64, "initial": np.float64, "final": np.float64}


@dataclass(frozen=True)
class HMMGraph:
    """A left-to-right HMM as arrays: ``N`` states, each with a self-loop and an arc from the
    state before it, plus ``J`` "jumps" (any other arc: word junctions, optional silences).

    Attributes:
        emission: ``(N,)`` int32, the score column each state emits (``[0, S)``).
        self_logp: ``(N,)`` float64 log-probability of staying in the state (``-inf``: no loop).
        next_logp: ``(N,)`` float64 log-probability of the arc ``s - 1 -> s`` (``-inf``: none; always for 0).
        jump_start: ``(N + 1,)`` int32; the jumps into ``s`` are ``jump_start[s]:jump_start[s + 1]``.
        jump_source: ``(J,)`` int32, the state each jump leaves.
        jump_logp: ``(J,)`` float64.
        initial: ``(N,)`` float64 log-probability of starting in each state (``-inf``: never).
        final: ``(N,)`` float64 log-probability of ending in each state (``-inf``: never).
    """

    emission: np.ndarray
    self_logp: np.ndarray
    next_logp: np.ndarray
    jump_start: np.ndarray
    jump_source: np.ndarray
    jump_logp: np.ndarray
    initial: np.ndarray
    final: np.ndarray

    def __post_init__(self) -> None:
        for name, dtype in _FIELD_DTYPES.items():  # the kernels' types, once (a no-op for from_arcs' arrays)
            object.__setattr__(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        n = len(self.emission)
        if n == 0:
            raise ValueError("an HMM graph needs at least one state")
        if self.emission.ndim != 1 or int(self.emission.min()) < 0:
            raise ValueError("emission must be (N,) score columns >= 0")
        for name in ("self_logp", "next_logp", "initial", "final"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must be (N,) = ({n},)")
        if np.isfinite(self.next_logp[0]):
            raise ValueError("state 0 has no state before it: next_logp[0] must be -inf")
        native.check_jump_tables(n, self.jump_start, self.jump_source, self.jump_logp)
        if int(np.diff(self.jump_start).max()) > MAX_JUMPS_PER_STATE:
            raise ValueError(f"a state has more than {MAX_JUMPS_PER_STATE} incoming jumps")
        if not np.isfinite(self.initial).any() or not np.isfinite(self.final).any():
            raise ValueError("the graph needs a start state and a final state")

    @property
    def n_states(self) -> int:
        return len(self.emission)

    def arcs_into(self, s: int) -> list[tuple[int, float]]:
        """``(source, logp)`` of every arc into ``s``, in tie-breaking order: stay, advance, jumps."""
        arcs = [(s, float(self.self_logp[s]))] if np.isfinite(self.self_logp[s]) else []
        if s > 0 and np.isfinite(self.next_logp[s]):
            arcs.append((s - 1, float(self.next_logp[s])))
        lo, hi = self.jump_start[s], self.jump_start[s + 1]
        return arcs + [(int(a), float(b)) for a, b in zip(self.jump_source[lo:hi], self.jump_logp[lo:hi])]

    @classmethod
    def from_arcs(cls, emission, arcs, initial, final) -> "HMMGraph":
        """Build from ``arcs``: ``(source, destination, logp)`` triples (at most one self-loop and one
        ``s - 1 -> s`` arc per state; jumps keep their order per destination)."""
        emission = np.asarray(emission, dtype=np.int32)
        n = len(emission)
        self_logp, next_logp = np.full(n, NEG_INF), np.full(n, NEG_INF)
        jumps: list[tuple[int, int, float]] = []
        for src, dst, logp in arcs:
            if src == dst and not np.isfinite(self_logp[dst]):
                self_logp[dst] = logp
            elif src == dst - 1 and not np.isfinite(next_logp[dst]):
                next_logp[dst] = logp
            else:
                jumps.append((int(src), int(dst), float(logp)))
        jumps.sort(key=lambda j: j[1])  # stable: order kept per destination
        counts = np.bincount([j[1] for j in jumps], minlength=n) if jumps else np.zeros(n, np.int64)
        return cls(
            emission=emission, self_logp=self_logp, next_logp=next_logp,
            jump_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int32),
            jump_source=np.array([j[0] for j in jumps], dtype=np.int32),
            jump_logp=np.array([j[2] for j in jumps], dtype=np.float64),
            initial=np.asarray(initial, dtype=np.float64), final=np.asarray(final, dtype=np.float64),
        )


@dataclass(frozen=True)
class ViterbiResult:
    """The best path: ``states`` (T,) int32 and its total log score (emissions x scale + transitions)."""

    states: np.ndarray
    score: float


@dataclass(frozen=True)
class _Backpointers:
    """Per frame: one "advanced" bit per state, and a nibble per jump target (0: no jump, k: jump k-1)."""

    advanced: np.ndarray  # (T, ceil(N / 8)) uint8
    jumped: np.ndarray  # (T, ceil(M / 2)) uint8 for the M states with jumps
    jump_slot: np.ndarray  # (N,) int64: index among the M jump targets, -1 for the others

    @classmethod
    def allocate(cls, graph: HMMGraph, n_frames: int) -> "_Backpointers":
        targets = np.flatnonzero(np.diff(graph.jump_start) > 0)
        slot = np.full(graph.n_states, -1, dtype=np.int64)
        slot[targets] = np.arange(len(targets))
        return cls(
            advanced=np.zeros((n_frames, (graph.n_states + 7) // 8), dtype=np.uint8),
            jumped=np.zeros((n_frames, (len(targets) + 1) // 2), dtype=np.uint8),
            jump_slot=slot,
        )

    @property
    def nbytes(self) -> int:
        return int(self.advanced.nbytes + self.jumped.nbytes)


@njit(cache=True, nogil=True)
def _forward_block_numba(d, scores, scale, emission, self_logp, next_logp, jump_start, jump_source, jump_logp,
                         jump_targets, advanced, jumped, first, record):
    """Advance ``d`` over ``scores`` ``(B, S)``, writing the back-pointer rows of these frames.

    ``d`` is ``(N + 1,)``: ``d[0]`` a constant ``-inf`` sentinel, ``d[s + 1]`` state ``s``, so the
    stay/advance step needs no branch and vectorises; the few jump targets are fixed up after it.
    Without ``record`` no back-pointer is written (``advanced`` and ``jumped`` may be empty).
    """
    n = emission.shape[0]
    new = np.empty(n + 1, dtype=np.float64)
    new[0] = -np.inf
    d[0] = -np.inf  # the sentinel: state 0 has no state before it
    moved = np.zeros(n + 8, dtype=np.uint8)
    for t in range(scores.shape[0]):
        sc = scores[t]
        if first and t == 0:  # d holds the initial log-probabilities
            for s in range(n):
                d[s + 1] = d[s + 1] + scale * sc[emission[s]]
            continue
        for s in range(n):
            stay = d[s + 1] + self_logp[s]
            advance = d[s] + next_logp[s]
            better = advance > stay
            new[s + 1] = advance if better else stay
            moved[s] = better
        for m in range(jump_targets.shape[0]):
            s = jump_targets[m]
            best = new[s + 1]
            arg = 0
            for a in range(jump_start[s], jump_start[s + 1]):
                v = d[jump_source[a] + 1] + jump_logp[a]
                if v > best:
                    best = v
                    arg = a - jump_start[s] + 1
            new[s + 1] = best
            if record:
                jumped[t, m >> 1] |= np.uint8(arg << (4 * (m & 1)))
        if record:  # eight flags per byte, state 8 j + i in bit i of byte j
            bits = advanced[t]
            for j in range(bits.shape[0]):
                k = 8 * j
                bits[j] = (moved[k] | (moved[k + 1] << 1) | (moved[k + 2] << 2) | (moved[k + 3] << 3)
                           | (moved[k + 4] << 4) | (moved[k + 5] << 5) | (moved[k + 6] << 6) | (moved[k + 7] << 7))
        for s in range(n):
            d[s + 1] = new[s + 1] + scale * sc[emission[s]]
    return d


@njit(cache=True, nogil=True)
def _backtrace_numba(advanced, jumped, jump_slot, jump_start, jump_source, last):
    n_frames = advanced.shape[0]
    states = np.empty(n_frames, dtype=np.int32)
    s = last
    for t in range(n_frames - 1, -1, -1):
        states[t] = s
        if t == 0:
            break
        m = jump_slot[s]
        arg = (jumped[t, m >> 1] >> (4 * (m & 1))) & 15 if m >= 0 else 0
        if arg:
            s = jump_source[jump_start[s] + arg - 1]
        elif (advanced[t, s >> 3] >> (s & 7)) & 1:
            s = s - 1
    return states


# The C kernels when built (lyricalign.native: no numba start-up), else the numba ones above.
_forward_block = native.kernel(native.viterbi_forward, _forward_block_numba)
_backtrace = native.kernel(native.viterbi_backtrace, _backtrace_numba)


class ViterbiSearch:
    """One exact Viterbi pass fed with score blocks in order (the song need not fit in memory).

    Usage: ``search = ViterbiSearch(graph, n_frames, scale)``; ``search.feed(block)`` for each
    ``(B, S)`` block of scores (frames in order, ``sum(B) == n_frames``); ``search.finish()``.
    """

    def __init__(self, graph: HMMGraph, n_frames: int, scale: float = 1.0, keep_path: bool = True) -> None:
        """``keep_path=False``: the best score only (:meth:`score`), no back-pointers kept."""
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a positive number, got {scale}")
        self.graph = graph
        self.n_frames = n_frames
        self.scale = float(scale)
        self.keep_path = keep_path
        self._bp = _Backpointers.allocate(graph, n_frames if keep_path else 0)
        self._targets = np.flatnonzero(self._bp.jump_slot >= 0).astype(np.int64)
        self._d = np.concatenate([[NEG_INF], graph.initial]).astype(np.float64)
        self._frame = 0

    @property
    def backpointer_bytes(self) -> int:
        return self._bp.nbytes

    def feed(self, scores: np.ndarray) -> None:
        """Advance over ``scores`` ``(B, S)``: the next ``B`` frames' log-likelihood of every column."""
        scores = np.ascontiguousarray(scores, dtype=np.float32)
        if scores.ndim != 2 or scores.shape[1] <= int(self.graph.emission.max()):
            raise ValueError(f"scores must be (B, S) with S > {int(self.graph.emission.max())}, got {scores.shape}")
        stop = self._frame + scores.shape[0]
        if stop > self.n_frames:
            raise ValueError(f"fed {stop} frames to a search of {self.n_frames}")
        g = self.graph
        _forward_block(self._d, scores, self.scale, g.emission, g.self_logp, g.next_logp, g.jump_start,
                       g.jump_source, g.jump_logp, self._targets, self._bp.advanced[self._frame:stop],
                       self._bp.jumped[self._frame:stop], self._frame == 0, self.keep_path)
        self._frame = stop

    def score(self) -> float:
        """The best complete path's score (ending in a final state); ``-inf`` if none reaches one."""
        if self._frame != self.n_frames:
            raise ValueError(f"fed {self._frame} of {self.n_frames} frames")
        return float(np.max(self._d[1:] + self.graph.final))

    def finish(self) -> ViterbiResult:
        """The best path ending in a final state. Raises AlignmentError when no path reaches one."""
        if self._frame != self.n_frames:
            raise ValueError(f"fed {self._frame} of {self.n_frames} frames")
        if not self.keep_path:
            raise ValueError("this search keeps no path (keep_path=False): use score()")
        ending = self._d[1:] + self.graph.final
        last = int(np.argmax(ending))
        if not np.isfinite(ending[last]):
            raise AlignmentError("no state path reaches the end of the lyrics (audio too short for the lyrics?)")
        g = self.graph
        states = _backtrace(self._bp.advanced, self._bp.jumped, self._bp.jump_slot, g.jump_start, g.jump_source, last)
        return ViterbiResult(states=states, score=float(ending[last]))


def viterbi(graph: HMMGraph, scores: np.ndarray, scale: float = 1.0) -> ViterbiResult:
    """Best path of ``graph`` through ``scores`` ``(T, S)`` log-likelihoods, weighted by ``scale``."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] < 1:
        raise ValueError(f"scores must be (T, S) with T >= 1, got {scores.shape}")
    search = ViterbiSearch(graph, scores.shape[0], scale)
    search.feed(scores)
    return search.finish()


def path_score(graph: HMMGraph, scores: np.ndarray, states: np.ndarray, scale: float = 1.0) -> float:
    """Total log score of a given state path (``-inf`` if it uses a missing arc)."""
    total = graph.initial[states[0]] + graph.final[states[-1]]
    total += scale * float(np.sum(scores[np.arange(len(states)), graph.emission[states]], dtype=np.float64))
    for t in range(1, len(states)):
        logps = [logp for src, logp in graph.arcs_into(int(states[t])) if src == states[t - 1]]
        if not logps:
            return NEG_INF
        total += max(logps)
    return float(total)


def viterbi_reference(graph: HMMGraph, scores: np.ndarray, scale: float = 1.0) -> ViterbiResult:
    """The same search as plain loops over :meth:`HMMGraph.arcs_into`: the tests' oracle.

    Ties prefer the arc listed first (stay, advance, then jumps in order), as the kernel does.
    """
    n_frames, n = scores.shape[0], graph.n_states
    arcs = [graph.arcs_into(s) for s in range(n)]
    delta = graph.initial + scale * scores[0, graph.emission].astype(np.float64)
    back = np.zeros((n_frames, n), dtype=np.int64)
    for t in range(1, n_frames):
        new = np.full(n, NEG_INF)
        for s in range(n):
            for src, logp in arcs[s]:
                if delta[src] + logp > new[s]:
                    new[s], back[t, s] = delta[src] + logp, src
        delta = new + scale * scores[t, graph.emission].astype(np.float64)
    ending = delta + graph.final
    s = int(np.argmax(ending))
    if not np.isfinite(ending[s]):
        raise AlignmentError("no state path reaches the end")
    best, states = float(ending[s]), [s]
    for t in range(n_frames - 1, 0, -1):
        s = int(back[t, s])
        states.append(s)
    return ViterbiResult(states=np.array(states[::-1], dtype=np.int32), score=best)
