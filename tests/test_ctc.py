"""CTC forced alignment: optimality against brute force, agreement with the loop reference, memory."""

from __future__ import annotations

import math
import re
import tracemalloc

import numpy as np
import pytest

from lyricalign.align.ctc_viterbi import (
    TokenSpan,
    append_wildcard,
    ctc_viterbi_reference,
    forced_align,
    min_frames,
    path_log_prob,
    token_spans,
)
from lyricalign.errors import AlignmentError


def log_softmax(logits: np.ndarray) -> np.ndarray:
    return logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)


def random_log_probs(rng: np.random.Generator, n_frames: int, n_classes: int, dtype=np.float64) -> np.ndarray:
    return log_softmax(rng.normal(scale=2.0, size=(n_frames, n_classes))).astype(dtype)


def brute_force_best(log_probs: np.ndarray, targets: list[int], blank: int) -> float:
    """Max over every label sequence (T,) that collapses to ``targets`` (merge repeats, drop blanks).

    Enumerates frame labels directly -- independent of the extended-state formulation under test --
    pruning prefixes whose collapse is not a prefix of ``targets``. -inf when no sequence exists.
    """
    n_frames, n_classes = log_probs.shape
    best = -math.inf

    def extend(t: int, previous: int, emitted: int, score: float) -> None:
        nonlocal best
        if t == n_frames:
            if emitted == len(targets):
                best = max(best, score)
            return
        for label in range(n_classes):
            if label == blank or label == previous:  # blank, or merges into the previous token
                extend(t + 1, label, emitted, score + log_probs[t, label])
            elif emitted < len(targets) and label == targets[emitted]:
                extend(t + 1, label, emitted + 1, score + log_probs[t, label])

    extend(0, blank, 0, 0.0)
    return best


def collapse(labels: np.ndarray, blank: int) -> list[int]:
    out: list[int] = []
    previous = blank
    for label in labels.tolist():
        if label != blank and label != previous:
            out.append(label)
        previous = label
    return out


def path_labels(path: np.ndarray, targets, blank: int) -> np.ndarray:
    ext = np.full(2 * len(targets) + 1, blank)
    ext[1::2] = targets
    return ext[path]


def assert_valid_path(path: np.ndarray, targets, blank: int) -> None:
    n_states = 2 * len(targets) + 1
    assert path.dtype == np.int32
    assert path[0] in (0, 1) and path[-1] in (n_states - 1, n_states - 2)
    steps = np.diff(path)
    assert np.all((steps >= 0) & (steps <= 2))
    assert collapse(path_labels(path, targets, blank), blank) == list(targets)


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_score_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    checked = impossible = 0
    for _ in range(60):
        n_frames, n_classes = int(rng.integers(1, 9)), int(rng.integers(2, 5))
        blank = int(rng.integers(0, n_classes))
        labels = [c for c in range(n_classes) if c != blank]
        n_targets = int(rng.integers(1, 4))
        targets = [labels[int(i)] for i in rng.integers(0, len(labels), size=n_targets)]
        if rng.random() < 0.25:  # force a repeated consecutive token
            targets = [targets[0]] * max(2, n_targets)
        log_probs = random_log_probs(rng, n_frames, n_classes)

        expected = brute_force_best(log_probs, targets, blank)
        if expected == -math.inf:
            with pytest.raises(AlignmentError, match="need at least"):
                forced_align(log_probs, targets, blank)
            impossible += 1
            continue
        path = forced_align(log_probs, targets, blank)
        assert_valid_path(path, targets, blank)
        assert path_log_prob(log_probs, targets, path, blank) == pytest.approx(expected, abs=1e-9)
        checked += 1
    assert checked >= 25 and impossible >= 1


