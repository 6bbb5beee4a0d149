"""The HMM Viterbi kernel against brute force and against the dense reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lyricalign.align.hmm_viterbi import (
    HMMGraph,
    ViterbiSearch,
    path_score,
    viterbi,
    viterbi_reference,
)
from lyricalign.errors import AlignmentError


def random_graph(rng: np.random.Generator, n: int, n_columns: int) -> HMMGraph:
    """A random left-to-right graph: self-loops, next-state arcs and a few skips / merges."""
    arcs = []
    for s in range(n):
        arcs.append((s, s, float(np.log(rng.uniform(0.1, 0.9)))))
        for src in range(max(0, s - 3), s):
            if src == s - 1 or rng.random() < 0.4:
                arcs.append((src, s, float(np.log(rng.uniform(0.05, 0.9)))))
    initial = np.full(n, -np.inf)
    initial[0] = 0.0
    if n > 2 and rng.random() < 0.5:
        initial[1] = np.log(0.3)
    final = np.full(n, -np.inf)
    final[-1] = np.log(rng.uniform(0.1, 1.0))
    if n > 2:
        final[-2] = np.log(0.2)
    return HMMGraph.from_arcs(rng.integers(0, n_columns, n), arcs, initial, final)


def brute_force(graph: HMMGraph, scores: np.ndarray, scale: float) -> float:
    best = -np.inf
    for path in itertools.product(range(graph.n_states), repeat=scores.shape[0]):
        best = max(best, path_score(graph, scores, np.array(path), scale))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_viterbi_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, frames = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    graph = random_graph(rng, n, 3)
    scores = rng.normal(-5, 2, (frames, 3)).astype(np.float32)
    expected = brute_force(graph, scores, 0.5)
    if not np.isfinite(expected):
        with pytest.raises(AlignmentError):
            viterbi(graph, scores, 0.5)
        return
    result = viterbi(graph, scores, 0.5)
    assert result.score == pytest.approx(expected, abs=1e-6)
    assert path_score(graph, scores, result.states, 0.5) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_viterbi_equals_reference_on_larger_graphs(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    graph = random_graph(rng, 40, 7)
    scores = rng.normal(-5, 2, (300, 7)).astype(np.float32)
    fast, slow = viterbi(graph, scores, 0.2), viterbi_reference(graph, scores, 0.2)
    assert fast.score == pytest.approx(slow.score, abs=1e-6)
    np.testing.assert_array_equal(fast.states, slow.states)


def test_blocks_give_the_same_path_as_one_feed() -> None:
    rng = np.random.default_rng(7)
    graph = random_graph(rng, 60, 9)
    scores = rng.normal(-5, 2, (1000, 9)).astype(np.float32)
    whole = viterbi(graph, scores, 0.3)
    search = ViterbiSearch(graph, 1000, 0.3)
    for start in range(0, 1000, 137):
        search.feed(scores[start:start + 137])
    blocked = search.finish()
    np.testing.assert_array_equal(whole.states, blocked.states)
    assert blocked.score == whole.score


def test_planted_path_comes_back() -> None:
    """Each state emits its own column; scores favour a known segmentation strongly."""
    n = 6
    arcs = [(s, s, np.log(0.5)) for s in range(n)] + [(s - 1, s, np.log(0.5)) for s in range(1, n)]
    initial, final = np.full(n, -np.inf), np.full(n, -np.inf)
    initial[0], final[-1] = 0.0, 0.0
    graph = HMMGraph.from_arcs(np.arange(n), arcs, initial, final)
    planted = np.repeat(np.arange(n), [3, 5, 2, 7, 4, 6])
    scores = np.full((len(planted), n), -20.0, dtype=np.float32)
    scores[np.arange(len(planted)), planted] = 0.0
    np.testing.assert_array_equal(viterbi(graph, scores).states, planted)


def test_backpointers_take_a_bit_per_state_and_a_nibble_per_jump_target() -> None:
    arcs = [(s, s, 0.0) for s in range(20)] + [(s - 1, s, 0.0) for s in range(1, 20)]
    arcs += [(0, 5, 0.0), (1, 5, 0.0), (2, 9, 0.0)]  # two jump targets
    graph = HMMGraph.from_arcs([0] * 20, arcs, [0.0] + [-np.inf] * 19, [-np.inf] * 19 + [0.0])
    assert graph.n_states == 20 and int(graph.jump_start[-1]) == 3
    assert ViterbiSearch(graph, 1000).backpointer_bytes == 1000 * (3 + 1)  # ceil(20 / 8) + ceil(2 / 2)


def test_unreachable_end_is_an_alignment_error() -> None:
    n = 5
    arcs = [(s, s, 0.0) for s in range(n)] + [(s - 1, s, 0.0) for s in range(1, n)]
    graph = HMMGraph.from_arcs([0] * n, arcs, [0.0] + [-np.inf] * 4, [-np.inf] * 4 + [0.0])
    with pytest.raises(AlignmentError):
        viterbi(graph, np.zeros((3, 1), np.float32))  # 5 states cannot be visited in 3 frames


@pytest.mark.parametrize(
    "bad", [dict(jump_start=np.array([0, 1])), dict(jump_source=np.array([5], np.int32)), dict(final=np.full(2, -np.inf)),
            dict(next_logp=np.zeros(2))]
)
def test_malformed_graphs_are_refused(bad: dict) -> None:
    good = dict(emission=np.zeros(2, np.int32), self_logp=np.zeros(2), next_logp=np.array([-np.inf, 0.0]),
                jump_start=np.array([0, 0, 1], np.int32), jump_source=np.array([0], np.int32),
                jump_logp=np.zeros(1), initial=np.array([0.0, -np.inf]), final=np.array([-np.inf, 0.0]))
    HMMGraph(**good)
    with pytest.raises(ValueError):
        HMMGraph(**{**good, **bad})


def test_scores_shape_is_checked() -> None:
    graph = HMMGraph.from_arcs([0, 3], [(0, 0, 0.0), (0, 1, 0.0), (1, 1, 0.0)], [0.0, -np.inf], [-np.inf, 0.0])
    with pytest.raises(ValueError):
        viterbi(graph, np.zeros((4, 2), np.float32))  # column 3 missing
    with pytest.raises(ValueError):
        ViterbiSearch(graph, 3, scale=0.0)


def test_memory_stays_bounded_on_a_long_input() -> None:
    """A 10-minute song's worth of frames (60,000) over 3,000 states, fed in blocks: the search holds
    a bit per state per frame plus a nibble per jump target, far below one byte per state per frame."""
    import tracemalloc

    n, frames, block = 3000, 60_000, 4096
    arcs = [(s, s, np.log(0.6)) for s in range(n)] + [(s - 1, s, np.log(0.4)) for s in range(1, n)]
    arcs += [(s - 4, s, np.log(0.1)) for s in range(12, n, 12)]  # word junctions skipping a silence
    initial, final = np.full(n, -np.inf), np.full(n, -np.inf)
    initial[0], final[-1] = 0.0, 0.0
    graph = HMMGraph.from_arcs(np.arange(n) % 50, arcs, initial, final)
    rng = np.random.default_rng(0)
    blocks = [rng.normal(-5, 1, (min(block, frames - a), 50)).astype(np.float32) for a in range(0, frames, block)]
    viterbi(graph, blocks[0])  # load the compiled kernels before measuring
    tracemalloc.start()
    try:
        search = ViterbiSearch(graph, frames, 0.2)
        for scores in blocks:
            search.feed(scores)
        result = search.finish()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    expected = frames * ((n + 7) // 8 + (len(range(12, n, 12)) + 1) // 2)
    assert search.backpointer_bytes == expected
    assert peak < expected + 2 * frames * 4 + 1_000_000  # + the path and small per-block scratch
    assert peak < frames * n / 5  # one byte per cell would be 5x more
    assert result.states[0] == 0 and result.states[-1] == n - 1 and np.all(np.diff(result.states) >= 0)
