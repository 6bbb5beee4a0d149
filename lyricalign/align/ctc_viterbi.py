"""CTC forced alignment: the best path of a target sequence through frame posteriors.

A small functional core in the style of ``torchaudio.functional.forced_align`` (which cannot be
loaded here), in plain numpy:

* :func:`forced_align` -- Viterbi over the blank-extended target sequence, ``O(T * S)`` time and
  about ``3 * T * S / 8`` bytes of backpointers (bit-planes).
* :func:`token_spans` -- the frames each target token occupies on that path, with a score.
* :func:`append_wildcard` -- an extra "<star>" class that can absorb non-lexical audio.
* :func:`ctc_viterbi_reference` -- an obviously-correct loop implementation, the tests' oracle.

Notation: ``T`` frames, ``C`` classes, ``S`` targets, ``L = 2S + 1`` states of the extended
sequence ``[blank, t0, blank, t1, ..., blank, t_{S-1}, blank]``; state ``2i + 1`` emits
``targets[i]``, even states emit ``blank``. A CTC path moves, from one frame to the next, from
state ``s`` to ``s`` (stay), ``s + 1`` (advance) or ``s + 2`` (skip a blank; only into a token
state whose token differs from the previous token, so repeated tokens need a blank between them).
It starts in state 0 or 1 and ends in state ``L - 1`` or ``L - 2``.

Ties are broken deterministically, identically in both kernels: a state prefers staying, then
coming from ``s - 1``, then from ``s - 2``; the final state prefers the trailing blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import AlignmentError
from ..progress import report_progress

#: Frames whose emissions are gathered (``(chunk, L)`` float64) and whose backpointers are packed in
#: one go by :func:`forced_align`. 64 frames x 10,001 states x 9 bytes = 6 MB: amortises numpy's
#: per-call overhead and stays small.
EMISSION_CHUNK_FRAMES = 64
#: The forward pass reports its progress (:func:`lyricalign.progress.report_progress`) about every
#: this many frames (10 s of audio at 50 frames/s): a few hundred reports for a long song.
PROGRESS_EVERY_FRAMES = 512

__all__ = [
    "TokenSpan",
    "append_wildcard",
    "ctc_viterbi_reference",
    "forced_align",
    "min_frames",
    "path_log_prob",
    "token_spans",
]


@dataclass(frozen=True)
class TokenSpan:
    """The frames one target token occupies on an alignment path."""

    index: int  # position in targets
    token: int  # class id
    start: int  # first frame (inclusive)
    end: int  # last frame + 1 (exclusive)
    score: float  # mean posterior (exp log-prob) of the token over its frames, in [0, 1]


def forced_align(log_probs: np.ndarray, targets: Sequence[int] | np.ndarray, blank: int = 0) -> np.ndarray:
    """Best CTC path. log_probs (T, C) float (log-softmax); targets (S,) ints in [0, C), none == blank, S >= 1.

    Returns path (T,) int32: for each frame the state index in the blank-extended sequence
    [blank, t0, blank, t1, ..., blank, t_{S-1}, blank] (length 2S+1); state 2i+1 emits targets[i].

    Raises ValueError for malformed inputs and :class:`AlignmentError` when ``T`` is shorter than
    the path needs or every path has probability zero.

    Implementation: one vectorised max-plus step per frame over all ``L`` states. Scores are
    accumulated in float64: a 10-minute song sums 30,000 frames of log-probabilities of order -10,
    reaching -3e5, where float32's spacing (0.03) is as large as real differences between competing
    paths, so float32 would let rounding pick the backpointers. The step is memory-bound, so float64
    costs little. Backpointers are packed bit-planes per frame: "moved" (came from ``s - 1`` or
    ``s - 2``) for all ``2S + 1`` states and "skipped" (came from ``s - 2``) for the ``S`` token
    states only, since blank states cannot skip -- 1.5 bits per cell: 17 MB for T=15,000, S=3,000
    and 56 MB for T=30,000, S=5,000, instead of 90 MB and 300 MB as int8 per cell.
    """
    lp, tgt = _validated(log_probs, targets, blank)
    _check_length(lp.shape[0], tgt)
    alpha, moved_bits, skipped_bits = _forward(lp, tgt, blank)
    last = len(alpha) - 1 if alpha[-1] >= alpha[-2] else len(alpha) - 2
    if not np.isfinite(alpha[last]):
        raise AlignmentError(f"cannot align {len(tgt)} tokens: every CTC path has probability zero")
    return _backtrack(moved_bits, skipped_bits, last)


def _forward(lp: np.ndarray, tgt: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max-plus recursion. Returns the final scores ``(L,)`` float64 and the backpointer planes
    ``moved (T, ceil(L/8))`` and ``skipped (T, ceil(S/8))`` uint8 (row 0 unused)."""
    n_frames = lp.shape[0]
    ext = _extended(tgt, blank)
    n_states = len(ext)
    # Token states 3, 5, ..., L-2 may be entered from s-2 unless they repeat the previous token.
    skip_penalty = np.where(_skip_allowed(ext, blank)[3::2], 0.0, -np.inf)  # (S-1,)

    moved_bits = np.zeros((n_frames, (n_states + 7) // 8), dtype=np.uint8)  # state s came from s-1 or s-2
    skipped_bits = np.zeros((n_frames, (len(tgt) + 7) // 8), dtype=np.uint8)  # token i (state 2i+1) from s-2
    alpha = np.full(n_states, -np.inf)
    alpha[0] = lp[0, blank]
    alpha[1] = lp[0, tgt[0]]
    best = np.empty(n_states)
    from_skip = np.empty(len(tgt) - 1)
    # Unpacked flags of one chunk of frames, packed once per chunk; column 0 stays False
    # (state 0 cannot move, token 0 cannot skip).
    moved = np.zeros((EMISSION_CHUNK_FRAMES, n_states), dtype=bool)
    skipped = np.zeros((EMISSION_CHUNK_FRAMES, len(tgt)), dtype=bool)  # by token index

    report_progress("viterbi", 0.0)
    for chunk_start in range(1, n_frames, EMISSION_CHUNK_FRAMES):
        chunk_end = min(n_frames, chunk_start + EMISSION_CHUNK_FRAMES)
        if chunk_start % PROGRESS_EVERY_FRAMES < EMISSION_CHUNK_FRAMES:
            report_progress("viterbi", chunk_start / n_frames)
        emissions = lp[chunk_start:chunk_end].take(ext, axis=1).astype(np.float64)  # (chunk, L)
        for offset, emission in enumerate(emissions):
            # Strict comparisons implement the tie order: stay, then s-1, then s-2.
            best[0] = alpha[0]
            np.greater(alpha[:-1], alpha[1:], out=moved[offset, 1:])
            np.maximum(alpha[:-1], alpha[1:], out=best[1:])
            np.add(alpha[1:-2:2], skip_penalty, out=from_skip)
            np.greater(from_skip, best[3::2], out=skipped[offset, 1:])
            np.maximum(from_skip, best[3::2], out=best[3::2])
            np.add(best, emission, out=alpha)
        n_chunk = chunk_end - chunk_start
        moved_bits[chunk_start:chunk_end] = np.packbits(moved[:n_chunk], axis=1)
        skipped_bits[chunk_start:chunk_end] = np.packbits(skipped[:n_chunk], axis=1)
    report_progress("viterbi", 1.0)
    return alpha, moved_bits, skipped_bits


def _backtrack(moved_bits: np.ndarray, skipped_bits: np.ndarray, last: int) -> np.ndarray:
    """Follow the packed backpointers -- ``(T, ceil(L/8))`` per state and ``(T, ceil(S/8))`` per
    token -- from state ``last`` at frame ``T - 1``. np.packbits is big-endian within a byte."""
    n_frames = moved_bits.shape[0]
    path = np.empty(n_frames, dtype=np.int32)
    state = last
    path[-1] = state
    for t in range(n_frames - 1, 0, -1):
        token = state >> 1
        if state & 1 and (skipped_bits[t, token >> 3] >> (7 - (token & 7))) & 1:
            state -= 2
        elif (moved_bits[t, state >> 3] >> (7 - (state & 7))) & 1:
            state -= 1
        path[t - 1] = state
    return path


def ctc_viterbi_reference(
    log_probs: np.ndarray, targets: Sequence[int] | np.ndarray, blank: int = 0
) -> np.ndarray:
    """Same contract and tie-breaking as :func:`forced_align`, as plain loops (full int backpointers).

    ``O(T * S)`` Python steps: for tests and as a readable statement of the recursion only.
    """
    lp, tgt = _validated(log_probs, targets, blank)
    n_frames = lp.shape[0]
    _check_length(n_frames, tgt)
    ext = _extended(tgt, blank)
    n_states = len(ext)
    allowed_skip = _skip_allowed(ext, blank)

    score = [[-np.inf] * n_states for _ in range(n_frames)]
    back = [[0] * n_states for _ in range(n_frames)]
    score[0][0] = float(lp[0, blank])
    score[0][1] = float(lp[0, tgt[0]])
    for t in range(1, n_frames):
        for s in range(n_states):
            best, origin = score[t - 1][s], s
            if s >= 1 and score[t - 1][s - 1] > best:
                best, origin = score[t - 1][s - 1], s - 1
            if allowed_skip[s] and score[t - 1][s - 2] > best:
                best, origin = score[t - 1][s - 2], s - 2
            score[t][s] = best + float(lp[t, ext[s]])
            back[t][s] = origin

    state = n_states - 1 if score[-1][-1] >= score[-1][-2] else n_states - 2
    if score[-1][state] == -np.inf:
        raise AlignmentError(f"cannot align {len(tgt)} tokens: every CTC path has probability zero")
    path = [state]
    for t in range(n_frames - 1, 0, -1):
        state = back[t][state]
        path.append(state)
    return np.array(path[::-1], dtype=np.int32)


def path_log_prob(
    log_probs: np.ndarray, targets: Sequence[int] | np.ndarray, path: np.ndarray, blank: int = 0
) -> float:
    """Log-probability of ``path`` (T,) (states of the extended sequence): sum of its emissions."""
    ext = _extended(np.asarray(targets, dtype=np.int64), blank)
    lp = np.asarray(log_probs, dtype=np.float64)
    return float(lp[np.arange(len(path)), ext[np.asarray(path)]].sum())


def token_spans(path: np.ndarray, log_probs: np.ndarray, targets: Sequence[int] | np.ndarray) -> list[TokenSpan]:
    """Exactly S spans, one per target token, in order (each token is emitted for >= 1 frame on a CTC path).

    ``path`` (T,) is a result of :func:`forced_align` for these ``log_probs`` (T, C) and ``targets`` (S,).
    """
    path = np.asarray(path)
    tgt = np.asarray(targets, dtype=np.int64).reshape(-1)
    lp = np.asarray(log_probs)
    if path.ndim != 1 or lp.ndim != 2 or path.shape[0] != lp.shape[0]:
        raise ValueError(f"path must have shape (T,) for log_probs of shape (T, C), got {path.shape} and {lp.shape}")
    frames = np.flatnonzero(path % 2 == 1)  # frames spent in token states
    states = path[frames]
    starts = np.flatnonzero(np.diff(states, prepend=-1) != 0)  # first frame of each run
    run_states = states[starts]
    if len(run_states) != len(tgt) or not np.array_equal(run_states, 2 * np.arange(len(tgt)) + 1):
        raise ValueError("path is not a CTC path for these targets: each token state must occur once, in order")
    ends = np.concatenate((starts[1:], [len(frames)]))
    posteriors = np.exp(lp[frames, tgt[(states - 1) // 2]].astype(np.float64))
    sums = np.add.reduceat(posteriors, starts)
    return [
        TokenSpan(
            index=i,
            token=int(tgt[i]),
            start=int(frames[a]),
            end=int(frames[b - 1]) + 1,
            score=float(min(1.0, sums[i] / (b - a))),
        )
        for i, (a, b) in enumerate(zip(starts, ends))
    ]


def append_wildcard(log_probs: np.ndarray, log_prob: float | np.ndarray) -> np.ndarray:
    """(T, C) -> (T, C+1): a <star> class whose per-frame log-probability is `log_prob` (a constant or a (T,) array).

    Placing the star id ``C`` in ``targets`` between words lets instrumental breaks and non-lexical
    singing ("ooh", ad-libs, backing vocals) be absorbed by the star instead of dragging the
    neighbouring words over them: without it the only way to cover a long break is blank or
    stretching a word, and a word-shaped region of noise can score better than the true word later.

    Trade-off of the star's level: it competes with every class on every frame. Too high (near the
    typical peak posterior, e.g. ``log 0.5``) and it swallows weakly recognised sung words, which
    then shrink to their minimum frames at the break's edge; too low (below what the model gives
    non-vocal frames, e.g. ``log 1e-6``) and it never wins, so nothing changes. A level between the
    model's confidence on sung words and on instrumental frames (``log 0.01``-``log 0.1`` for
    sharp CTC models) works; a per-frame array lets callers derive it from the frame's own
    posteriors. The star is an ordinary token for :func:`forced_align`, so each one occupies at
    least one frame (20 ms at 50 frames/s) and adds one to the minimum length; two stars in a row
    need a blank between them, so place at most one per gap.

    The result is not renormalised: the extra class makes rows sum to more than one, which the
    Viterbi search does not need.
    """
    lp = np.asarray(log_probs)
    if lp.ndim != 2:
        raise ValueError(f"log_probs must be a 2-D array (T, C), got shape {lp.shape}")
    star = np.asarray(log_prob, dtype=lp.dtype)
    if star.shape not in ((), (lp.shape[0],)):
        raise ValueError(f"log_prob must be a scalar or have shape ({lp.shape[0]},), got shape {star.shape}")
    column = np.broadcast_to(star, (lp.shape[0],))
    if np.isnan(column).any():
        raise ValueError("log_prob must not contain NaN")
    return np.concatenate([lp, column[:, None]], axis=1)


def min_frames(targets: Sequence[int] | np.ndarray) -> int:
    """Fewest frames a CTC path for ``targets`` needs: one per token plus a blank between repeats."""
    tgt = np.asarray(targets).reshape(-1)
    return int(len(tgt) + np.count_nonzero(tgt[1:] == tgt[:-1]))


def _validated(log_probs: np.ndarray, targets: Sequence[int] | np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, dtypes and ranges; return ``(log_probs (T, C), targets (S,) int64)``."""
    lp = np.asarray(log_probs)
    if lp.ndim != 2:
        raise ValueError(f"log_probs must be a 2-D array (T, C), got shape {lp.shape}")
    if not np.issubdtype(lp.dtype, np.floating):
        raise ValueError(f"log_probs must be floating point, got dtype {lp.dtype}")
    n_frames, n_classes = lp.shape
    if n_frames == 0 or n_classes < 2:
        raise ValueError(f"log_probs must have T >= 1 frames and C >= 2 classes, got shape {lp.shape}")
    if np.isnan(lp).any() or np.isposinf(lp).any():
        raise ValueError("log_probs must not contain NaN or +inf")
    raw = np.asarray(targets)
    if raw.ndim != 1:
        raise ValueError(f"targets must be a 1-D sequence of class ids, got shape {raw.shape}")
    if raw.size == 0:
        raise ValueError("targets must not be empty")
    if not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"targets must be integers, got dtype {raw.dtype}")
    if not 0 <= blank < n_classes:
        raise ValueError(f"blank must be in [0, {n_classes}), got {blank}")
    tgt = raw.astype(np.int64)
    bad = np.flatnonzero((tgt < 0) | (tgt >= n_classes))
    if bad.size:
        raise ValueError(f"targets must be in [0, {n_classes}), got {tgt[bad[0]]} at position {bad[0]}")
    blanks = np.flatnonzero(tgt == blank)
    if blanks.size:
        raise ValueError(f"targets must not contain the blank id {blank}, found at position {blanks[0]}")
    return lp, tgt


def _check_length(n_frames: int, targets: np.ndarray) -> None:
    needed = min_frames(targets)
    if n_frames < needed:
        raise AlignmentError(
            f"cannot align {len(targets)} tokens to {n_frames} frames: need at least {needed} frames"
        )


def _extended(targets: np.ndarray, blank: int) -> np.ndarray:
    """(S,) -> (2S+1,): ``[blank, t0, blank, t1, ..., blank]``."""
    ext = np.full(2 * len(targets) + 1, blank, dtype=np.int64)
    ext[1::2] = targets
    return ext


def _skip_allowed(ext: np.ndarray, blank: int) -> np.ndarray:
    """(L,) bool: state ``s`` may be entered from ``s - 2`` (a token differing from the previous token)."""
    allowed = np.zeros(len(ext), dtype=bool)
    allowed[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    return allowed
