"""The ``dtw`` engine: align the song to a synthetic rendition of its lyrics.

1. The lyrics are spoken by espeak-ng (:mod:`lyricalign.tts`) in the song's language, line by
   line with :data:`LINE_PAUSE_SECONDS` of near-silence between lines (and around the whole), at
   a speaking rate matched to the song: words per minute of detected vocal activity.
2. Both signals become feature sequences at :data:`FEATURE_HOP_SECONDS` (see :data:`FEATURES`),
   each feature standardised per recording (cepstral mean/variance normalisation), which
   removes most of the timbre and level difference between espeak and a singer over a band.
3. ``librosa.sequence.dtw`` finds the cheapest monotonic path between the two sequences
   (cosine distance); each word's synthetic start/end frame is carried through the path to the
   song: a word starts at the first song frame paired with its synthetic onset.

The near-silent pauses in the rendition are what absorb instrumental stretches of the song.

Measured on the 3 JamendoLyrics dev songs (``benchmarks/bench_evaluate.py``; AAE / MedAE in s,
PCO; several runs because espeak-ng jitters by ~1 ms per call and the DTW path on real songs is
sensitive to that): ``uniform`` 8.81 / 8.08 / 0.03 (deterministic); ``dtw`` mel+onset
(default) 5.50-8.10 / 2.49-6.09 / 0.20-0.33; mel 4.83-7.81 / 1.32-4.24 / 0.27-0.35; mfcc+delta
6.93-7.39 / 6.07-6.39 / 0.12-0.17; chroma 11.64 / 9.61 / 0.04 (espeak has no melody to match);
REPET-SIM separation on (mel+onset) 5.28 / 3.26 / 0.25 at 8x the run time. Every dtw run beat
``uniform`` on AAE and PCO; singing is far from speech, so absolute errors stay large.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..audio import SAMPLE_RATE, duration_of
from ..errors import AlignmentError
from ..progress import report_progress
from ..text import Lyrics
from ..timing import WordTiming
from ..tts import MAX_RATE_WPM, MIN_RATE_WPM, synthesize_words
from ..vad import vocal_activity
from .base import Engine, EngineOutput

logger = logging.getLogger(__name__)

FEATURE_HOP_SECONDS = 0.04  # 25 frames/s: a 5-minute song against its rendition stays < 300 MB of DTW matrices
N_FFT = 1024
N_MFCC = 20
N_MELS = 40
LINE_PAUSE_SECONDS = 0.4
NOISE_FLOOR = 1e-4  # added to the rendition so its silences have finite, stable features
MAX_DTW_CELLS = 120_000_000  # song frames x rendition frames; beyond this the song is too long for DTW here
REPET_MIN_SECONDS = 2.0  # similar frames closer than this are not "repetitions"
REPET_MARGIN = 2.0  # soft-mask margin: higher keeps less of the mix as voice


def power_spectrogram(audio: np.ndarray) -> np.ndarray:
    """``(N,)`` audio -> ``(1 + N_FFT/2, T)`` power spectrogram at FEATURE_HOP_SECONDS."""
    import librosa

    hop = int(FEATURE_HOP_SECONDS * SAMPLE_RATE)
    return np.abs(librosa.stft(audio, n_fft=N_FFT, hop_length=hop)) ** 2


def vocal_foreground(power: np.ndarray) -> np.ndarray:
    """REPET-SIM (Rafii & Pardo 2012): what does *not* repeat is the voice.

    Each frame's accompaniment is estimated as the median of its most similar frames at least
    :data:`REPET_MIN_SECONDS` away (repeating music), and a soft mask keeps the excess. ``(F, T)``
    power -> ``(F, T)`` power of the foreground.
    """
    import librosa

    magnitude = np.sqrt(power)
    width = int(REPET_MIN_SECONDS / FEATURE_HOP_SECONDS)
    background = librosa.decompose.nn_filter(magnitude, aggregate=np.median, metric="cosine", width=width)
    background = np.minimum(magnitude, background)
    mask = librosa.util.softmask(magnitude - background, REPET_MARGIN * background, power=2)
    return (mask * magnitude) ** 2


def _mel(power: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=SAMPLE_RATE, n_mels=N_MELS))


def _mfcc(power: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.feature.mfcc(S=_mel(power), n_mfcc=N_MFCC)[1:]  # c0 (level) dropped


def _mfcc_delta(power: np.ndarray) -> np.ndarray:
    import librosa

    mfcc = _mfcc(power)
    return np.vstack([mfcc, librosa.feature.delta(mfcc, width=5)])


def _chroma(power: np.ndarray) -> np.ndarray:
    import librosa

    return librosa.feature.chroma_stft(S=power, sr=SAMPLE_RATE)


def _onset(power: np.ndarray) -> np.ndarray:
    """Per-band positive log-mel flux: where energy appears (syllable onsets), not what it is."""
    mel = _mel(power)
    return np.maximum(np.diff(mel, axis=1, prepend=mel[:, :1]), 0.0)


def _mel_onset(power: np.ndarray) -> np.ndarray:
    return np.vstack([_mel(power), _onset(power)])


#: name -> power spectrogram ``(F, T)`` -> features ``(D, T)``.
FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mfcc": _mfcc,
    "mfcc_delta": _mfcc_delta,
    "chroma": _chroma,
    "mel": _mel,
    "onset": _onset,
    "mel_onset": _mel_onset,
}


@dataclass(frozen=True)
class DTWOptions:
    features: str = "mel_onset"
    separate: bool = False  # REPET-SIM vocal foreground of the song before features
    match_rate: bool = True  # speak at the song's sung words-per-minute rather than a fixed rate
    rate_wpm: int = 160  # used when match_rate is False

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise ValueError(f"unknown DTW features {self.features!r} (choose from: {', '.join(FEATURES)})")
        if not MIN_RATE_WPM <= self.rate_wpm <= MAX_RATE_WPM:
            raise ValueError(f"rate_wpm must be in [{MIN_RATE_WPM}, {MAX_RATE_WPM}], got {self.rate_wpm}")


class DTWEngine(Engine):
    name = "dtw"

    def __init__(
        self, *, features: str = "mel_onset", separate: bool = False, match_rate: bool = True, rate_wpm: int = 160
    ) -> None:
        self.options = DTWOptions(features=features, separate=separate, match_rate=match_rate, rate_wpm=rate_wpm)

    @property
    def model_name(self) -> str:
        return f"espeak-ng+dtw-{self.options.features}"

    def align_words(self, audio: np.ndarray, lyrics: Lyrics) -> EngineOutput:
        """Times from the warping path; no confidences (DTW has no measure of how sure a match is)."""
        report_progress("activity", 0.0)
        rate = self._speaking_rate(audio, lyrics)
        report_progress("activity", 1.0)
        rendition, spans = render_lyrics(lyrics, rate)
        extract = FEATURES[self.options.features]
        report_progress("features", 0.0)
        song_power = power_spectrogram(audio)
        if self.options.separate:
            song_power = vocal_foreground(song_power)
        song_features = _standardise(extract(song_power))
        report_progress("features", 0.5)
        tts_features = _standardise(extract(power_spectrogram(rendition)))
        report_progress("features", 1.0)
        cells = song_features.shape[1] * tts_features.shape[1]
        if cells > MAX_DTW_CELLS:
            raise AlignmentError(
                f"song too long for the dtw method ({duration_of(audio):.0f} s against a {duration_of(rendition):.0f} s rendition)"
            )
        report_progress("dtw", 0.0)  # one librosa call: the display's ticker shows it is alive
        first_match, last_match = _warp(tts_features, song_features)
        report_progress("dtw", 1.0)
        extras = {"rate_wpm": rate, "rendition_seconds": round(duration_of(rendition), 2)}
        duration = duration_of(audio)
        timings: list[WordTiming | None] = []
        for span in spans:
            if span is None:
                timings.append(None)
                continue
            start = first_match[_frame(span[0], first_match.size)] * FEATURE_HOP_SECONDS
            end = last_match[_frame(span[1], last_match.size, end=True)] * FEATURE_HOP_SECONDS
            timings.append(WordTiming(start=min(start, duration), end=min(max(start, end), duration)))
        return EngineOutput(timings, extras)

    def _speaking_rate(self, audio: np.ndarray, lyrics: Lyrics) -> int:
        if not self.options.match_rate:
            return self.options.rate_wpm
        minutes = max(vocal_activity(audio).active_seconds, 1.0) / 60.0
        spoken_words = sum(len(w.spoken.split()) for w in lyrics.words)
        return int(np.clip(round(spoken_words / minutes), MIN_RATE_WPM, MAX_RATE_WPM))


def render_lyrics(lyrics: Lyrics, rate_wpm: int) -> tuple[np.ndarray, list[tuple[float, float] | None]]:
    """Speak every line; return the rendition ``(N,)`` and each word's span in it (None: unalignable)."""
    rng = np.random.default_rng(0)
    pause = np.zeros(int(LINE_PAUSE_SECONDS * SAMPLE_RATE), np.float32)
    pieces = [pause]
    position = LINE_PAUSE_SECONDS
    spans: list[tuple[float, float] | None] = [None] * len(lyrics.words)
    for number, line in enumerate(lyrics.lines):
        report_progress("synthesis", number / max(len(lyrics.lines), 1))
        indices = [k for k in range(line.first_word, line.first_word + line.n_words) if lyrics.words[k].alignable]
        if not indices:
            continue
        speech = synthesize_words([lyrics.words[k].spoken for k in indices], lyrics.language, rate_wpm=rate_wpm)
        for k, (s, e) in zip(indices, speech.word_spans):
            spans[k] = (position + s, position + e)
        pieces += [speech.audio, pause]
        position += speech.duration + LINE_PAUSE_SECONDS
    report_progress("synthesis", 1.0)
    rendition = np.concatenate(pieces)
    rendition = rendition + NOISE_FLOOR * rng.standard_normal(rendition.shape[0]).astype(np.float32)
    return rendition.astype(np.float32), spans


def _standardise(features: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per feature dimension over the recording: ``(D, T)`` -> ``(D, T)``."""
    return (features - features.mean(axis=1, keepdims=True)) / (features.std(axis=1, keepdims=True) + 1e-6)


def _warp(tts_features: np.ndarray, song_features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each rendition frame, the first and last song frame the DTW path pairs it with."""
    import librosa

    _, path = librosa.sequence.dtw(X=tts_features, Y=song_features, metric="cosine", backtrack=True)
    n = tts_features.shape[1]
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.zeros(n, dtype=np.int64)
    np.minimum.at(first, path[:, 0], path[:, 1])
    np.maximum.at(last, path[:, 0], path[:, 1])
    return first, last


def _frame(seconds: float, n_frames: int, end: bool = False) -> int:
    frame = int(round(seconds / FEATURE_HOP_SECONDS)) - (1 if end else 0)
    return min(max(frame, 0), n_frames - 1)
