"""Text-to-speech with word timestamps, from espeak-ng.

Two back ends, tried in order:

1. **libespeak-ng through ctypes** (``libespeak-ng.so.1`` from apt, or the one bundled by the
   PyPI package ``espeakng-loader``). The whole word sequence is synthesised in one utterance in
   ``AUDIO_OUTPUT_SYNCHRONOUS`` mode; the synth callback receives the audio and ``WORD`` events
   whose ``audio_position`` (ms) says where each word starts and whose ``text_position`` (1-based
   character offset) says which input word it belongs to. Coarticulation between words is kept.
2. **The ``espeak-ng`` binary**, one process per word, the per-word waveforms concatenated with a
   short pause. Word times are then exact by construction, but coarticulation across word
   boundaries is lost and the result sounds more staccato.

libespeak keeps global state (voice, parameters, the callback), so every synthesis holds
:data:`_LOCK`; the library is initialised once per process. espeak-ng is not bit-exact across
calls: the same text comes out a little longer or shorter (measured: up to ~10 ms per utterance).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .audio import SAMPLE_RATE, resample
from .fsutil import owned_tempdir
from .errors import EngineUnavailableError, LyricsError
from .text import normalize_language

logger = logging.getLogger(__name__)

#: ISO 639-1 code -> espeak-ng voice name for libespeak-ng's ``espeak_SetVoiceByName``, which knows the voice
#: file "fr" but not the language code "fr-fr" that the pronunciations pass to the binary's ``-v``
#: (:data:`lyricalign.phonetics.ESPEAK_VOICES`): the same voice, French (France); tests/test_tts.py per language.
VOICES: dict[str, str] = {"en": "en-us", "es": "es", "fr": "fr", "de": "de", "it": "it", "pt": "pt"}
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450  # espeak-ng's accepted speaking rates
WORD_GAP_SECONDS = 0.06  # pause between words in the binary back end
TRIM_FRAME_SECONDS = 0.01  # frame size when trimming trailing silence off a word span
TRIM_RELATIVE_DB = -35.0  # frames this far below the word's loudest frame count as silence
UNAVAILABLE_MESSAGE = "espeak-ng is not installed: apt-get install espeak-ng (or pip install espeakng-loader)"

# espeak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Speech:
    """Synthesised speech: ``audio`` is ``(N,)`` float32 at 16 kHz; one ``(start, end)`` in
    seconds per input word (a zero-length span where a word produced no sound)."""

    audio: np.ndarray
    word_spans: tuple[tuple[float, float], ...]

    @property
    def duration(self) -> float:
        return self.audio.shape[0] / SAMPLE_RATE


@dataclass(frozen=True)
class SynthesisOptions:
    language: str
    voice: str
    rate_wpm: int = 160
    pitch: int = 50

    def __post_init__(self) -> None:
        if not MIN_RATE_WPM <= self.rate_wpm <= MAX_RATE_WPM:
            raise ValueError(f"rate_wpm must be in [{MIN_RATE_WPM}, {MAX_RATE_WPM}], got {self.rate_wpm}")
        if not 0 <= self.pitch <= 100:
            raise ValueError(f"pitch must be in [0, 100], got {self.pitch}")


def synthesize_words(
    words: Sequence[str], language: str, *, voice: str | None = None, rate_wpm: int = 160, pitch: int = 50
) -> Speech:
    """Speak ``words`` (one utterance) in ``language``; return audio and one time span per word.

    Words may contain spaces ("forty two"); an empty or whitespace-only word gets a zero-length span
    at the position where it would be.

    Raises:
        LyricsError: unsupported language or nothing to speak.
        EngineUnavailableError: neither libespeak-ng nor the ``espeak-ng`` binary is available.
    """
    code = normalize_language(language)
    options = SynthesisOptions(language=code, voice=voice or VOICES[code], rate_wpm=rate_wpm, pitch=pitch)
    cleaned = [" ".join(w.split()) for w in words]
    if not any(cleaned):
        raise LyricsError("nothing to synthesise: all words are empty")
    library = _library()
    if library is not None:
        return library.synthesize(cleaned, options)
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise EngineUnavailableError(UNAVAILABLE_MESSAGE)
    logger.info("libespeak-ng not found; synthesising word by word with %s (no coarticulation)", binary)
    return _synthesize_with_binary(binary, cleaned, options)


# --- libespeak-ng back end -------------------------------------------------------------------


class _EspeakEvent(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h."""

    class _Id(ctypes.Union):
        _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent))


