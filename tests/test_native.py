"""The C kernels (lyricalign/_kernels.c via lyricalign.native) against their numba twins, and the start-up they buy.

The numba kernels are the fallback and the reference; the C ones must give the same results on the
same inputs: bit for bit (the same operations in the same order, no fused multiply-adds).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from lyricalign import native
from lyricalign.acoustic import noise_removal, path_kernel, s3_checksum
from lyricalign.align import forward, hmm_viterbi
from lyricalign.align.hmm_viterbi import ViterbiSearch, _Backpointers
from test_hmm_viterbi import random_graph

pytestmark = pytest.mark.skipif(native.LIBRARY is None, reason="the C kernels are not built (no compiler)")


def _forward_inputs(rng: np.random.Generator, n_states: int, n_frames: int, record: bool):
    graph = random_graph(rng, n_states, 11)
    bp = _Backpointers.allocate(graph, n_frames if record else 0)
    targets = np.flatnonzero(bp.jump_slot >= 0).astype(np.int64)
    scores = rng.normal(size=(n_frames, 11)).astype(np.float32)
    d = np.concatenate([[-np.inf], graph.initial])
    return graph, bp, targets, scores, d


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("record", [True, False])
def test_viterbi_forward_equals_numba_bit_for_bit(seed: int, record: bool) -> None:
    rng = np.random.default_rng(seed)
    graph, bp_c, targets, scores, d_c = _forward_inputs(rng, 37 + seed, 50, record)
    bp_n, d_n = _Backpointers.allocate(graph, 50 if record else 0), d_c.copy()
    for fn, d, bp in ((native.viterbi_forward, d_c, bp_c), (hmm_viterbi._forward_block_numba, d_n, bp_n)):
        for start, stop, first in ((0, 20, True), (20, 50, False)):  # two blocks, as a search feeds them
            fn(d, scores[start:stop], 0.2, graph.emission, graph.self_logp, graph.next_logp, graph.jump_start,
               graph.jump_source, graph.jump_logp, targets, bp.advanced[start:stop], bp.jumped[start:stop], first,
               record)
    np.testing.assert_array_equal(d_c, d_n)
    np.testing.assert_array_equal(bp_c.advanced, bp_n.advanced)
    np.testing.assert_array_equal(bp_c.jumped, bp_n.jumped)
    if record:
        last = int(np.argmax(d_c[1:] + graph.final))
        args = (bp_c.advanced, bp_c.jumped, bp_c.jump_slot, graph.jump_start, graph.jump_source, last)
        np.testing.assert_array_equal(native.viterbi_backtrace(*args), hmm_viterbi._backtrace_numba(*args))


def test_the_search_uses_the_c_kernel_and_finds_the_reference_path() -> None:
    assert hmm_viterbi._forward_block is native.viterbi_forward
    rng = np.random.default_rng(9)
    graph = random_graph(rng, 30, 5)
    scores = rng.normal(size=(40, 5)).astype(np.float32)
    search = ViterbiSearch(graph, 40, 0.5)
    search.feed(scores[:13])
    search.feed(scores[13:])
    found, expected = search.finish(), hmm_viterbi.viterbi_reference(graph, scores, 0.5)
    np.testing.assert_array_equal(found.states, expected.states)
    assert found.score == pytest.approx(expected.score, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_loop_forward_equals_numba_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_phones, n_states = 5, 3
    columns = rng.integers(0, 8, (n_phones, n_states)).astype(np.int64)
    tmat = np.log(rng.uniform(0.01, 1, (n_phones, n_states, n_states + 1)))
    scores = rng.normal(size=(30, 8)).astype(np.float32)
    results = []
    for fn in (native.loop_forward, forward._loop_block_numba):
        delta = np.full((n_phones, n_states), -np.inf)
        fn(delta, scores[:10], 0.2, columns, tmat, np.log(0.2), True)
        fn(delta, scores[10:], 0.2, columns, tmat, np.log(0.2), False)
        results.append(delta)
    np.testing.assert_array_equal(*results)


def _both_noise_trackers(mel: np.ndarray) -> list[list[np.ndarray]]:
    """The C and the numba trackers' states and outputs after ``mel`` (each from fe_noise.c's first frame)."""
    outputs = []
    for fn in (noise_removal._track_c, noise_removal._track_numba):
        states = [mel[0].copy(), mel[0] / 20, mel[0] / 20, np.zeros(mel.shape[1])]
        out = [np.empty(mel.shape) for _ in range(4)]
        fn(mel, *states, *out)
        outputs.append(states + out)
    return outputs


def test_noise_trackers_equal_numba_bit_for_bit() -> None:
    mel = np.random.default_rng(3).gamma(2.0, 1e4, (200, 25))
    for c_array, numba_array in zip(*_both_noise_trackers(mel)):
        np.testing.assert_array_equal(c_array, numba_array)


@pytest.mark.parametrize("statistics", [True, False])
def test_path_mixtures_equal_numba(statistics: bool) -> None:
    rng = np.random.default_rng(5)
    books, streams, dens, dim, senones, frames = 4, 3, 8, 5, 10, 60
    x = rng.normal(size=(frames, streams, dim))
    mu = rng.normal(size=(books, streams, dens, dim))
    precision = rng.uniform(0.5, 2.0, mu.shape)
    log_norm = rng.normal(size=mu.shape[:3])
    log_weights = np.log(rng.dirichlet(np.ones(dens), size=(senones, streams)))
    senone_ids = rng.integers(0, senones, frames).astype(np.int64)
    book_ids = rng.integers(0, books, frames).astype(np.int64)
    shape = mu.shape[:3] if statistics else (0, 0, 0)
    results = []
    for fn in (native.path_mixtures, path_kernel._kernel_numba):
        ll, count, total = np.empty(frames), np.zeros(shape), np.zeros((*shape, dim) if statistics else (0,) * 4)
        fn(x, book_ids, senone_ids, mu, precision, log_norm, log_weights, statistics, ll, count, total)
        results.append((ll, count, total))
    for c_array, numba_array in zip(*results):
        np.testing.assert_allclose(c_array, numba_array, rtol=1e-12, atol=1e-12)


def test_s3_checksum_equals_the_reference() -> None:
    words = np.random.default_rng(1).integers(-2**31, 2**31, 5000).astype(np.int32)
    assert s3_checksum.checksum(words) == s3_checksum.checksum_reference(words)
    assert native.s3_checksum(words.view(np.uint32)) == int(s3_checksum._kernel_numba(words.view(np.uint32)))


def test_wrong_arrays_are_refused_before_c_reads_them() -> None:
    rng = np.random.default_rng(0)
    graph, bp, targets, scores, d = _forward_inputs(rng, 20, 10, True)
    args = [d, scores, 1.0, graph.emission, graph.self_logp, graph.next_logp, graph.jump_start, graph.jump_source,
            graph.jump_logp, targets, bp.advanced, bp.jumped, True, True]
    for index, bad, error in ((1, scores.astype(np.float64), TypeError),  # scores must be float32
                              (1, np.asfortranarray(np.tile(scores, (1, 2))), TypeError),
                              (3, graph.emission + 100, ValueError),  # columns outside the scores
                              (0, d[:-1].copy(), ValueError),
                              (10, bp.advanced[:5], ValueError)):
        wrong = list(args)
        wrong[index] = bad
        with pytest.raises(error):
            native.viterbi_forward(*wrong)
    with pytest.raises(ValueError, match="books"):
        x = np.zeros((2, 1, 1))
        native.path_mixtures(x, np.array([0, 7]), np.zeros(2, np.int64), np.zeros((1, 1, 1, 1)),
                             np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), False, np.empty(2),
                             np.zeros((0, 0, 0)), np.zeros((0, 0, 0, 0)))


def _python(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True,
                         env={**os.environ, **env})
    return out.stdout.strip()


def test_the_engine_loads_and_aligns_without_importing_numba() -> None:
    """The point of the C kernels: a CLI run never pays numba's start-up."""
    code = ("import sys, numpy as np; from lyricalign.align.hmm_viterbi import HMMGraph, viterbi;"
            "import lyricalign.engines.hmm, lyricalign.acoustic.frontend, lyricalign.acoustic.adaptation;"
            "g = HMMGraph.from_arcs([0, 1], [(0, 0, -0.1), (0, 1, -1.0), (1, 1, -0.1)], [0, -np.inf], [-np.inf, 0]);"
            "r = viterbi(g, np.array([[0, -5], [0, -5], [-5, 0]], np.float32));"
            "print(r.states.tolist(), 'numba' in sys.modules)")
    assert _python(code) == "[0, 0, 1] False"


