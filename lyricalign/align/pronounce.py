"""Pronunciations of lyrics tokens in the acoustic model's ARPAbet phone set, for any language.

English words take every variant the CMU dictionary lists; other languages, and English words
missing from it, take espeak-ng's IPA mapped to ARPAbet (:mod:`lyricalign.phonetics`; one espeak
call per song). A token with several spoken words ("forty two") gets their first variants back
to back; a token with nothing pronounceable gets ``[]`` (it is interpolated, not aligned).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..phonetics import arpabet_words
from ..text import Lyrics

Pronunciation = tuple[str, ...]


def pronunciations(
    lyrics: Lyrics,
    dictionary: Mapping[str, Sequence[Pronunciation]],
    alternatives: bool = True,
) -> list[list[Pronunciation]]:
    """Variants of each ``lyrics.words`` entry (the first is the preferred one; ``[]``: nothing to align)."""
    parts = [w.spoken.split() for w in lyrics.words]
    english = lyrics.language == "en"
    unknown = sorted({p for ps in parts for p in ps if not (english and p in dictionary)})
    from_espeak = dict(zip(unknown, arpabet_words(unknown, lyrics.language))) if unknown else {}

    def variants(part: str) -> list[Pronunciation]:
        if english and part in dictionary:
            return list(dictionary[part])
        return [tuple(from_espeak[part])] if from_espeak[part] else []

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