@pytest.mark.parametrize("seed", range(4))
def test_fast_kernel_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n_classes = int(rng.integers(3, 30))
    n_targets = int(rng.integers(5, 40))
    targets = rng.integers(1, n_classes, size=n_targets)
    targets[1::7] = targets[0::7][: len(targets[1::7])]  # some repeats
    n_frames = min_frames(targets) + int(rng.integers(0, 120))
    log_probs = random_log_probs(rng, n_frames, n_classes, dtype=np.float32)

    fast = forced_align(log_probs, targets)
    reference = ctc_viterbi_reference(log_probs, targets)
    np.testing.assert_array_equal(fast, reference)


def test_fast_kernel_matches_reference_with_impossible_emissions() -> None:
    """-inf entries (probability exactly zero) block some paths without breaking the recursion."""
    rng = np.random.default_rng(42)
    for _ in range(20):
        targets = rng.integers(1, 5, size=int(rng.integers(2, 8)))
        log_probs = random_log_probs(rng, min_frames(targets) + int(rng.integers(0, 15)), 5)
        log_probs[rng.random(log_probs.shape) < 0.2] = -np.inf
        try:
            reference = ctc_viterbi_reference(log_probs, targets)
        except AlignmentError:
            with pytest.raises(AlignmentError, match="every CTC path has probability zero"):
                forced_align(log_probs, targets)
            continue
        np.testing.assert_array_equal(forced_align(log_probs, targets), reference)
        assert np.isfinite(path_log_prob(log_probs, targets, reference))


def test_fast_kernel_matches_reference_on_ties() -> None:
    """Flat emissions make every valid path tie: both kernels must break ties the same way."""
    targets = [1, 2, 2, 3]
    log_probs = np.full((12, 4), math.log(0.25))
    fast = forced_align(log_probs, targets)
    np.testing.assert_array_equal(fast, ctc_viterbi_reference(log_probs, targets))
    np.testing.assert_array_equal(fast, forced_align(log_probs.copy(), list(targets)))
    assert_valid_path(fast, targets, 0)


def test_input_layout_and_types_do_not_matter() -> None:
    rng = np.random.default_rng(11)
    log_probs = random_log_probs(rng, 50, 6)
    targets = [3, 1, 1, 5]
    expected = forced_align(log_probs, targets)
    before = log_probs.copy()
    for variant in (np.asfortranarray(log_probs), log_probs.astype(np.float32), np.repeat(log_probs, 2, axis=0)[::2]):
        np.testing.assert_array_equal(forced_align(variant, np.array(targets, dtype=np.uint8)), expected)
    np.testing.assert_array_equal(log_probs, before)  # not modified in place


def planted(rng: np.random.Generator, targets: np.ndarray, n_classes: int, blank: int = 0):
    """Random valid label sequence for ``targets`` and emissions peaking (p=0.9) on it."""
    labels: list[int] = []
    states: list[int] = []
    for i, token in enumerate(targets.tolist()):
        needs_blank = i > 0 and token == targets[i - 1]
        n_blank = int(rng.integers(1 if needs_blank else 0, 4))
        labels += [blank] * n_blank
        states += [2 * i] * n_blank
        n_token = int(rng.integers(1, 5))
        labels += [token] * n_token
        states += [2 * i + 1] * n_token
    n_tail = int(rng.integers(0, 4))
    labels += [blank] * n_tail
    states += [2 * len(targets)] * n_tail
    probs = np.full((len(labels), n_classes), 0.1 / (n_classes - 1))
    probs[np.arange(len(labels)), labels] = 0.9
    return np.log(probs), np.array(states, dtype=np.int32)


