"""Pronunciations for any supported language in the English acoustic model's phone set.

The HMM engine's acoustic model knows the 39 ARPAbet phones of American English. Words of
other languages (and English words missing from the CMU dictionary) get their pronunciation
from espeak-ng as IPA, which :data:`IPA_TO_ARPABET` maps to the nearest ARPAbet phones:
nasal vowels become vowel + ``N``, uvular or trilled r becomes ``R``, ``x``/``ç`` become ``HH``,
front rounded vowels their nearest English vowel, affricates their two halves, and so on.

espeak-ng runs once per song (one word per input line); ``--ipa --sep=_`` makes it print one
line per word with phonemes separated by ``_`` and words by spaces.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import unicodedata
from typing import Sequence

from .errors import EngineUnavailableError, LyricsError

logger = logging.getLogger(__name__)

#: Song language (ISO 639-1) -> espeak-ng voice.
ESPEAK_VOICES: dict[str, str] = {"en": "en-us", "es": "es", "fr": "fr-fr", "de": "de", "it": "it", "pt": "pt"}
ESPEAK_TIMEOUT = 120.0  # seconds for one batch call
PHONE_SEPARATOR = "_"
ESPEAK_INSTALL_HINT = "install it with `apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng` (macOS)"

#: The phones of pocketsphinx's en-us acoustic model (fillers excluded).
ARPABET: frozenset[str] = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
)

#: One espeak-ng IPA phoneme (stress, length and nasality removed) -> ARPAbet phones.
#: Multi-character keys are phonemes espeak prints as one unit (diphthongs, affricates).
IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # --- vowels
    "a": ("AA",), "ɑ": ("AA",), "ɒ": ("AA",), "æ": ("AE",), "ɐ": ("AH",), "ʌ": ("AH",), "ə": ("AH",),
    "ɘ": ("AH",), "ɤ": ("AH",), "ɜ": ("ER",), "ɚ": ("ER",), "ɝ": ("ER",), "e": ("EY",), "ɛ": ("EH",),
    "i": ("IY",), "ɪ": ("IH",), "ɨ": ("IH",), "ᵻ": ("IH",), "o": ("OW",), "ɔ": ("AO",), "u": ("UW",),
    "ʊ": ("UH",), "ɯ": ("UW",), "y": ("UW",), "ʏ": ("UH",), "ø": ("ER",), "œ": ("ER",), "ɵ": ("ER",),
    "ɶ": ("ER",),
    # --- diphthongs espeak prints as one phoneme
    "aɪ": ("AY",), "aɪə": ("AY", "ER"), "aʊ": ("AW",), "ɑʊ": ("AW",), "ɔɪ": ("OY",), "ɔø": ("OY",),
    "ɔʏ": ("OY",), "eɪ": ("EY",), "ɛɪ": ("EY",), "oʊ": ("OW",), "əʊ": ("OW",), "oɪ": ("OY",),
    "ɪə": ("IH", "AH"), "eə": ("EH", "AH"), "ʊə": ("UH", "AH"), "ɐʊ": ("AW",), "ɐɪ": ("AY",),
    "aʊə": ("AW", "ER"), "ɛə": ("EH", "AH"), "iə": ("IY", "AH"), "ɔə": ("AO", "AH"), "ua": ("UW", "AA"),
    "ai": ("AY",), "au": ("AW",), "ei": ("EY",), "oi": ("OY",), "eu": ("EH", "UW"), "ui": ("UW", "IY"),
    # --- plosives, fricatives, affricates
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",), "ɡ": ("G",),
    "c": ("K",), "ɟ": ("G",), "q": ("K",), "ʈ": ("T",), "ɖ": ("D",),
    "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",), "s": ("S",), "z": ("Z",), "ʃ": ("SH",),
    "ʒ": ("ZH",), "ɕ": ("SH",), "ʑ": ("ZH",), "ʂ": ("SH",), "ʐ": ("ZH",), "ɸ": ("F",), "β": ("B",),
    "ʋ": ("V",), "h": ("HH",), "ɦ": ("HH",), "x": ("HH",), "ç": ("HH",), "χ": ("HH",), "ɣ": ("G",),
    "ʝ": ("Y",), "ts": ("T", "S"), "dz": ("D", "Z"), "tʃ": ("CH",), "dʒ": ("JH",), "pf": ("P", "F"),
    "tɕ": ("CH",), "dʑ": ("JH",), "ʔ": (),
    # --- nasals, liquids, glides
    "m": ("M",), "n": ("N",), "ŋ": ("NG",), "ɲ": ("N", "Y"), "ɱ": ("M",), "ɳ": ("N",), "l": ("L",),
    "ɫ": ("L",), "ʎ": ("L", "Y"), "ɭ": ("L",), "ɬ": ("L",), "r": ("R",), "ɾ": ("R",), "ʁ": ("R",),
    "ʀ": ("R",), "ɹ": ("R",), "ɻ": ("R",), "ɽ": ("R",), "j": ("Y",), "w": ("W",), "ɥ": ("W",),
}
#: espeak-ng phonemes that have no IPA symbol (it prints ``??``), by their ``-x`` mnemonic -> IPA.
ESPEAK_MNEMONIC_IPA: dict[str, str] = {"UR": "ʊʁ"}  # German "durch", "wurde", "kurz"
_NO_IPA = "??"

#: A nasalised vowel (combining tilde) maps to its vowel followed by this phone.
NASAL_CODA = ("N",)

_NASAL = "\u0303"
#: Marks that carry no phone identity: stress, length, syllabicity, ties, aspiration, palatalisation.
_IGNORED = set("ˈˌːˑ'-\u0329\u032f\u030d\u0306\u200d\u0361\u035cʰʲʷˠˤ̪̺̻̝̞̟̠̈")
_LANGUAGE_SWITCH = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)?\)")


def espeak_binary() -> str:
    """Path of the espeak-ng executable.

    Raises:
        EngineUnavailableError: espeak-ng is not on PATH.
    """
    path = shutil.which("espeak-ng")
    if path is None:
        raise EngineUnavailableError(f"the espeak-ng program is not installed (needed for pronunciations): {ESPEAK_INSTALL_HINT}")
    return path


def espeak_voice(language: str) -> str:
    try:
        return ESPEAK_VOICES[language]
    except KeyError as e:
        raise LyricsError(f"no espeak-ng voice for language {language!r}") from e


def ipa_words(words: Sequence[str], language: str) -> list[list[str]]:
    """espeak-ng phonemes of each word, in one espeak call for the whole list.

    Args:
        words: spoken words (no whitespace inside); ``language`` an ISO 639-1 code.
    Returns:
        one list of IPA phonemes per input word (may be empty for unpronounceable input).
    Raises:
        EngineUnavailableError: espeak-ng missing or failing.
    """
    if not words:
        return []
    if any(not w or any(ch.isspace() for ch in w) for w in words):
        raise ValueError("ipa_words takes single non-empty words")
    lines = _run_espeak(words, language)
    if len(lines) != len(words):
        # espeak joined or split a clause; never guess which line is whose: one call per word.
        logger.debug("espeak returned %d lines for %d words; phonemising word by word", len(lines), len(words))
        lines = [" ".join(_run_espeak([w], language)) for w in words]
    phonemes = [split_phonemes(line) for line in lines]
    gaps = [i for i, p in enumerate(phonemes) if _NO_IPA in p]
    if gaps:
        mnemonics = [split_phonemes(" ".join(_run_espeak([words[i]], language, ipa=False))) for i in gaps]
        for i, codes in zip(gaps, mnemonics):
            phonemes[i] = _fill_gaps(phonemes[i], codes)
    return phonemes


def _fill_gaps(phonemes: list[str], mnemonics: list[str]) -> list[str]:
    """Replace espeak's ``??`` (a phoneme without IPA) by the IPA of its ``-x`` mnemonic at the same place.

    A ``??`` that cannot be resolved stays, so mapping it to ARPAbet fails loudly.
    """
    if len(mnemonics) != len(phonemes):
        logger.warning("cannot place espeak mnemonics %s on %s", mnemonics, phonemes)
        return phonemes
    return [ESPEAK_MNEMONIC_IPA.get(code, p) if p == _NO_IPA else p for p, code in zip(phonemes, mnemonics)]


def _run_espeak(words: Sequence[str], language: str, ipa: bool = True) -> list[str]:
    mode = "--ipa" if ipa else "-x"
    command = [espeak_binary(), "-q", mode, f"--sep={PHONE_SEPARATOR}", "-v", espeak_voice(language)]
    try:
        completed = subprocess.run(
            command, input="\n".join(words) + "\n", capture_output=True, text=True, encoding="utf-8",
            timeout=ESPEAK_TIMEOUT, check=True,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise EngineUnavailableError(f"espeak-ng failed: {e}") from e
    return [line for line in (ln.strip() for ln in completed.stdout.splitlines()) if line]


def split_phonemes(ipa: str) -> list[str]:
    """``"ʃ_ɑ̃_s_ˈɔ̃ ˈœ̃"`` (espeak ``--sep=_`` output) -> ``["ʃ", "ɑ̃", "s", "ɔ̃", "œ̃"]``.

    Words (spaces) are flattened; stress and length marks and language-switch markers such as
    ``(en)`` are dropped.
    """
    ipa = _LANGUAGE_SWITCH.sub(" ", unicodedata.normalize("NFD", ipa))
    phonemes = []
    for part in re.split(rf"[\s{PHONE_SEPARATOR}]+", ipa):
        kept = "".join(ch for ch in part if ch not in _IGNORED)
        if kept:
            phonemes.append(unicodedata.normalize("NFC", kept))
    return phonemes


def phoneme_to_arpabet(phoneme: str) -> tuple[str, ...]:
    """One IPA phoneme -> ARPAbet phones (see :data:`IPA_TO_ARPABET`).

    Nasalised vowels get :data:`NASAL_CODA` once, also for nasal diphthongs (``ɐ̃ʊ̃`` -> ``AW N``);
    a multi-character phoneme missing from the table maps character by character.

    Raises:
        KeyError: a symbol not in the table (the message names it).
    """
    decomposed = unicodedata.normalize("NFD", phoneme)
    nasal = _NASAL in decomposed
    base = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch != _NASAL and ch not in _IGNORED))
    if base in IPA_TO_ARPABET:
        phones = IPA_TO_ARPABET[base]
    else:
        phones = tuple(p for ch in base for p in _single(ch, phoneme))
    return phones + NASAL_CODA if nasal else phones


def _single(symbol: str, phoneme: str) -> tuple[str, ...]:
    try:
        return IPA_TO_ARPABET[symbol]
    except KeyError:
        raise KeyError(f"IPA symbol {symbol!r} (U+{ord(symbol):04X}, in phoneme {phoneme!r}) has no ARPAbet mapping") from None


def ipa_to_arpabet(phonemes: Sequence[str]) -> list[str]:
    """A word's IPA phonemes -> its ARPAbet pronunciation. Unknown symbols are skipped and logged."""
    phones: list[str] = []
    for phoneme in phonemes:
        try:
            phones.extend(phoneme_to_arpabet(phoneme))
        except KeyError as e:
            logger.warning("%s; skipped", e.args[0])
    return phones


def arpabet_words(words: Sequence[str], language: str) -> list[list[str]]:
    """ARPAbet pronunciation of each spoken word via espeak-ng (one call for the list)."""
    return [ipa_to_arpabet(phonemes) for phonemes in ipa_words(words, language)]
