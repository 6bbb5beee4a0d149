"""espeak-ng IPA -> ARPAbet: the table covers what espeak-ng emits, and its rules hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from lyricalign import phonetics
from lyricalign.errors import EngineUnavailableError
from lyricalign.phonetics import (
    ARPABET,
    IPA_TO_ARPABET,
    arpabet_words,
    ipa_to_arpabet,
    ipa_words,
    phoneme_to_arpabet,
    split_phonemes,
)

WORD_LISTS = Path(__file__).parent / "data"


@pytest.mark.parametrize("language", ["es", "fr", "de", "it", "pt"])
def test_table_covers_every_phoneme_espeak_emits(language):
    words = (WORD_LISTS / f"phonetics_words_{language}.txt").read_text(encoding="utf-8").split()
    assert len(words) >= 180
    unmapped: dict[str, str] = {}
    for word, phonemes in zip(words, ipa_words(words, language), strict=True):
        assert phonemes, f"espeak-ng gave no phonemes for {word!r}"
        for phoneme in phonemes:
            try:
                phones = phoneme_to_arpabet(phoneme)
            except KeyError as e:
                unmapped.setdefault(phoneme, f"{word}: {e.args[0]}")
                continue
            assert set(phones) <= ARPABET, (word, phoneme, phones)
    assert not unmapped, f"phonemes without an ARPAbet mapping: {unmapped}"


def test_table_targets_are_model_phones():
    for ipa, phones in IPA_TO_ARPABET.items():
        assert set(phones) <= ARPABET, ipa


@pytest.mark.parametrize(
    ("ipa", "expected"),
    [
        ("ɑ̃", ("AA", "N")),  # French nasal vowels: vowel + N
        ("ɔ̃", ("AO", "N")),
        ("œ̃", ("ER", "N")),
        ("ɐ̃ʊ̃", ("AW", "N")),  # Portuguese nasal diphthong: one N
        ("ʁ", ("R",)),  # uvular and trilled r
        ("r", ("R",)),
        ("ɾ", ("R",)),
        ("x", ("HH",)),  # Spanish jota, German ach-/ich-Laut
        ("ç", ("HH",)),
        ("y", ("UW",)),  # front rounded vowels
        ("ø", ("ER",)),
        ("œ", ("ER",)),
        ("ts", ("T", "S")),  # affricates
        ("tʃ", ("CH",)),
        ("dʒ", ("JH",)),
        ("ɲ", ("N", "Y")),
        ("ʎ", ("L", "Y")),
        ("ɥ", ("W",)),
        ("ʔ", ()),  # glottal stop: nothing
        ("aɪ", ("AY",)),
    ],
)
def test_rules(ipa, expected):
    assert phoneme_to_arpabet(ipa) == expected


def test_unknown_symbol_is_named():
    with pytest.raises(KeyError, match="U\\+0298"):
        phoneme_to_arpabet("ʘ")
    assert ipa_to_arpabet(["b", "ʘ", "a"]) == ["B", "AA"]  # the word survives without it


def test_split_drops_stress_length_and_language_switches():
    assert split_phonemes("ʃ_ɑ̃_s_ˈɔ̃ ˈœ̃") == ["ʃ", "ɑ̃", "s", "ɔ̃", "œ̃"]
    assert split_phonemes("m_ˈɛː_d_ç_ə_n") == ["m", "ɛ", "d", "ç", "ə", "n"]
    assert split_phonemes("(en)h_ə_l_ˈoʊ(de)") == ["h", "ə", "l", "oʊ"]
    assert split_phonemes("f_ɛ_ɾ__ˈɛ") == ["f", "ɛ", "ɾ", "ɛ"]


def test_batch_keeps_one_entry_per_word_in_order():
    words = ["chanson", "bien", "un", "humeur", "aujourd'hui"]
    batch = ipa_words(words, "fr")
    assert batch == [ipa_words([w], "fr")[0] for w in words]
    assert arpabet_words(["chanson"], "fr") == [["SH", "AA", "N", "S", "AO", "N"]]


def test_phoneme_without_ipa_resolved_from_mnemonic():
    # espeak-ng prints "??" for German /ʊʁ/ in "durch"; its -x mnemonic fills the gap.
    assert ipa_words(["durch"], "de") == [["d", "ʊʁ", "ç"]]
    assert arpabet_words(["durch"], "de") == [["D", "UH", "R", "HH"]]


def test_rejects_whitespace_in_words():
    with pytest.raises(ValueError):
        ipa_words(["forty two"], "en")


def test_missing_espeak_is_unavailable_with_howto(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailableError, match="apt-get install espeak-ng"):
        ipa_words(["hola"], "es")
    assert phonetics.ESPEAK_INSTALL_HINT in str(pytest.raises(EngineUnavailableError, phonetics.espeak_binary).value)