@pytest.mark.parametrize("seed", range(5))
def test_planted_path_is_recovered_exactly(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    targets = rng.integers(1, 6, size=int(rng.integers(1, 60)))
    log_probs, expected = planted(rng, targets, n_classes=6)
    np.testing.assert_array_equal(forced_align(log_probs, targets), expected)


def test_repeated_tokens_need_a_blank_between_them() -> None:
    log_probs = np.log(np.full((3, 2), 0.5))
    log_probs[:, 1] = math.log(0.99)  # token 1 everywhere: the only valid path still puts a blank in the middle
    log_probs[:, 0] = math.log(0.01)
    path = forced_align(log_probs, [1, 1])
    np.testing.assert_array_equal(path, [1, 2, 3])
    with pytest.raises(AlignmentError, match=re.escape("cannot align 2 tokens to 2 frames: need at least 3 frames")):
        forced_align(log_probs[:2], [1, 1])


def test_too_few_frames_raise_alignment_error_with_exact_message() -> None:
    log_probs = np.log(np.full((4, 3), 1 / 3))
    with pytest.raises(AlignmentError) as info:
        forced_align(log_probs, [1, 2, 2, 1, 1])
    assert str(info.value) == "cannot align 5 tokens to 4 frames: need at least 7 frames"
    assert min_frames([1, 2, 2, 1, 1]) == 7


def test_zero_probability_everywhere_raises_alignment_error() -> None:
    with np.errstate(divide="ignore"):
        log_probs = np.log(np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))  # token 1 never possible
    with pytest.raises(AlignmentError, match="every CTC path has probability zero"):
        forced_align(log_probs, [1])


@pytest.mark.parametrize(
    ("log_probs", "targets", "blank", "message"),
    [
        (np.zeros(5), [1], 0, "log_probs must be a 2-D array (T, C), got shape (5,)"),
        (np.zeros((5, 3), dtype=np.int64), [1], 0, "log_probs must be floating point, got dtype int64"),
        (np.zeros((0, 3)), [1], 0, "log_probs must have T >= 1 frames and C >= 2 classes, got shape (0, 3)"),
        (np.full((5, 3), np.nan), [1], 0, "log_probs must not contain NaN or +inf"),
        (np.full((5, 3), np.inf), [1], 0, "log_probs must not contain NaN or +inf"),
        (np.zeros((5, 3)), [[1]], 0, "targets must be a 1-D sequence of class ids, got shape (1, 1)"),
        (np.zeros((5, 3)), [], 0, "targets must not be empty"),
        (np.zeros((5, 3)), [1.0], 0, "targets must be integers, got dtype float64"),
        (np.zeros((5, 3)), [1], 3, "blank must be in [0, 3), got 3"),
        (np.zeros((5, 3)), [1, 3], 0, "targets must be in [0, 3), got 3 at position 1"),
        (np.zeros((5, 3)), [1, -1], 0, "targets must be in [0, 3), got -1 at position 1"),
        (np.zeros((5, 3)), [2, 0], 0, "targets must not contain the blank id 0, found at position 1"),
    ],
)
def test_bad_inputs_raise_value_error(log_probs, targets, blank, message) -> None:
    for kernel in (forced_align, ctc_viterbi_reference):
        with pytest.raises(ValueError) as info:
            kernel(log_probs, targets, blank)
        assert str(info.value) == message


def test_long_input_has_bounded_peak_memory() -> None:
    """T=15,000, S=3,000: int8 backpointers alone would be 90 MB; the bit planes are 17 MB."""
    rng = np.random.default_rng(7)
    n_frames, n_targets, n_classes = 15_000, 3_000, 32
    log_probs = random_log_probs(rng, n_frames, n_classes, dtype=np.float32)
    targets = rng.integers(1, n_classes, size=n_targets)
    tracemalloc.start()
    try:
        path = forced_align(log_probs, targets)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert_valid_path(path, targets.tolist(), 0)
    spans = token_spans(path, log_probs, targets)
    assert len(spans) == n_targets


