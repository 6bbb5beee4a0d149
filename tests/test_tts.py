"""espeak-ng synthesis with word times (lyricalign.tts) and the shared synthetic-song helper."""

from __future__ import annotations


import numpy as np
import pytest

from _synth_utils import make_synthetic_song, write_song
from lyricalign import tts
from lyricalign.audio import SAMPLE_RATE, load_audio
from lyricalign.errors import EngineUnavailableError, LyricsError

SENTENCES = {
    "en": "the quick brown fox jumps over the lazy dog",
    "es": "el perro corre por la playa todos los días",
    "fr": "le petit chat dort sur la chaise de la cuisine",
    "de": "der kleine hund läuft schnell durch den garten",
    "it": "il gatto nero dorme sotto il tavolo di legno",
    "pt": "o menino come uma maçã verde no jardim",
}


def _frame_energy(audio: np.ndarray, start: float, end: float) -> float:
    segment = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
    return float(np.mean(segment**2)) if segment.size else 0.0


def _check_spans(speech: tts.Speech, n_words: int) -> None:
    assert len(speech.word_spans) == n_words
    starts = [s for s, _ in speech.word_spans]
    assert starts == sorted(starts)
    for start, end in speech.word_spans:
        assert 0.0 <= start <= end <= speech.duration + 1e-6
    for (_, end), (next_start, _) in zip(speech.word_spans, speech.word_spans[1:]):
        assert end <= next_start + 1e-6


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_each_language_synthesises_with_ordered_spans(language):
    words = SENTENCES[language].split()
    speech = tts.synthesize_words(words, language)
    assert speech.audio.dtype == np.float32 and speech.audio.ndim == 1
    assert 0.8 < speech.duration < 8.0
    _check_spans(speech, len(words))
    assert all(end - start > 0.05 for start, end in speech.word_spans)


def test_energy_inside_words_exceeds_gaps():
    words = "one two three four five six".split()
    speech = tts.synthesize_words(words, "en", rate_wpm=120)
    inside = np.mean([_frame_energy(speech.audio, s, e) for s, e in speech.word_spans])
    gaps = [(e, s2) for (_, e), (s2, _) in zip(speech.word_spans, speech.word_spans[1:]) if s2 - e > 0.02]
    tail = [(speech.word_spans[-1][1], speech.duration)]
    outside = np.mean([_frame_energy(speech.audio, s, e) for s, e in gaps + tail])
    assert inside > 10 * outside


def test_word_starts_follow_separate_synthesis_lengths():
    """Each word's span length is close to that word spoken alone (the events are real times)."""
    words = ["banana", "a", "extraordinary"]
    speech = tts.synthesize_words(words, "en")
    lengths = [e - s for s, e in speech.word_spans]
    assert lengths[2] > lengths[0] > lengths[1]


def test_empty_and_multi_part_words_keep_one_span_each():
    speech = tts.synthesize_words(["hello", "", "forty two", "friends"], "en")
    _check_spans(speech, 4)
    empty_start, empty_end = speech.word_spans[1]
    assert empty_start == empty_end == speech.word_spans[0][1]
    assert speech.word_spans[2][1] - speech.word_spans[2][0] > 0.3  # "forty two" is two spoken words


def test_binary_fallback_is_exact_by_construction(monkeypatch):
    monkeypatch.setattr(tts, "_library", lambda: None)
    speech = tts.synthesize_words(["hello", "world"], "en")
    _check_spans(speech, 2)
    (s0, e0), (s1, e1) = speech.word_spans
    assert s0 == 0.0 and s1 == pytest.approx(e0 + tts.WORD_GAP_SECONDS, abs=1e-3)
    assert _frame_energy(speech.audio, s0, e0) > 100 * _frame_energy(speech.audio, e0, s1)


def test_missing_espeak_raises_unavailable(monkeypatch):
    monkeypatch.setattr(tts, "_library", lambda: None)
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    with pytest.raises(EngineUnavailableError, match="apt-get install espeak-ng"):
        tts.synthesize_words(["hello"], "en")


def test_invalid_requests():
    with pytest.raises(LyricsError, match="unsupported language"):
        tts.synthesize_words(["hola"], "klingon")
    with pytest.raises(LyricsError, match="all words are empty"):
        tts.synthesize_words(["", " "], "en")
    with pytest.raises(ValueError, match="rate_wpm"):
        tts.synthesize_words(["hello"], "en", rate_wpm=1000)


def test_synthetic_song_is_reproducible_and_annotated(tmp_path):
    lines = [["sing", "a", "song", "tonight"], ["under", "the", "silver", "moon"]]
    song = make_synthetic_song(lines, "en", seed=3)
    again = make_synthetic_song(lines, "en", seed=3)
    # espeak-ng is not bit-exact across calls: an utterance comes out up to ~10 ms longer or shorter (seen in
    # CI: 11 ms on the first line, so 11-20 ms on every later word), and the trimmed word ends move with it.
    np.testing.assert_allclose(np.array(song.word_times), np.array(again.word_times), atol=0.05)
    assert len(song.word_times) == 8 and song.lyrics_text.split() == sum(lines, [])
    assert song.word_times[0][0] >= 2.0  # instrumental intro
    assert song.word_times[-1][1] < song.duration
    path = write_song(song, tmp_path / "song.mp3")
    decoded = load_audio(path)
    assert abs(decoded.shape[0] / SAMPLE_RATE - song.duration) < 0.1
