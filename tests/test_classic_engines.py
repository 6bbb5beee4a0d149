"""The ``uniform`` and ``dtw`` engines and vocal-activity detection on synthetic songs."""

from __future__ import annotations

import numpy as np
import pytest

from _synth_utils import INTRO_SECONDS, accompaniment, make_synthetic_song
from lyricalign.audio import SAMPLE_RATE
from lyricalign.engines import create_engine
from lyricalign.engines.dtw import FEATURES, DTWEngine
from lyricalign.engines.uniform import spread_words
from lyricalign.metrics import score_song
from lyricalign.text import parse_lyrics
from lyricalign.vad import vocal_activity

LINES = [
    ["the", "night", "is", "young", "and", "full", "of", "stars"],
    ["we", "dance", "until", "the", "morning", "light"],
    ["sing", "with", "me", "tonight"],
]


@pytest.fixture(scope="module")
def song():
    return make_synthetic_song(LINES, "en", seed=11, snr_db=6.0)


def _onset_scores(song, engine_name, **options):
    lyrics = parse_lyrics(song.lyrics_text, song.language)
    result = create_engine(engine_name, **options).align(song.audio, lyrics)
    assert len(result.words) == len(song.word_times)
    assert [w.text for w in result.words] == song.lyrics_text.split()
    return score_song([s for s, _ in song.word_times], [w.start for w in result.words])


def test_vad_finds_the_vocals_not_the_intro(song):
    activity = vocal_activity(song.audio)
    first_word, last_word = song.word_times[0][0], song.word_times[-1][1]
    assert activity.regions[0][0] == pytest.approx(first_word, abs=0.5)
    assert activity.regions[-1][1] == pytest.approx(last_word, abs=0.6)
    frames = np.arange(activity.active.size) / 50
    intro = frames < INTRO_SECONDS - 0.5
    assert activity.active[intro].mean() < 0.2


def test_vad_on_music_only_or_tiny_input_finds_one_region_over_most_of_it():
    tiny = np.zeros(100, np.float32)
    assert vocal_activity(tiny).regions == ((0.0, 100 / SAMPLE_RATE),)
    music = vocal_activity(accompaniment(5.0, np.random.default_rng(0)))
    assert len(music.regions) == 1 and music.regions[0][0] == 0.0  # measured: (0.0, 3.98)
    assert 0.75 * 5.0 <= music.active_seconds <= 5.0


def test_uniform_lands_within_half_a_second(song):
    scores = _onset_scores(song, "uniform")
    assert scores.mean_ae < 0.5 and scores.pco > 0.6  # measured: 0.17 s, 0.89 (whole-file spread: 0.77 s)


def test_uniform_beats_the_whole_file_spread(song):
    with_vad = _onset_scores(song, "uniform")
    without = _onset_scores(song, "uniform", use_vad=False)
    assert with_vad.mean_ae < without.mean_ae


def test_uniform_returns_its_diagnostics_and_keeps_no_per_call_state(song):
    """One engine serves concurrent requests, so the extras of a call live in its result only."""
    engine = create_engine("uniform")
    lyrics = parse_lyrics(song.lyrics_text, song.language)
    state = dict(vars(engine))
    result = engine.align(song.audio, lyrics)
    assert vars(engine) == state
    assert result.extras["regions"] >= 1 and 0 < result.extras["active_seconds"] <= result.duration
    output = engine.align_words(song.audio, lyrics)
    assert output.extras == result.extras and output == engine.align_words(song.audio, lyrics)
    placed = [t for t in output.words if t is not None]
    assert placed and all(t.confidence is None for t in placed)  # no measure of it: none, not a constant
    assert all(w.confidence is None for w in result.words if not w.interpolated)


def test_uniform_keeps_lines_out_of_long_gaps():
    lyrics = parse_lyrics("one two three four\nfive six seven eight\n", "en")
    # Two active stretches with a 10 s gap; line 1 would straddle it if words were spread blindly.
    timings = spread_words(lyrics, [(0.0, 3.0), (13.0, 18.0)])
    assert all(t.end <= 3.0 for t in timings[:4])
    assert all(t.start >= 13.0 for t in timings[4:])
    starts = [t.start for t in timings]
    assert starts == sorted(starts)


def test_uniform_weights_words_by_spoken_length():
    lyrics = parse_lyrics("a extraordinarily", "en")
    short, long = spread_words(lyrics, [(0.0, 10.0)])
    assert (long.end - long.start) > 3 * (short.end - short.start)


def test_dtw_lands_within_a_quarter_second(song):
    scores = _onset_scores(song, "dtw")
    assert scores.mean_ae < 0.25 and scores.pco > 0.85  # measured: 0.018 s, 1.0


def test_dtw_every_feature_set_runs(song):
    for features in FEATURES:
        scores = _onset_scores(song, "dtw", features=features)
        assert scores.mean_ae < 1.0, features


def test_dtw_other_language_and_unalignable_tokens():
    spanish = make_synthetic_song([["la", "luna", "brilla", "sobre", "el", "mar"], ["canta", "conmigo", "esta", "noche"]], "es", seed=4)
    text = spanish.lyrics_text.replace("canta", "[coro] canta")
    lyrics = parse_lyrics(text, "es")
    result = DTWEngine().align(spanish.audio, lyrics)
    assert result.words[6].interpolated and result.words[6].text == "[coro]"
    predicted = [w.start for k, w in enumerate(result.words) if k != 6]
    assert score_song([s for s, _ in spanish.word_times], predicted).mean_ae < 0.3
    assert result.model == "espeak-ng+dtw-mel_onset" and result.extras["rate_wpm"] >= 80


def test_dtw_with_vocal_separation(song):
    scores = _onset_scores(song, "dtw", separate=True)
    assert scores.mean_ae < 0.3


def test_dtw_rejects_unknown_features():
    with pytest.raises(ValueError, match="unknown DTW features"):
        DTWEngine(features="wavelets")