def test_token_spans_cover_the_path() -> None:
    rng = np.random.default_rng(3)
    targets = np.array([3, 1, 1, 2, 4])
    log_probs = random_log_probs(rng, 40, 5)
    path = forced_align(log_probs, targets)
    spans = token_spans(path, log_probs, targets)

    assert [(s.index, s.token) for s in spans] == [(i, int(t)) for i, t in enumerate(targets)]
    token_frames = np.flatnonzero(path % 2 == 1)
    covered = np.concatenate([np.arange(s.start, s.end) for s in spans])
    np.testing.assert_array_equal(covered, token_frames)
    for span in spans:
        assert span.start < span.end
        assert np.all(path[span.start : span.end] == 2 * span.index + 1)
        expected = np.exp(log_probs[span.start : span.end, span.token]).mean()
        assert span.score == pytest.approx(expected) and 0.0 <= span.score <= 1.0
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))


def test_token_spans_score_of_a_certain_token_is_one() -> None:
    log_probs = np.log(np.array([[1e-9, 1.0 - 1e-9], [1.0 - 1e-9, 1e-9]]))
    spans = token_spans(forced_align(log_probs, [1]), log_probs, [1])
    assert spans == [TokenSpan(index=0, token=1, start=0, end=1, score=pytest.approx(1.0))]


def test_token_spans_rejects_a_path_for_other_targets() -> None:
    log_probs = np.log(np.full((4, 3), 1 / 3))
    path = forced_align(log_probs, [1, 2])
    with pytest.raises(ValueError, match="path is not a CTC path for these targets"):
        token_spans(path, log_probs, [1, 2, 1])
    with pytest.raises(ValueError, match="path is not a CTC path for these targets"):
        token_spans(np.zeros(4, dtype=np.int32), log_probs, [1])  # all blank
    with pytest.raises(ValueError, match=re.escape("path must have shape (T,)")):
        token_spans(path[:3], log_probs, [1, 2])


def instrumental_song() -> tuple[np.ndarray, list[int], list[int]]:
    """Word A = [1, 2] sung in frames 0-9, instrumental 10-59, word B = [3, 4] sung in 60-69.

    The instrumental frames are noise that mildly prefers token 3 over blank, so a plain
    alignment starts word B early (drags it into the break).
    """
    n_classes = 5
    probs = np.full((70, n_classes), 0.025)
    for frames, token in ((range(0, 5), 1), (range(5, 10), 2), (range(60, 65), 3), (range(65, 70), 4)):
        probs[list(frames), token] = 0.9
    probs[10:60] = [0.15, 0.2, 0.2, 0.25, 0.2]
    return np.log(probs), [1, 2, 3, 4], [1, 2, n_classes, 3, 4]


def test_wildcard_between_words_absorbs_an_instrumental_break() -> None:
    log_probs, plain_targets, star_targets = instrumental_song()
    plain = token_spans(forced_align(log_probs, plain_targets), log_probs, plain_targets)
    assert plain[2].start < 60  # word B dragged into the break

    with_star = append_wildcard(log_probs, math.log(0.5))
    assert with_star.shape == (70, 6)
    spans = token_spans(forced_align(with_star, star_targets), with_star, star_targets)
    word_a_end, star, word_b_start = spans[1].end, spans[2], spans[3].start
    assert (word_a_end, word_b_start) == (10, 60)
    assert (star.start, star.end) == (10, 60)


def test_wildcard_per_frame_array_and_validation() -> None:
    log_probs = np.log(np.full((4, 3), 1 / 3, dtype=np.float32))
    column = np.log(np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32))
    out = append_wildcard(log_probs, column)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 3], column)
    np.testing.assert_array_equal(out[:, :3], log_probs)
    with pytest.raises(ValueError, match=re.escape("log_prob must be a scalar or have shape (4,), got shape (3,)")):
        append_wildcard(log_probs, column[:3])
    with pytest.raises(ValueError, match=re.escape("log_prob must be a scalar or have shape (4,), got shape (4, 1)")):
        append_wildcard(log_probs, column[:, None])
    with pytest.raises(ValueError, match="log_prob must not contain NaN"):
        append_wildcard(log_probs, float("nan"))
