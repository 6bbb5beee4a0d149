"""Language of lyrics from their text, for ``--language auto`` (the default everywhere).

The detector is lingua (``lingua-language-detector``): offline, its n-gram models ship in the
wheel, and on short lyrics it is the most accurate of the libraries compared in
``benchmarks/bench_language.py`` (results in docs/benchmarks.md). Two questions are asked:

* **which supported language** -- a detector restricted to :data:`~lyricalign.text.SUPPORTED_LANGUAGES`
  picks the language and its confidence (lingua's probability, normalised over those six);
* **is it a supported language at all** -- a detector that also knows :data:`OTHER_LANGUAGES`
  (common languages of songs we cannot align well) tells when the text is more likely Dutch,
  Catalan, Russian, ... than any supported one (with at least :data:`UNSUPPORTED_AT_LEAST`).

Either doubt (confidence below :data:`UNSURE_BELOW`, or an unsupported language ahead) is not an
error: the alignment goes ahead with the best supported language, and the result carries a warning
(:attr:`LanguageDetection.warning`) that the caller logs and reports, because aligning in the
wrong language is much worse than being told to pass ``--language``.

Detectors are built once per process (lingua loads each language's models lazily, ~0.5 s for the
six); lingua is imported only when a detection is asked for.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import LyricalignError

logger = logging.getLogger(__name__)

#: The ``language`` option value that asks for detection.
AUTO = "auto"
#: A detection whose confidence (among the supported languages) is below this is reported as unsure.
#: On the benchmark's short lines every wrong guess was below it; see docs/benchmarks.md.
UNSURE_BELOW = 0.6
#: An unsupported language is reported only when the wide detector gives it at least this much
#: (below, a short line like "la la la" would "look Indonesian" at 0.11: that is just unsure).
#: On the benchmark's lines all 10 unsupported-language lines scored >= 0.41, supported ones <= 0.36.
UNSUPPORTED_AT_LEAST = 0.4
#: Languages that the "is it supported at all" detector also knows (lingua's names).
OTHER_LANGUAGES = (
    "DUTCH", "CATALAN", "ROMANIAN", "SWEDISH", "DANISH", "BOKMAL", "POLISH", "TURKISH", "FINNISH",
    "INDONESIAN", "RUSSIAN", "JAPANESE", "CHINESE", "KOREAN", "ARABIC", "GREEK", "HINDI",
)
_SUPPORTED_NAMES = {"en": "ENGLISH", "es": "SPANISH", "fr": "FRENCH", "de": "GERMAN", "it": "ITALIAN", "pt": "PORTUGUESE"}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class LanguageDetection:
    """What :func:`detect_language` found.

    Attributes:
        language: the supported language (ISO 639-1) the lyrics are aligned as.
        confidence: lingua's probability of ``language`` among the supported languages, in [0, 1].
        unsupported: ISO 639-1 code of an unsupported language that the text looks more like, if any.
        unsupported_confidence: that language's probability among all the languages the detector knows.
    """

    language: str
    confidence: float
    unsupported: str | None = None
    unsupported_confidence: float = 0.0

    @property
    def unsure(self) -> bool:
        return self.confidence < UNSURE_BELOW

    @property
    def warning(self) -> str | None:
        """One sentence for the log and the result when the detection should not be trusted blindly."""
        if self.unsupported:
            return (f"the lyrics look like language {self.unsupported!r} ({self.unsupported_confidence:.2f}), which is "
                    f"not supported; aligned as {self.language!r}: pass --language to choose")
        if self.unsure:
            return (f"language detection is unsure: {self.language!r} with confidence {self.confidence:.2f}; "
                    "pass --language if that is wrong")
        return None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe record put in a result's ``extras["language_detection"]``."""
        out: dict[str, Any] = {"language": self.language, "confidence": round(self.confidence, 4),
                               "unsure": self.unsure}
        if self.unsupported:
            out["unsupported"] = self.unsupported
            out["unsupported_confidence"] = round(self.unsupported_confidence, 4)
        return out


def detect_language(text: str) -> LanguageDetection:
    """The supported language of ``text`` (lyrics; markers should be left out) and how sure that is.

    Raises:
        LyricalignError: the detector is not installed, or ``text`` has no letters to go by.
    """
    if not any(ch.isalpha() for ch in text):
        raise LyricalignError("cannot detect the language of lyrics without letters: pass --language")
    supported, wide = _detectors()
    with _LOCK:  # lingua's detectors are not documented as thread-safe; detection takes milliseconds
        ranked = supported.compute_language_confidence_values(text)
        wide_ranked = wide.compute_language_confidence_values(text)
    best = ranked[0]
    code = best.language.iso_code_639_1.name.lower()
    detection = LanguageDetection(language=code, confidence=float(best.value))
    top = wide_ranked[0]
    top_code = top.language.iso_code_639_1.name.lower()
    if top_code not in _SUPPORTED_NAMES and top.value >= UNSUPPORTED_AT_LEAST:
        detection = LanguageDetection(code, float(best.value), top_code, float(top.value))
    logger.info("detected language %s (confidence %.2f)%s", code, detection.confidence,
                f"; text looks more like {top_code}" if detection.unsupported else "")
    return detection


def preload() -> None:
    """Build the detectors and load the Latin-script languages' models now (lingua loads them on
    first use, 1-3 s), e.g. when a server starts rather than during its first request."""
    detect_language("warm up the language models")


def release() -> None:
    """Drop the detectors and their language models (a few hundred MB): a one-song command detects once,
    so its peak memory is then the larger of detection and alignment, not their sum."""
    _detectors.cache_clear()
    import gc

    gc.collect()


@lru_cache(maxsize=1)
def _detectors() -> tuple[Any, Any]:
    """(restricted to the supported languages, supported + :data:`OTHER_LANGUAGES`), built once."""
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError as e:
        raise LyricalignError(
            "language detection needs the lingua-language-detector package (pip install lingua-language-detector); "
            "or pass --language"
        ) from e
    supported = [getattr(Language, name) for name in _SUPPORTED_NAMES.values()]
    others = [getattr(Language, name) for name in OTHER_LANGUAGES]
    # The wide detector only asks "is this rather another language?": lingua's low-accuracy mode (trigrams only)
    # needs ~25 MB where its full models for 23 languages take ~550 MB (measured), on whole lyrics either way.
    return (LanguageDetectorBuilder.from_languages(*supported).build(),
            LanguageDetectorBuilder.from_languages(*supported, *others).with_low_accuracy_mode().build())
