"""Lyrics text: parsing into lines and tokens, per-language normalisation, vocabulary encoding.

Contract: every whitespace-separated token of the input becomes exactly one :class:`LyricsWord`,
in order, keeping its original text. Its ``spoken`` form is what engines align: lower case,
numbers spelled out in the song's language, punctuation removed, possibly several spoken words
("42" -> "forty-two" -> "forty two") or none ("🎵", "[Chorus]") -- engines leave the latter to
interpolation, and the result flags them.

Markers: a whole line that is a section header or stage direction (``[Verse 1]``, ``Chorus:``,
``(x2)``, ``x2``, ``(guitar solo)``) or has nothing singable (``🎵``, ``* * *``) is a *marker line*:
its tokens still become words (the contract), flagged ``marker`` and with nothing to align, and the
display formats leave the line out. ``keep_markers=True`` parses such lines as ordinary lyrics
(the words that can be sung, e.g. "Chorus", are aligned), for lyrics that really sing them.
Parenthesised lines that are not directions, ``(oh oh oh)``, are backing vocals: sung, not markers.

Language: ``"auto"`` detects it from the text of the non-marker lines (:mod:`lyricalign.language`).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from .errors import LyricsError
from .language import AUTO, LanguageDetection, detect_language

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
_REPEAT_MARK = re.compile(r"[x×]\s*\d+|\d+\s*[x×]", flags=re.I)
#: Words of section headers and stage directions, in the supported languages (lower case).
_MARKER_WORDS = frozenset("""
    chorus verse bridge intro outro prechorus pre-chorus postchorus post-chorus hook refrain instrumental solo
    interlude break breakdown coda fade repeat x2 x3 x4 spoken guitar piano drums
    coro estribillo estrofa verso puente instrumental repetir
    couplet pont refrain instrumental répéter bis
    strophe refrain brücke zwischenspiel wiederholung
    ritornello strofa ponte strumentale ripeti
    refrão estrofe ponte
""".split())


def normalize_language_option(language: str) -> str:
    """Like :func:`normalize_language`, but ``"auto"`` (any case) stays ``"auto"``: detect it."""
    return AUTO if language.strip().lower() == AUTO else normalize_language(language)


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
    marker: bool = False  # part of a marker line (section header, stage direction): never aligned

    @property
    def alignable(self) -> bool:
        return bool(self.spoken)


@dataclass(frozen=True)
class LyricsLine:
    text: str  # the input line, stripped
    paragraph: int
    first_word: int  # index of its first word in Lyrics.words
    n_words: int
    marker: bool = False  # a section header, stage direction or line with nothing singable


@dataclass(frozen=True)
class Lyrics:
    words: tuple[LyricsWord, ...]
    lines: tuple[LyricsLine, ...]
    language: str
    detection: LanguageDetection | None = None  # set when the language was detected ("auto")


def parse_lyrics(text: str, language: str = AUTO, *, keep_markers: bool = False) -> Lyrics:
    """Split lyrics into lines (blank lines separate paragraphs) and tokens, normalising each.

    ``language``: a supported language, or ``"auto"`` to detect it from the lyrics (the detection
    is kept in :attr:`Lyrics.detection` and reaches the result's extras with its warning, if any). ``keep_markers``:
    parse marker lines as sung lyrics (see the module notes).

    Raises:
        LyricsError: no token at all, no token with anything to align, or a NUL byte (binary data, not
            lyrics; it would pass into every output format).
    """
    if "\x00" in text:
        raise LyricsError(f"lyrics contain a NUL byte (at character {text.index(chr(0))}): send UTF-8 text")
    rows = _paragraph_lines(text)
    if not rows:
        raise LyricsError("lyrics are empty")
    structural = [not keep_markers and is_marker_line(line) for line, _ in rows]
    detection = None
    if normalize_language_option(language) == AUTO:
        sung = "\n".join(line for (line, _), marker in zip(rows, structural) if not marker)
        # Not logged as a warning here: callers report it with the result (a CLI run that then
        # fails on its audio prints one error line, not a warning too).
        detection = detect_language(sung or "\n".join(line for line, _ in rows))
        language = detection.language
    language = normalize_language(language)
    words: list[LyricsWord] = []
    lines: list[LyricsLine] = []
    for (stripped, paragraph), marker in zip(rows, structural):
        unsung = _unsung_spans(stripped)
        first = len(words)
        for match in re.finditer(r"\S+", stripped):
            inside_annotation = marker or any(a <= match.start() and match.end() <= b for a, b in unsung)
            spoken = "" if inside_annotation else normalize_token(match.group(), language)
            words.append(LyricsWord(text=match.group(), spoken=spoken, line=len(lines)))
        nothing_sung = not any(w.spoken for w in words[first:])
        if (marker or nothing_sung) and not keep_markers:
            words[first:] = [LyricsWord(w.text, "", w.line, marker=True) for w in words[first:]]
            marker = True
        lines.append(LyricsLine(text=stripped, paragraph=paragraph, first_word=first, n_words=len(words) - first,
                                marker=marker))
    if not any(w.alignable for w in words):
        raise LyricsError("lyrics contain no alignable words (only symbols, section markers or annotations)")
    return Lyrics(words=tuple(words), lines=tuple(lines), language=language, detection=detection)


def _paragraph_lines(text: str) -> list[tuple[str, int]]:
    """``(stripped line, paragraph index)`` of every non-blank line; blank lines separate paragraphs."""
    rows: list[tuple[str, int]] = []
    paragraph = 0
    previous_blank = False
    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = raw_line.strip()
        if not stripped:
            previous_blank = bool(rows)
            continue
        if previous_blank:
            paragraph += 1
            previous_blank = False
        rows.append((stripped, paragraph))
    return rows


def is_marker_line(line: str) -> bool:
    """Whether a whole (stripped) line is a section header, repeat mark or stage direction.

    ``[Verse 1]``, ``{Chorus}``, ``[Chorus x2]``: any line that is one bracketed annotation;
    ``(x2)``, ``x2``, ``2x``, ``(Repeat chorus)``, ``(guitar solo)``: repeat marks, and parenthesised
    lines made of direction words (:data:`_MARKER_WORDS`) -- ``(oh oh oh)`` is sung, so it is not one;
    ``Chorus:``, ``Verse 2``, ``Pre-Chorus:``: a direction word with an optional number and colon.
    Lines with nothing singable at all are markers too, but that is decided after normalisation.
    """
    if re.fullmatch(r"\[[^\[\]]*\]|\{[^{}]*\}", line):
        return True
    if _REPEAT_MARK.fullmatch(line):
        return True
    inner = line[1:-1].strip() if line.startswith("(") and line.endswith(")") else None
    if inner is not None:
        words = [w for w in re.split(r"[\s:,.;!-]+", inner.casefold()) if w]
        return bool(words) and all(w in _MARKER_WORDS or w.isdigit() or _REPEAT_MARK.fullmatch(w) for w in words)
    header = re.fullmatch(r"([^\W\d_][\w-]*(?:\s+[^\W\d_][\w-]*)?)\s*(\d+)?\s*:?", line)
    if header is None:
        return False
    words = header.group(1).casefold().split()
    has_colon_or_number = line.endswith(":") or header.group(2) is not None
    return all(w in _MARKER_WORDS for w in words) and (has_colon_or_number or words[0] in _HEADER_ALONE)


#: Direction words that are a header even without a number or colon ("Chorus" alone on a line).
_HEADER_ALONE = frozenset("chorus prechorus pre-chorus postchorus post-chorus verse bridge intro outro hook refrain "
                          "instrumental interlude coro estribillo couplet strophe ritornello refrão".split())


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
