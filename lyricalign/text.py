"""Lyrics text: parsing into lines and tokens, per-language normalisation, vocabulary encoding.

Contract: every whitespace-separated token of the input becomes exactly one :class:`LyricsWord`,
in order, keeping its original text. Its ``spoken`` form is what engines align: lower case,
numbers spelled out in the song's language, punctuation removed, possibly several spoken words
("42" -> "forty-two" -> "forty two") or none ("🎵", "[Chorus]") -- engines leave the latter to
interpolation, and the result flags them.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from .errors import LyricsError

logger = logging.getLogger(__name__)

#: ISO 639-1 code -> English name; num2words supports all of these.
SUPPORTED_LANGUAGES: dict[str, str] = {
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "de": "german",
    "it": "italian",
    "pt": "portuguese",
}
_LANGUAGE_BY_NAME = {name: code for code, name in SUPPORTED_LANGUAGES.items()}

_APOSTROPHES = "\u2019\u2018\u02bc\u00b4`\u2032"
_AMPERSAND = {"en": "and", "es": "y", "fr": "et", "de": "und", "it": "e", "pt": "e"}
_PERCENT = {"en": "percent", "es": "por ciento", "fr": "pour cent", "de": "prozent", "it": "per cento", "pt": "por cento"}
# "1st", "2º", "3ème", "1er" ... -> ordinal; group 1 is the number.
_ORDINAL = {
    "en": re.compile(r"^(\d+)(?:st|nd|rd|th)$"),
    "es": re.compile(r"^(\d+)[ºª°]$"),
    "fr": re.compile(r"^(\d+)(?:er|re|e|ème|eme)$"),
    "de": re.compile(r"^(\d+)\.$"),
    "it": re.compile(r"^(\d+)[ºª°]$"),
    "pt": re.compile(r"^(\d+)[ºª°]$"),
}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)\s*$")  # [Chorus], trailing "(x2)" style annotations


def normalize_language(language: str) -> str:
    """``"es"``, ``"ES"``, ``"Spanish"``, ``"es-MX"`` -> ``"es"``; raises LyricsError otherwise."""
    key = language.strip().lower()
    code = _LANGUAGE_BY_NAME.get(key, key.split("-")[0].split("_")[0])
    if code not in SUPPORTED_LANGUAGES:
        supported = ", ".join(sorted(SUPPORTED_LANGUAGES))
        raise LyricsError(f"unsupported language {language!r} (supported: {supported})")
    return code


@dataclass(frozen=True)
class LyricsWord:
    text: str  # the token exactly as in the input
    spoken: str  # normalised, space-separated spoken words; "" when nothing is alignable
    line: int  # index into Lyrics.lines

    @property
    def alignable(self) -> bool:
        return bool(self.spoken)


@dataclass(frozen=True)
class LyricsLine:
    text: str  # the input line, stripped
    paragraph: int
    first_word: int  # index of its first word in Lyrics.words
    n_words: int


@dataclass(frozen=True)
class Lyrics:
    words: tuple[LyricsWord, ...]
    lines: tuple[LyricsLine, ...]
    language: str


def parse_lyrics(text: str, language: str) -> Lyrics:
    """Split lyrics into lines (blank lines separate paragraphs) and tokens, normalising each.

    Raises:
        LyricsError: no token at all, no token with anything to align, or a NUL byte (binary data, not
            lyrics; it would pass into every output format).
    """
    if "\x00" in text:
        raise LyricsError(f"lyrics contain a NUL byte (at character {text.index(chr(0))}): send UTF-8 text")
    language = normalize_language(language)
    words: list[LyricsWord] = []
    lines: list[LyricsLine] = []
    paragraph = 0
    previous_blank = False
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = raw_line.strip()
        if not stripped:
            previous_blank = bool(lines)
            continue
        if previous_blank:
            paragraph += 1
            previous_blank = False
        unsung = _unsung_spans(stripped)
        first = len(words)
        for match in re.finditer(r"\S+", stripped):
            inside_annotation = any(a <= match.start() and match.end() <= b for a, b in unsung)
            spoken = "" if inside_annotation else normalize_token(match.group(), language)
            words.append(LyricsWord(text=match.group(), spoken=spoken, line=len(lines)))
        lines.append(LyricsLine(text=stripped, paragraph=paragraph, first_word=first, n_words=len(words) - first))
    if not words:
        raise LyricsError("lyrics are empty")
    if not any(w.alignable for w in words):
        raise LyricsError("lyrics contain no alignable words (only symbols or annotations)")
    return Lyrics(words=tuple(words), lines=tuple(lines), language=language)


def _unsung_spans(line: str) -> list[tuple[int, int]]:
    """Character spans of annotations such as ``[Chorus]`` or a trailing ``(x2)``, which are not sung."""
    spans = []
    for m in _BRACKETED.finditer(line):
        content = m.group()[1:].rstrip().rstrip(")]")
        if m.group().startswith("[") or re.fullmatch(r"\s*[x×]?\s*\d+\s*[x×]?\s*", content, flags=re.I):
            spans.append((m.start(), m.end()))
    return spans


def normalize_token(token: str, language: str) -> str:
    """One input token -> its spoken form (lower case letters, internal apostrophes, spaces)."""
    text = unicodedata.normalize("NFC", token)
    for apostrophe in _APOSTROPHES:
        text = text.replace(apostrophe, "'")
    text = text.casefold()
    text = text.replace("&", f" {_AMPERSAND[language]} ").replace("%", f" {_PERCENT[language]} ")
    text = _spell_numbers(text, language)
    # Letters (any script), combining marks and apostrophes stay; everything else separates words.
    kept = "".join(ch if (_is_letter(ch) or ch == "'") else " " for ch in text)
    words = [w.strip("'") for w in kept.split()]
    return " ".join(w for w in words if w)


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] in ("L", "M")


def _spell_numbers(text: str, language: str) -> str:
    ordinal = _ORDINAL[language].match(text.strip("!?,;:\"'()"))
    if ordinal:
        return _num2words(ordinal.group(1), language, ordinal=True)
    return _NUMBER.sub(lambda m: f" {_num2words(m.group(), language)} ", text)


def _num2words(number: str, language: str, ordinal: bool = False) -> str:
    from num2words import num2words

    value: int | float
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", number) and not ordinal:
        value = int(re.sub(r"[.,]", "", number))  # 1,000,000 / 1.000.000
    elif re.fullmatch(r"\d+[.,]\d+", number):
        value = float(number.replace(",", "."))
    else:
        value = int(re.sub(r"[.,]", "", number))
    try:
        spelled = num2words(value, lang=language, to="ordinal" if ordinal else "cardinal")
    except (NotImplementedError, OverflowError, ValueError):
        logger.warning("cannot spell %r in %s; reading its digits one by one", number, language)
        spelled = " ".join(num2words(int(d), lang=language) for d in number if d.isdigit())
    return spelled.replace("-", " ").replace(",", " ")


@dataclass(frozen=True)
class Vocabulary:
    """A character-level CTC vocabulary: ``units[i]`` is the symbol of class ``i``.

    ``word_delimiter`` (wav2vec2's ``"|"``) separates words; ``blank_id`` is the CTC blank.
    """

    units: tuple[str, ...]
    blank_id: int = 0
    word_delimiter: str | None = "|"

    def __post_init__(self) -> None:
        if not 0 <= self.blank_id < len(self.units):
            raise ValueError(f"blank_id {self.blank_id} outside vocabulary of {len(self.units)} units")
        if len(set(self.units)) != len(self.units):
            raise ValueError("vocabulary units must be unique")

    @cached_property
    def index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.units)}

    def encode(self, spoken: str) -> list[int]:
        """Spoken form of one lyrics token -> class ids (spaces become the word delimiter).

        Characters outside the vocabulary are transliterated (accents stripped: "ñ" -> "n")
        when the base letter exists; otherwise they are skipped and logged, never silently.
        """
        index = self.index
        delimiter = index.get(self.word_delimiter) if self.word_delimiter else None
        ids: list[int] = []
        for part_no, part in enumerate(spoken.split()):
            if part_no and delimiter is not None:
                ids.append(delimiter)
            for ch in part:
                ids.extend(self._encode_char(ch, index))
        return ids

    def _encode_char(self, ch: str, index: dict[str, int]) -> list[int]:
        if ch in index:
            return [index[ch]]
        base = unicodedata.normalize("NFKD", ch)
        base_letters = [c for c in base if not unicodedata.combining(c)]
        if base_letters and all(c in index for c in base_letters):
            return [index[c] for c in base_letters]
        logger.warning("character %r is not in the model's vocabulary; it is not aligned", ch)
        return []
