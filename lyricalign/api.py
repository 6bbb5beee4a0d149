"""The library's front door: decode, parse, align with one engine, return the typed result."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .audio import SAMPLE_RATE, AudioLimits, AudioSource, load_audio
from .engines import DEFAULT_METHOD, Engine, PreparedAudio, check_method, create_engine
from .errors import AudioError, LyricalignError, LyricsError, ModelError
from .schema import AlignmentResult
from .language import AUTO
from .text import Lyrics, normalize_language_option, parse_lyrics

logger = logging.getLogger(__name__)

#: Lyrics larger than this are not song lyrics (and would make alignment quadratic in memory).
MAX_LYRICS_CHARS = 100_000


@dataclass(frozen=True)
class AlignOptions:
    """What to align with.

    ``language``: a supported language, or ``"auto"`` (default) to detect it from the lyrics.
    ``model``: an ONNX path or installed model name (ctc only). ``keep_markers``: align section
    markers and stage directions (``[Chorus]``, ``(x2)``) as lyrics and show them in the display
    formats, instead of flagging them and leaving them out (:func:`lyricalign.text.parse_lyrics`).
    ``allow_untrained``: run ctc with a model whose metadata says it is untrained (a randomly
    initialised placeholder, whose alignments are noise) instead of refusing it.
    """

    language: str = AUTO
    method: str | None = None  # None: ctc when a model is given, else DEFAULT_METHOD
    model: str | None = None
    limits: AudioLimits = AudioLimits()
    adaptation: int | None = None  # hmm: per-song adaptation iterations (0: off; None: the engine's default)
    keep_markers: bool = False
    allow_untrained: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", normalize_language_option(self.language))
        if self.method is not None:
            check_method(self.method)
        if self.model and self.resolved_method != "ctc":
            raise LyricalignError(f"--model applies to the ctc method only, not {self.resolved_method!r}")
        if self.adaptation is not None:
            if self.resolved_method != "hmm":
                raise LyricalignError(f"adaptation applies to the hmm method only, not {self.resolved_method!r}")
            from .acoustic.adaptation import AdaptationOptions

            try:
                AdaptationOptions(iterations=self.adaptation)
            except ValueError as e:
                raise LyricalignError(str(e)) from e

    @property
    def resolved_method(self) -> str:
        if self.method:
            return self.method
        return "ctc" if self.model else DEFAULT_METHOD

    def engine_options(self) -> dict[str, Any]:
        if self.resolved_method == "ctc":
            return {"model": self.model}
        if self.resolved_method == "hmm" and self.adaptation is not None:
            return {"adaptation_iterations": self.adaptation}
        return {}


def create_engine_for(options: AlignOptions) -> Engine:
    """The engine ``options`` ask for, loaded.

    Raises:
        ModelError: ctc with an untrained model and not ``options.allow_untrained``.
    """
    engine = create_engine(options.resolved_method, **options.engine_options())
    model = getattr(engine, "model", None)
    metadata = getattr(model, "metadata", None)
    if metadata is not None and not metadata.trained and not options.allow_untrained:
        raise ModelError(f"acoustic model {metadata.tag} is untrained (randomly initialised): its alignments would "
                         "be noise; use a trained model or method hmm (--allow-untrained runs it anyway)")
    return engine


def read_lyrics_file(path: str | Path) -> str:
    """Lyrics text from a UTF-8 file (BOM tolerated), with errors a user can act on."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise LyricsError(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise LyricsError(f"{path}: is a directory, expected a lyrics text file") from e
    except OSError as e:
        raise LyricsError(f"{path}: cannot read ({e.strerror})") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LyricsError(f"{path}: lyrics must be UTF-8 text (invalid byte at offset {e.start})") from e


def prepare_lyrics(text: str, language: str = AUTO, keep_markers: bool = False) -> Lyrics:
    """Parsed lyrics (language detected when ``"auto"``); refuses text too long to be song lyrics."""
    if len(text) > MAX_LYRICS_CHARS:
        raise LyricsError(f"lyrics are {len(text)} characters long, over the limit of {MAX_LYRICS_CHARS}")
    return parse_lyrics(text, language, keep_markers=keep_markers)


def check_waveform(audio: np.ndarray) -> np.ndarray:
    """``audio`` as ``(N,)`` float32 if it is a non-empty mono floating-point waveform (16 kHz is assumed).

    Raises:
        AudioError: other shapes (e.g. ``(N, 2)`` stereo) or integer samples, which would otherwise
            align silently against the wrong timeline or scale.
    """
    if audio.ndim != 1 or audio.size == 0:
        raise AudioError(f"expected a non-empty (N,) mono waveform at {SAMPLE_RATE} Hz, got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise AudioError(f"expected floating-point samples in [-1, 1], got dtype {audio.dtype}")
    return audio.astype(np.float32, copy=False)


def align(
    audio: AudioSource | np.ndarray | PreparedAudio,
    lyrics: str | Lyrics,
    options: AlignOptions = AlignOptions(),
    engine: Engine | None = None,
) -> AlignmentResult:
    """Align ``lyrics`` (text or parsed) to ``audio`` (path, bytes, a 16 kHz mono waveform, or what
    ``engine.prepare`` made of one).

    Pass ``engine`` to reuse a loaded engine across calls; otherwise one is created from ``options``.
    The result's warnings (``result.warnings``: an unsure or unsupported detected language, an
    untrained model) are logged here as warnings too.
    """
    parsed = lyrics if isinstance(lyrics, Lyrics) else prepare_lyrics(lyrics, options.language, options.keep_markers)
    if isinstance(audio, PreparedAudio):
        waveform: np.ndarray | PreparedAudio = audio if audio.waveform is None else replace(
            audio, waveform=check_waveform(audio.waveform))
    else:
        waveform = check_waveform(audio) if isinstance(audio, np.ndarray) else load_audio(audio, options.limits)
    engine = engine or create_engine_for(options)
    logger.info("aligning %d words with %s", len(parsed.words), engine.model_name)
    result = engine.align(waveform, parsed)
    for warning in result.warnings:
        logger.warning("%s", warning)
    return result
