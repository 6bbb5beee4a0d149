"""Pronunciations of lyrics tokens in the acoustic model's ARPAbet phone set, for any language.

English words take every variant the CMU dictionary lists; other languages, and English words
missing from it, take espeak-ng's IPA mapped to ARPAbet (:mod:`lyricalign.phonetics`; one espeak
call per song). A token with several spoken words ("forty two") gets their first variants back
to back; a token with nothing pronounceable gets ``[]`` (it is interpolated, not aligned).

Vocables -- the non-lexical syllables of singing ("ooh", "aah", "mmm", "yeah", "whoa") -- are spelled
the English way in lyrics of every language, and sung as such: Spanish espeak-ng reads "ooh" as two
o's, German as "o-h", "mmm" as spelled letters. They get the sung readings of :data:`VOCABLES`
instead, in every language (the search picks among them what the audio supports).
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from ..phonetics import arpabet_words
from ..text import Lyrics

Pronunciation = tuple[str, ...]

#: Sung readings of vocables (a whole spoken word, any run of a letter collapsed to one), in ARPAbet.
VOCABLES: dict[str, tuple[Pronunciation, ...]] = {
    "oh": (("OW",), ("UW",)),  # "ooh", "oooh", "oh"
    "o": (("OW",), ("UW",)),  # "ooo"
    "ah": (("AA",),),  # "ah", "aah"
    "a": (("AA",),),  # "aaa"
    "uh": (("AH",), ("UW",)),
    "u": (("UW",),),
    "m": (("M",),),  # "mm", "mmm"
    "hm": (("HH", "M"), ("M",)),  # "hmm"
    "mhm": (("M", "HH", "M"),),
    "yeah": (("Y", "EH"), ("Y", "AE"), ("Y", "EH", "AH")),
    "yea": (("Y", "EH"), ("Y", "AE")),
    "whoa": (("W", "OW"), ("HH", "OW")),
    "woah": (("W", "OW"), ("HH", "OW")),
    "wo": (("W", "OW"),),
    "hey": (("HH", "EY"),),
}
_RUNS = re.compile(r"(.)\1+")


def vocable_readings(word: str) -> tuple[Pronunciation, ...]:
    """Sung readings of ``word`` if it is a vocable, else ``()``; "ooh" prefers UW, "oh" OW."""
    key = _RUNS.sub(r"\1", word.lower())
    readings = VOCABLES.get(key, ())
    if key in ("oh", "o") and re.search(r"oo", word.lower()):
        readings = readings[::-1]  # a doubled o is the English spelling of /u:/
    return readings


def pronunciations(
    lyrics: Lyrics,
    dictionary: Mapping[str, Sequence[Pronunciation]],
    alternatives: bool = True,
    vocables: bool = True,
) -> list[list[Pronunciation]]:
    """Variants of each ``lyrics.words`` entry (the first is the preferred one; ``[]``: nothing to align).

    ``vocables=False`` reads vocables like any other word (the variant measured against).
    """
    sung = vocable_readings if vocables else (lambda word: ())
    parts = [w.spoken.split() for w in lyrics.words]
    english = lyrics.language == "en"
    unknown = sorted({p for ps in parts for p in ps if not (english and p in dictionary) and not sung(p)})
    from_espeak = dict(zip(unknown, arpabet_words(unknown, lyrics.language))) if unknown else {}

    def variants(part: str) -> list[Pronunciation]:
        if english and part in dictionary:
            found = list(dictionary[part])
        else:
            found = [tuple(from_espeak[part])] if from_espeak.get(part) else []
        return list(sung(part)) or found

    result: list[list[Pronunciation]] = []
    for token_parts in parts:
        per_part = [v for v in (variants(p) for p in token_parts) if v]
        if not per_part:
            result.append([])
            continue
        first = tuple(ph for v in per_part for ph in v[0])
        prons = [first]
        if alternatives and len(per_part) == 1:
            prons.extend(v for v in per_part[0][1:] if v != first)
        result.append(prons)
    return result
