"""Lyrics normalisation per language and the one-word-per-token contract."""

import pytest

from lyricalign.errors import LyricsError
from lyricalign.text import Vocabulary, normalize_language, normalize_token, parse_lyrics


@pytest.mark.parametrize(
    ("token", "language", "spoken"),
    [
        ("42", "en", "forty two"),
        ("3rd", "en", "third"),
        ("1,000", "en", "one thousand"),
        ("2.5", "en", "two point five"),
        ("42", "es", "cuarenta y dos"),
        ("1º", "es", "primero"),
        ("21", "fr", "vingt et un"),
        ("1er", "fr", "premier"),
        ("99", "de", "neunundneunzig"),
        ("3.", "de", "dritte"),
        ("17", "it", "diciassette"),
        ("23", "pt", "vinte e três"),
        ("100%", "en", "one hundred percent"),
        ("&", "fr", "et"),
    ],
)
def test_numbers_and_symbols_are_spelled_in_the_song_language(token, language, spoken):
    assert normalize_token(token, language) == spoken


@pytest.mark.parametrize(
    ("token", "spoken"),
    [
        ("Hello,", "hello"),
        ("DON’T", "don't"),
        ("'cause", "cause"),
        ("singin'", "singin"),
        ("L'ÉTÉ!", "l'été"),
        ("Straße", "strasse"),
        ("well-known", "well known"),
        ("¿Qué?", "qué"),
        ("«Ça»", "ça"),
        ("🎵", ""),
        ("...", ""),
    ],
)
def test_punctuation_case_and_apostrophes(token, spoken):
    assert normalize_token(token, "en") == spoken


def test_unicode_forms_are_normalised():
    decomposed = "e\u0301te\u0301"  # "été" with combining accents
    assert normalize_token(decomposed, "fr") == "été"


def test_every_token_is_one_word_in_order_on_messy_lyrics():
    text = "  Hello,   world!!  🎵 42\t\tdon’t\n\n\n[Chorus]\nLa la-la... 3rd time (x2)\n  \n¿Qué? ¡Sí!  \n"
    lyrics = parse_lyrics(text, "en")
    assert [w.text for w in lyrics.words] == text.split()
    assert [ln.text for ln in lyrics.lines] == [
        "Hello,   world!!  🎵 42\t\tdon’t",
        "[Chorus]",
        "La la-la... 3rd time (x2)",
        "¿Qué? ¡Sí!",
    ]
    assert [ln.paragraph for ln in lyrics.lines] == [0, 1, 1, 2]
    by_text = {w.text: w.spoken for w in lyrics.words}
    assert by_text["🎵"] == "" and by_text["[Chorus]"] == "" and by_text["(x2)"] == ""
    assert by_text["42"] == "forty two" and by_text["la-la..."] == "la la"
    for line_no, line in enumerate(lyrics.lines):
        assert all(w.line == line_no for w in lyrics.words[line.first_word : line.first_word + line.n_words])


@pytest.mark.parametrize("text", ["", "   \n\n \t", "🎵 🎶\n[Instrumental]"])
def test_lyrics_without_alignable_words_are_rejected(text):
    with pytest.raises(LyricsError):
        parse_lyrics(text, "en")


@pytest.mark.parametrize(("name", "code"), [("Spanish", "es"), ("DE", "de"), ("pt-BR", "pt"), (" french ", "fr")])
def test_language_names_and_codes(name, code):
    assert normalize_language(name) == code


def test_unknown_language_is_a_clear_error():
    with pytest.raises(LyricsError, match="unsupported language 'xx'"):
        normalize_language("xx")


def test_vocabulary_transliterates_and_reports_unknown_characters(caplog):
    vocab = Vocabulary(("<pad>", "|", "a", "c", "e", "n", "o", "'"))
    assert vocab.encode("cañon") == [3, 2, 5, 6, 5]  # ñ -> n
    assert vocab.encode("a e") == [2, 1, 4]  # spaces become the word delimiter
    assert vocab.encode("aж") == [2]
    assert "'ж' is not in the model's vocabulary" in caplog.text


def test_vocabulary_validation():
    with pytest.raises(ValueError, match="blank_id 5 outside vocabulary of 2 units"):
        Vocabulary(("a", "b"), blank_id=5)
