"""CTC engine: real ONNX Runtime on the tiny model, and planted emissions whose answer is known."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lyricalign.audio import SAMPLE_RATE
from lyricalign.engines import create_engine
from lyricalign.engines.ctc import NOT_A_WORD, CTCEngine, build_targets
from lyricalign.errors import AlignmentError, ModelError
from lyricalign.model_store import NO_MODEL_MESSAGE, install_model
from lyricalign.schema import AlignmentResult
from lyricalign.text import parse_lyrics

FRAME = 0.02  # seconds per frame of the tiny model (320 samples at 16 kHz)


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> CTCEngine:
    return CTCEngine(tiny_model)


def planted(engine: CTCEngine, n_frames: int, segments: list[tuple[int, int, str]], junk: dict[str, float] | None = None,
            junk_frames: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(T, C) log-probs: blank at 0.9 everywhere except ``segments`` (start, end, symbol), where the
    symbol has 0.9; inside ``junk_frames`` the classes of ``junk`` get the given probabilities."""
    units = engine.model.metadata.units
    index = {u: i for i, u in enumerate(units)}
    probs = np.full((n_frames, len(units)), 0.1 / (len(units) - 1))
    probs[:, 0] = 0.9
    for start, end, symbol in segments:
        probs[start:end] = 0.1 / (len(units) - 1)
        probs[start:end, index[symbol]] = 0.9
    if junk:
        lo, hi = junk_frames
        rest = (1.0 - sum(junk.values())) / (len(units) - len(junk))
        probs[lo:hi] = rest
        for symbol, p in junk.items():
            probs[lo:hi, index[symbol]] = p
    return np.log(probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def spell(word: str, start: int, frames_per_char: int = 2) -> list[tuple[int, int, str]]:
    return [(start + k * frames_per_char, start + (k + 1) * frames_per_char, ch) for k, ch in enumerate(word)]


def times(result: AlignmentResult) -> list[tuple[str, float, float]]:
    return [(w.text, round(w.start, 6), round(w.end, 6)) for w in result.words]


@pytest.mark.parametrize("wildcard", [True, False])
def test_planted_emissions_give_exact_word_times(engine: CTCEngine, tiny_model: Path, wildcard: bool) -> None:
    lyrics = parse_lyrics("Cat, dog!\nSun", "en")
    # wav2vec2-style models emit the word delimiter between words: plant one in each gap.
    segments = spell("cat", 10) + [(17, 18, "|")] + spell("dog", 20) + [(40, 41, "|")] + spell("sun", 60)
    log_probs = planted(engine, 100, segments)
    aligner = CTCEngine(engine.model, wildcard=wildcard)
    result = aligner.align_log_probs(log_probs, lyrics, duration=2.0)
    assert times(result) == [("Cat,", 0.2, 0.32), ("dog!", 0.4, 0.52), ("Sun", 1.2, 1.32)]
    assert [w.confidence for w in result.words] == pytest.approx([0.9] * 3, abs=1e-3)
    assert [(ln.start, ln.end) for ln in result.lines] == [(0.2, 0.52), (1.2, 1.32)]
    assert result.model == "tiny@0" and result.method == "ctc" and result.extras["frames"] == 100


def test_repeated_letters_and_multi_word_spoken_forms(engine: CTCEngine) -> None:
    lyrics = parse_lyrics("book 42", "en")  # "42" -> "forty two": one token, two spoken words
    segments = spell("book", 5) + [(15, 16, "|")] + spell("forty", 20) + [(30, 31, "|")] + spell("two", 32)
    result = engine.align_log_probs(planted(engine, 60, segments), lyrics, duration=1.2)
    assert times(result) == [("book", 0.1, 0.26), ("42", 0.4, 0.76)]


def test_wildcard_absorbs_a_planted_gap(engine: CTCEngine) -> None:
    """Frames 16-60 hold a sound the model calls 'x' (e.g. a solo): the words' own letters score
    higher there than blank, so without the wildcard 'cat' or 'dog' stretches over the gap."""
    lyrics = parse_lyrics("cat\ndog", "en")
    junk = {"x": 0.95, "t": 0.01, "d": 0.01, "<pad>": 0.001, "|": 0.001}
    log_probs = planted(engine, 90, spell("cat", 10) + spell("dog", 60), junk=junk, junk_frames=(16, 60))
    with_star = CTCEngine(engine.model, wildcard=True).align_log_probs(log_probs, lyrics, duration=1.8)
    assert times(with_star) == [("cat", 0.2, 0.32), ("dog", 1.2, 1.32)]
    without = CTCEngine(engine.model, wildcard=False).align_log_probs(log_probs, lyrics, duration=1.8)
    cat, dog = without.words
    assert cat.end > 0.5 or dog.start < 1.0


def test_targets_put_delimiters_in_lines_and_stars_between_lines(engine: CTCEngine) -> None:
    vocab = engine.model.vocabulary
    lyrics = parse_lyrics("a [x] b\nc", "en")
    star = len(vocab.units)
    targets = build_targets(lyrics, vocab, wildcard_id=star)
    a, b, c, bar = (vocab.index[s] for s in "abc|")
    assert targets.ids.tolist() == [star, a, bar, b, star, c, star]
    assert targets.owner.tolist() == [NOT_A_WORD, 0, NOT_A_WORD, 2, NOT_A_WORD, 3, NOT_A_WORD]
    plain = build_targets(lyrics, vocab, wildcard_id=None)
    assert plain.ids.tolist() == [a, bar, b, bar, c]


def test_lyrics_with_nothing_in_the_vocabulary(engine: CTCEngine) -> None:
    with pytest.raises(AlignmentError, match="none of the lyrics' characters is in the acoustic model's vocabulary"):
        engine.align_log_probs(np.zeros((50, 59), dtype=np.float32), parse_lyrics("λόγος ψυχή", "en"), duration=1.0)


def test_tiny_model_on_real_audio_keeps_the_output_contract(engine: CTCEngine) -> None:
    audio = (0.1 * np.random.default_rng(0).standard_normal(6 * SAMPLE_RATE)).astype(np.float32)
    text = "Hello darkness, my old friend\n[Chorus]\nλόγος 42 times\n\nI've come to talk"
    lyrics = parse_lyrics(text, "en")
    result = engine.align(audio, lyrics)
    assert [w.text for w in result.words] == text.split()
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= result.duration == 6.0 for w in result.words)
    interpolated = {w.text for w in result.words if w.interpolated}
    assert interpolated == {"[Chorus]", "λόγος"}  # nothing alignable / not in the vocabulary
    assert result.model == "tiny@0" and result.extras["tokens"] > 40
    again = engine.align_log_probs(engine.model.log_probs(audio), lyrics, duration=6.0)
    assert again.to_dict() == result.to_dict()