class _EspeakLibrary:
    """A loaded, initialised libespeak-ng. Use only under :data:`_LOCK`."""

    def __init__(self, lib: ctypes.CDLL, data_path: str | None) -> None:
        self._lib = lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
        ]
        path = data_path.encode() if data_path else None
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path, 0)
        if self.sample_rate <= 0:
            raise OSError(f"espeak_Initialize failed ({self.sample_rate})")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int]] = []  # (text_position, audio_position ms) of WORD events
        self._callback = _SynthCallback(self._on_synth)  # kept referenced: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, n_samples: int, events) -> int:
        if n_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_WORD:
                self._events.append((events[i].text_position, events[i].audio_position))
            i += 1
        return 0  # continue synthesis

    def synthesize(self, words: list[str], options: SynthesisOptions) -> Speech:
        text, offsets = _join_with_offsets(words)
        with _LOCK:
            self._chunks, self._events = [], []
            if self._lib.espeak_SetVoiceByName(options.voice.encode()) != _EE_OK:
                raise LyricsError(f"espeak-ng has no voice {options.voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, options.rate_wpm, 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, options.pitch, 0)
            data = text.encode("utf-8") + b"\0"
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != _EE_OK:
                raise EngineUnavailableError(f"espeak-ng synthesis failed (error {status})")
            chunks, events = self._chunks, self._events
        native = np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
        audio = resample(native, self.sample_rate, SAMPLE_RATE)
        starts = _word_starts(events, offsets, len(native) / self.sample_rate)
        return Speech(audio=audio, word_spans=_spans_from_starts(audio, starts, words))


def _join_with_offsets(words: list[str]) -> tuple[str, list[int]]:
    """Join words with single spaces; also return each word's 0-based character offset."""
    offsets, position = [], 0
    for w in words:
        offsets.append(position)
        position += len(w) + 1
    return " ".join(words), offsets


def _word_starts(events: list[tuple[int, int]], offsets: list[int], duration: float) -> list[float | None]:
    """First WORD event of each input word -> its start in seconds (None: no event for it).

    espeak may split one input word into several events (numbers, hyphens): the earliest wins.
    """
    starts: list[float | None] = [None] * len(offsets)
    ends = offsets[1:] + [10**9]
    for text_position, audio_ms in events:
        char = text_position - 1
        for k, (lo, hi) in enumerate(zip(offsets, ends)):
            if lo <= char < hi:
                if starts[k] is None:
                    starts[k] = min(audio_ms / 1000.0, duration)
                break
    return starts


def _spans_from_starts(audio: np.ndarray, starts: list[float | None], words: list[str]) -> tuple[tuple[float, float], ...]:
    """Each word spans from its start to the next word's start, trailing silence trimmed.

    Words without an event (empty ones) get a zero-length span at the previous word's end.
    """
    duration = audio.shape[0] / SAMPLE_RATE
    known = [(k, s) for k, s in enumerate(starts) if s is not None and words[k]]
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * len(words)
    for n, (k, start) in enumerate(known):
        nominal_end = known[n + 1][1] if n + 1 < len(known) else duration
        spans[k] = (float(start), float(_trim_trailing_silence(audio, start, max(start, nominal_end))))
    previous_end = 0.0
    for k in range(len(words)):
        if words[k] and starts[k] is not None:
            previous_end = spans[k][1]
        else:
            spans[k] = (previous_end, previous_end)
    return tuple(spans)


def _trim_trailing_silence(audio: np.ndarray, start: float, end: float) -> float:
    """Move ``end`` back over frames much quieter than the loudest frame of ``[start, end]``."""
    frame = int(TRIM_FRAME_SECONDS * SAMPLE_RATE)
    segment = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
    n_frames = segment.shape[0] // frame
    if n_frames == 0:
        return end
    energy = (segment[: n_frames * frame].reshape(n_frames, frame) ** 2).mean(axis=1)
    threshold = energy.max() * 10 ** (TRIM_RELATIVE_DB / 10)
    loud = np.flatnonzero(energy > threshold)
    if loud.size == 0:
        return end
    return min(end, start + (loud[-1] + 1) * TRIM_FRAME_SECONDS)


_library_state: dict[str, _EspeakLibrary | None] = {}


def _library() -> _EspeakLibrary | None:
    """The process-wide libespeak-ng, loaded on first use; None when it cannot be loaded."""
    with _LOCK:
        if "lib" not in _library_state:
            _library_state["lib"] = _load_library()
        return _library_state["lib"]


def _load_library() -> _EspeakLibrary | None:
    candidates: list[tuple[str, str | None]] = []
    if os.environ.get("LYRICALIGN_NO_LIBESPEAK"):
        return None
    found = ctypes.util.find_library("espeak-ng")
    for name in filter(None, [found, "libespeak-ng.so.1"]):
        candidates.append((name, None))
    try:
        import espeakng_loader  # type: ignore[import-not-found]

        candidates.append((espeakng_loader.get_library_path(), espeakng_loader.get_data_path()))
    except ImportError:
        pass
    for name, data_path in candidates:
        try:
            return _EspeakLibrary(ctypes.CDLL(name), data_path)
        except (OSError, AttributeError) as e:
            logger.debug("cannot use %s: %s", name, e)
    return None


# --- espeak-ng binary back end ---------------------------------------------------------------


def _synthesize_with_binary(binary: str, words: list[str], options: SynthesisOptions) -> Speech:
    """One ``espeak-ng`` process per word; spans are the per-word waveforms' positions."""
    gap = np.zeros(int(WORD_GAP_SECONDS * SAMPLE_RATE), np.float32)
    pieces: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    position = 0
    with owned_tempdir("lyricalign-tts-") as tmp:
        for k, word in enumerate(words):
            if not word:
                spans.append((position / SAMPLE_RATE, position / SAMPLE_RATE))
                continue
            wav = _speak_word(binary, word, options, os.path.join(tmp, f"{k}.wav"))
            spans.append((position / SAMPLE_RATE, (position + wav.shape[0]) / SAMPLE_RATE))
            pieces += [wav, gap]
            position += wav.shape[0] + gap.shape[0]
    return Speech(audio=np.concatenate(pieces).astype(np.float32), word_spans=tuple(spans))


def _speak_word(binary: str, word: str, options: SynthesisOptions, wav_path: str) -> np.ndarray:
    import soundfile as sf

    cmd = [binary, "-v", options.voice, "-s", str(options.rate_wpm), "-p", str(options.pitch), "-w", wav_path, "--", word]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise EngineUnavailableError(f"espeak-ng failed on {word!r}: {e}") from e
    data, rate = sf.read(wav_path, dtype="float32", always_2d=True)
    audio = resample(data.mean(axis=1), rate, SAMPLE_RATE)
    return _trim_silence(audio)


def _trim_silence(audio: np.ndarray) -> np.ndarray:
    """espeak pads each utterance with silence; keep only the voiced part of one word."""
    loud = np.flatnonzero(np.abs(audio) > 0.01 * max(float(np.abs(audio).max()), 1e-9))
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio
