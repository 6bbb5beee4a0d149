"""Onset metrics on hand-made references (lyricalign.metrics)."""

from __future__ import annotations

import numpy as np
import pytest

from lyricalign.metrics import PCO_WINDOW, SongScores, aggregate, onset_errors, score_song

REFERENCE = [1.0, 2.0, 3.0, 4.0, 5.0]


def test_exact_prediction_is_perfect():
    scores = score_song(REFERENCE, REFERENCE)
    assert scores == SongScores(mean_ae=0.0, median_ae=0.0, pco=1.0, pcs=1.0, n_words=5)


def test_constant_shift_gives_that_error():
    scores = score_song(REFERENCE, [t + 0.5 for t in REFERENCE])
    assert scores.mean_ae == pytest.approx(0.5)
    assert scores.median_ae == pytest.approx(0.5)
    assert scores.pco == 0.0  # 0.5 s is outside the 0.3 s window
    # segments [1,2]..[4,5] shifted by 0.5 s overlap their truth for half of each second.
    assert scores.pcs == pytest.approx(0.5)


def test_small_shift_is_inside_pco_window():
    assert score_song(REFERENCE, [t + PCO_WINDOW - 0.01 for t in REFERENCE]).pco == 1.0


def test_mixed_errors_mean_median_and_pco():
    estimated = [1.0, 2.1, 3.0, 5.0, 5.0]  # errors 0, 0.1, 0, 1, 0
    scores = score_song(REFERENCE, estimated)
    assert scores.mean_ae == pytest.approx(1.1 / 5)
    assert scores.median_ae == pytest.approx(0.0)
    assert scores.pco == pytest.approx(4 / 5)


def test_single_word_song():
    assert score_song([2.0], [2.1]).pcs == 1.0
    assert score_song([2.0], [3.0]).pcs == 0.0


def test_signed_errors():
    np.testing.assert_allclose(onset_errors([1.0, 2.0], [0.5, 2.5]), [-0.5, 0.5])


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match="Number of timestamps"):
        score_song([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="monotonically"):
        score_song([1.0, 2.0], [2.0, 1.0])


def test_corpus_aggregates_weigh_songs_equally():
    a = SongScores(mean_ae=1.0, median_ae=0.5, pco=0.2, pcs=0.4, n_words=100)
    b = SongScores(mean_ae=3.0, median_ae=1.5, pco=0.6, pcs=0.8, n_words=10)
    corpus = aggregate([a, b])
    assert corpus.aae == pytest.approx(2.0)  # not the word-weighted 1.18
    assert corpus.medae == pytest.approx(1.0)
    assert corpus.pco == pytest.approx(0.4)
    assert corpus.pcs == pytest.approx(0.6)
    assert (corpus.n_songs, corpus.n_words) == (2, 110)
    with pytest.raises(ValueError):
        aggregate([])