def test_lyricalign_kernels_numba_selects_the_numba_kernels() -> None:
    code = ("import sys; from lyricalign.align import hmm_viterbi as h;"
            "print(h._forward_block is h._forward_block_numba)")
    assert _python(code, LYRICALIGN_KERNELS="numba") == "True"
    assert _python(code, LYRICALIGN_KERNELS="") == "False"


def test_hostile_jump_tables_and_back_pointers_are_refused_not_followed() -> None:
    rng = np.random.default_rng(2)
    graph, bp, targets, scores, d = _forward_inputs(rng, 20, 10, True)
    base = dict(d=d, scores=scores, scale=1.0, emission=graph.emission, self_logp=graph.self_logp,
                next_logp=graph.next_logp, jump_start=graph.jump_start, jump_source=graph.jump_source,
                jump_logp=graph.jump_logp, jump_targets=targets, advanced=bp.advanced, jumped=bp.jumped, first=True,
                record=True)
    far = graph.jump_source.copy()
    far[0] = 2**30
    bad_start = graph.jump_start.copy()
    bad_start[5] = 2**30
    for change in ({"jump_source": far}, {"jump_start": bad_start}, {"jump_logp": graph.jump_logp[:0]},
                   {"self_logp": np.zeros((20, 0))}):
        with pytest.raises(ValueError):
            native.viterbi_forward(**{**base, **change})
    native.viterbi_forward(**base)
    corrupt = np.full_like(bp.jumped, 0xFF)  # every jump target "took" jump 15, which no state has
    with pytest.raises(ValueError, match="outside the graph"):
        native.viterbi_backtrace(bp.advanced, corrupt, bp.jump_slot, graph.jump_start, graph.jump_source,
                                 int(targets[-1]))  # a jump target: its nibble is read on the first step back
    slots = bp.jump_slot.copy()
    slots[3] = 2**40
    with pytest.raises(ValueError, match="jump_slot"):
        native.viterbi_backtrace(bp.advanced, bp.jumped, slots, graph.jump_start, graph.jump_source, 19)


def test_noise_trackers_treat_nan_as_numba_does() -> None:
    mel = np.random.default_rng(4).gamma(2.0, 1e4, (20, 25))
    mel[5:8, 3] = np.nan
    for c_array, numba_array in zip(*_both_noise_trackers(mel)):
        np.testing.assert_array_equal(c_array, numba_array)  # NaN where numba has NaN
