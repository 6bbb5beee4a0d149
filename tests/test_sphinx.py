"""The reference engine ``sphinx`` (pocketsphinx's decoder) on synthetic songs with known word times."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from _synth_utils import make_synthetic_song
from lyricalign.engines import create_engine
from lyricalign.engines.sphinx import (
    HMM_FRAMES_PER_SECOND,
    BeamSetting,
    SphinxEngine,
    SphinxOptions,
    partition,
)
from lyricalign.errors import AlignmentError, EngineUnavailableError
from lyricalign.text import parse_lyrics

ONSET_TOLERANCE = 0.3  # seconds: mean absolute onset error allowed on a clean synthetic song

LINES = {
    "en": [["hello", "my", "friend"], ["the", "night", "is", "long", "and", "cold"], ["sing", "with", "me", "tonight"]],
    "es": [["hola", "mi", "amigo"], ["la", "noche", "es", "larga", "y", "fría"], ["canta", "conmigo", "esta", "noche"]],
}


@pytest.fixture(scope="module")
def engine() -> SphinxEngine:
    return SphinxEngine()


@pytest.fixture(scope="module", params=sorted(LINES))
def song(request):
    return make_synthetic_song(LINES[request.param], request.param, seed=3)


def onset_errors(result, song) -> np.ndarray:
    return np.array([abs(w.start - start) for w, (start, _) in zip(result.words, song.word_times, strict=True)])


def test_aligns_synthetic_song_within_tolerance(engine, song):
    lyrics = parse_lyrics(song.lyrics_text, song.language)
    result = engine.align(song.audio, lyrics)
    errors = onset_errors(result, song)
    assert errors.mean() < ONSET_TOLERANCE, errors.round(2)
    assert np.median(errors) < 0.1, errors.round(2)
    assert result.method == "sphinx" and result.language == song.language
    assert all(0.0 <= w.confidence <= 1.0 for w in result.words)
    assert not any(w.interpolated for w in result.words)
    extras = result.extras
    kinds = {p["kind"]: p for p in extras["passes"]}
    assert set(kinds) >= {"words unpruned"} and not any(k.startswith("units") for k in kinds)
    assert kinds["words unpruned"]["decodes"] == 1  # the default plan: one word-level pass over the song
    assert all(p["failed"] == 0 for p in extras["passes"])
    assert isinstance(extras["suspect_alignment"], bool)


def test_number_emoji_and_annotation_tokens(engine):
    song = make_synthetic_song([["we", "have", "forty", "two", "days"], ["to", "sing"]], "en", seed=5)
    text = "[Chorus]\nwe have 42 🎵 days\nto sing"
    lyrics = parse_lyrics(text, "en")
    result = engine.align(song.audio, lyrics)
    assert [w.text for w in result.words] == ["[Chorus]", "we", "have", "42", "🎵", "days", "to", "sing"]
    flagged = {w.text for w in result.words if w.interpolated}
    assert flagged == {"[Chorus]", "🎵"}
    times = dict(zip(["we", "have", "forty", "two", "days", "to", "sing"], song.word_times))
    by_text = {w.text: w for w in result.words}
    assert abs(by_text["42"].start - times["forty"][0]) < ONSET_TOLERANCE
    assert abs(by_text["days"].start - times["days"][0]) < ONSET_TOLERANCE
    emoji = by_text["🎵"]  # interpolated between its neighbours
    assert by_text["42"].end <= emoji.start + 1e-6 and emoji.end <= by_text["days"].start + 1e-6


def test_repeated_words_are_separate_entries(engine):
    lyrics = parse_lyrics("la la la\nforty-two la", "en")
    prons = engine.pronunciations(lyrics)
    assert len(prons) == 5
    assert prons[0] == prons[1] == prons[2]
    assert prons[3][0] == ("F", "AO", "R", "T", "IY", "T", "UW")  # "forty two": one entry
    assert len(prons[3]) == 1  # variants only for single-word tokens


def test_english_uses_all_cmu_variants_and_espeak_for_oov(engine):
    lyrics = parse_lyrics("read zorblaxian", "en")
    read, oov = engine.pronunciations(lyrics)
    assert ("R", "EH", "D") in read and ("R", "IY", "D") in read
    assert oov and all(p for p in oov[0])


def test_audio_too_short_for_lyrics(engine):
    lyrics = parse_lyrics(" ".join(["extraordinary"] * 40), "en")
    with pytest.raises(AlignmentError, match="audio too short"):
        engine.align(np.zeros(16000, np.float32), lyrics)


def test_failed_passes_raise_alignment_error_not_crash():
    # beams this narrow lose the path on noise: every setting of the plan fails, the error names them.
    narrow = BeamSetting(beam=1e-5, pbeam=1e-5, wbeam=1e-5, maxhmmpf=50)
    engine = SphinxEngine(beam_plan=(narrow, narrow))
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(16000 * 6)).astype(np.float32)
    lyrics = parse_lyrics("one two three four five six seven eight nine ten", "en")
    # one line: word-level directly, both settings tried
    with pytest.raises(AlignmentError, match=r"no decoding pass reached the end .*beam=1e-05.*: 2 of 2 decodes failed"):
        engine.align(audio, lyrics)


def test_partition_follows_lines_and_bounds_units():
    line_of = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3]
    assert partition(line_of, max_units=10) == [(0, 3), (3, 5), (5, 10), (10, 11)]
    # a "line" longer than max_words is lyrics without line breaks: its words are units
    words = [(5, 6), (6, 7), (7, 8), (8, 9), (9, 10)]
    assert partition(line_of, max_units=10, max_words=3) == [(0, 3), (3, 5), *words, (10, 11)]
    assert partition(line_of, max_units=2) == [(0, 5), (5, 11)]  # whole lines merge
    assert partition(line_of, max_units=1) == [(0, 11)]
    with pytest.raises(ValueError, match="max_units"):
        partition(line_of, max_units=0)


def test_memory_bound_splits_every_decode():
    # a budget far below one word-level pass: lines merge into at most 3 units, lines are then
    # re-placed in windows; no decode exceeds the budget (frames x dictionary entries), accuracy holds.
    lines = [LINES["en"][0], LINES["en"][1], ["under", "the", "silver", "moon"], LINES["en"][2]] * 2
    song = make_synthetic_song(lines, "en", seed=7)
    frames = song.duration * HMM_FRAMES_PER_SECOND
    budget = 3.5 * frames  # at most 3 units over the whole song
    n_words = sum(map(len, lines))
    engine = SphinxEngine(max_cost=budget, lines_first=True, refine_onsets=True)
    result = engine.align(song.audio, parse_lyrics(song.lyrics_text, "en"))
    extras = result.extras
    assert extras["max_decode_cost"] <= budget < frames * n_words / 8
    kinds = {p["kind"]: p["decodes"] for p in extras["passes"]}
    assert kinds["units unpruned"] >= 3  # merged units over the song, then windows re-placing their lines
    assert kinds["words unpruned"] == len(lines)  # every line's words on the line's span
    assert extras["unaligned_units"] == 0
    assert onset_errors(result, song).mean() < ONSET_TOLERANCE


def test_audio_too_long_for_the_memory_bound():
    engine = SphinxEngine(max_cost=1000.0)  # less than 2 units over 6 s (660 frames with padding)
    lyrics = parse_lyrics("one two three four five six seven eight nine ten", "en")
    with pytest.raises(AlignmentError, match="audio too long for the HMM engine: 7 s for 10 words"):
        engine.align(np.zeros(16000 * 6, np.float32), lyrics)


def test_stretched_onset_moves_past_the_intro():
    # the synthetic intro is 2 s of music: the first word must not start at 0 (the lines-first plan
    # with onset refinement, the engine's former default)
    song = make_synthetic_song(LINES["en"], "en", seed=3)
    engine = SphinxEngine(lines_first=True, refine_onsets=True, phone_loop_confidence=False)
    result = engine.align(song.audio, parse_lyrics(song.lyrics_text, "en"))
    assert abs(result.words[0].start - song.word_times[0][0]) < ONSET_TOLERANCE


def test_options_validated():
    with pytest.raises(ValueError, match="beam must be in"):
        BeamSetting(beam=2.0, pbeam=0.0, wbeam=0.0)
    with pytest.raises(ValueError, match="at least one"):
        SphinxOptions(beam_plan=())
    with pytest.raises(ValueError, match="padding"):
        SphinxOptions(padding=-1.0)
    with pytest.raises(ValueError, match="max_cost"):
        SphinxOptions(max_cost=0.0)
    with pytest.raises(ValueError, match="max_unit_words"):
        SphinxOptions(max_unit_words=0)


def test_registry_creates_engine():
    assert isinstance(create_engine("sphinx"), SphinxEngine)


def test_missing_espeak_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailableError, match="apt-get install espeak-ng"):
        SphinxEngine()


def test_concurrent_calls_are_independent(engine):
    # different line counts, so each result's diagnostics show they are its own
    lines = [LINES["en"], LINES["en"][:2]]
    songs = [make_synthetic_song(lines[k], "en", seed=11 + k) for k in range(2)]
    results: dict[int, object] = {}

    def run(k: int) -> None:
        results[k] = engine.align(songs[k].audio, parse_lyrics(songs[k].lyrics_text, "en"))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, song in enumerate(songs):
        assert onset_errors(results[k], song).mean() < ONSET_TOLERANCE
        kinds = {p["kind"]: p["decodes"] for p in results[k].extras["passes"]}
        assert kinds["words unpruned"] == 1  # one word-level pass per song


def test_lyrics_without_line_breaks_align_word_by_word():
    # lines first: 13 words on one "line" is more than MAX_UNIT_WORDS, so every word is its own unit
    song = make_synthetic_song(LINES["en"], "en", seed=3)
    flat = " ".join(song.lyrics_text.split())
    result = SphinxEngine(lines_first=True).align(song.audio, parse_lyrics(flat, "en"))
    assert onset_errors(result, song).mean() < ONSET_TOLERANCE
    kinds = {p["kind"]: p["decodes"] for p in result.extras["passes"]}
    assert kinds == {"units unpruned": 1, "phone loop": 1}  # one-word units are their own word segments


def test_words_on_accompaniment_get_low_confidence(engine):
    # lyrics with a line nobody sings: its words land on music alone, the phone loop says so
    song = make_synthetic_song(LINES["en"], "en", seed=4)
    result = engine.align(song.audio, parse_lyrics(song.lyrics_text + "\nunder the silver moon", "en"))
    sung = [w.confidence for w in result.words[: len(song.word_times)]]
    unsung = [w.confidence for w in result.words[len(song.word_times) :]]
    assert max(unsung) < np.median(sung), (np.round(unsung, 2), np.round(sung, 2))