def test_engine_keeps_no_per_call_state(engine: CTCEngine) -> None:
    """Requests share one engine across threads: diagnostics are returned, never stored on it."""
    audio = (0.1 * np.random.default_rng(2).standard_normal(2 * SAMPLE_RATE)).astype(np.float32)
    lyrics = parse_lyrics("one two three", "en")
    state = dict(vars(engine))
    result = engine.align(audio, lyrics)
    assert vars(engine) == state
    assert result.extras["frames"] == 100 and engine.align_words(audio, lyrics).extras == result.extras


def test_audio_too_short_for_the_lyrics(engine: CTCEngine) -> None:
    audio = (0.1 * np.random.default_rng(1).standard_normal(SAMPLE_RATE // 4)).astype(np.float32)
    with pytest.raises(AlignmentError, match=r"^audio too short for the lyrics: their 37 tokens \(letters and word breaks\) need at least 0\.74 s"):
        engine.align(audio, parse_lyrics("supercalifragilistic expialidocious", "en"))


def test_missing_model_is_a_model_error_with_a_how_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYRICALIGN_HOME", str(tmp_path))
    monkeypatch.delenv("LYRICALIGN_MODEL", raising=False)
    with pytest.raises(ModelError) as info:
        CTCEngine()
    assert str(info.value) == NO_MODEL_MESSAGE
    with pytest.raises(ModelError, match=r"^no installed model named 'nope' \(installed: none\)$"):
        create_engine("ctc", model="nope")


def test_registry_creates_the_engine_from_a_path_or_installed_name(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYRICALIGN_HOME", str(tmp_path))
    assert create_engine("ctc", model=str(tiny_model)).model_name == "tiny@0"
    install_model(tiny_model)
    assert create_engine("ctc", model="tiny@0", wildcard=False).model.path == tmp_path / "models" / "tiny-0.onnx"


def test_ctc_engine_does_not_import_torch() -> None:
    code = "import lyricalign.engines.ctc, sys; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
