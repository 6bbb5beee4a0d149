"""Audio decoding to 16 kHz mono float32, and the audio constants every stage shares.

soundfile (libsndfile) decodes wav/flac/ogg/mp3 itself; anything else (m4a, aac, opus, video
containers) goes through the ``ffmpeg`` binary. Decoding never writes next to the input.

Memory is bounded by ``AudioLimits.max_duration``, never by the file: a 1.3 MB FLAC of two hours of
silence decodes to ~1 GB of float32. So soundfile's header duration is checked before decoding
(refused at once when over the limit), decoding goes block by block and stops one second past the
limit whatever the header said (a header may lie or not know), and ffmpeg is told ``-t`` likewise.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from .errors import AudioError
from .progress import report_progress

logger = logging.getLogger(__name__)

# --- constants (one place; derived values below) -------------------------------------------
SAMPLE_RATE = 16_000  # Hz: what every engine consumes
MODEL_FRAME_STRIDE = 320  # samples per acoustic-model frame (wav2vec2's conv stack)
FRAMES_PER_SECOND = SAMPLE_RATE // MODEL_FRAME_STRIDE  # 50
SECONDS_PER_FRAME = MODEL_FRAME_STRIDE / SAMPLE_RATE  # 0.02
DEFAULT_MAX_DURATION = 20 * 60.0  # seconds
SILENCE_PEAK = 1e-4  # a decoded signal whose peak is below this is "silent only"
DECODE_MARGIN_S = 1.0  # decoded past the limit, so that "over the limit" is seen, never much more
BLOCK_SECONDS = 10  # soundfile decodes this much at a time (at the file's rate, all channels), then reports progress

#: The largest max_duration accepted (11.6 days): beyond it the limit would not fit the decoders' frame counts.
MAX_DURATION_CEILING = 1e6

AudioSource = Union[str, os.PathLike, bytes]


@dataclass(frozen=True)
class AudioLimits:
    """What :func:`load_audio` accepts. ``max_duration`` in seconds (None: unlimited)."""

    max_duration: float | None = DEFAULT_MAX_DURATION
    reject_silent: bool = True

    def __post_init__(self) -> None:
        if self.max_duration is not None and not 0 < self.max_duration <= MAX_DURATION_CEILING:
            raise ValueError(f"max_duration must be in (0, {MAX_DURATION_CEILING:g}] seconds, got {self.max_duration}")


def load_audio(source: AudioSource, limits: AudioLimits = AudioLimits()) -> np.ndarray:
    """Decode ``source`` (a path or the file's bytes) to mono float32 at :data:`SAMPLE_RATE`.

    Returns:
        ``(N,)`` float32 array in [-1, 1].
    Raises:
        AudioError: missing, undecodable, empty, silent-only or over-long input.
    """
    name = _describe(source)
    if not isinstance(source, bytes):
        if not os.fspath(source):
            raise AudioError("the audio path is empty")
        path = Path(source)
        if not path.exists():
            raise AudioError(f"{name}: no such file")
        if path.is_dir():
            raise AudioError(f"{name}: is a directory, not an audio file")
        if not path.is_file():  # a device or FIFO: its size and a second read are not to be relied on
            raise AudioError(f"{name}: not a regular file")
        if path.stat().st_size == 0:
            raise AudioError(f"{name}: file is empty")
    elif len(source) == 0:
        raise AudioError("audio: no bytes received")
    audio = _decode(source, name, limits)
    if audio.size == 0:
        raise AudioError(f"{name}: audio has zero length")
    if limits.max_duration is not None and audio.size > limits.max_duration * SAMPLE_RATE:
        raise _too_long(name, None, limits.max_duration)
    if limits.reject_silent and float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise AudioError(f"{name}: audio is silent")
    return audio


def duration_of(audio: np.ndarray) -> float:
    """Seconds of a waveform at :data:`SAMPLE_RATE`."""
    return audio.shape[-1] / SAMPLE_RATE


def _describe(source: AudioSource) -> str:
    return "audio" if isinstance(source, bytes) else str(source)


def _too_long(name: str, seconds: float | None, limit: float) -> AudioError:
    """``seconds``: the real duration when known (header), else decoding stopped past the limit."""
    length = f"{seconds:.1f} s long" if seconds is not None else f"longer than {limit + DECODE_MARGIN_S:g} s"
    return AudioError(f"{name}: audio is {length}, over the limit of {limit:g} s")


def _decode(source: AudioSource, name: str, limits: AudioLimits) -> np.ndarray:
    if _looks_like_soundfile_format(_header(source)):
        try:
            return _decode_soundfile(source, name, limits)
        except AudioError:
            raise  # over the limit by the header: refused, not retried with ffmpeg
        except Exception as sf_error:  # libsndfile raises several types; fall back to ffmpeg
            logger.debug("soundfile could not decode %s (%s); trying ffmpeg", name, sf_error)
    return _decode_ffmpeg(source, name, limits)


def _header(source: AudioSource) -> bytes:
    if isinstance(source, bytes):
        return source[:4]
    with open(source, "rb") as handle:
        return handle.read(4)


def _looks_like_soundfile_format(header: bytes) -> bool:
    """WAV, FLAC, Ogg, AIFF or MP3 by their magic bytes.

    Anything else goes straight to ffmpeg: libsndfile's mp3 decoder prints resync notes on the
    process's stderr when handed arbitrary bytes, which would break one-line CLI errors.
    """
    if header[:4] in (b"RIFF", b"fLaC", b"OggS", b"FORM", b"RF64") or header[:3] == b"ID3":
        return True
    return len(header) >= 2 and header[0] == 0xFF and (header[1] & 0xE0) == 0xE0  # an MPEG audio frame sync


def _decode_soundfile(source: AudioSource, name: str, limits: AudioLimits) -> np.ndarray:
    """Header check, then block-wise decoding and downmix, stopping past the limit -> ``(N,)`` at 16 kHz.

    Progress (stage ``decode``) is reported between blocks: an mp3 of a long song takes seconds.
    """
    import soundfile as sf

    handle = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with sf.SoundFile(handle) as audio_file:
        rate = audio_file.samplerate
        if rate <= 0:
            raise ValueError(f"sample rate {rate}")
        declared = audio_file.frames / rate if 0 < audio_file.frames < 2**62 else None
        if limits.max_duration is not None and declared is not None and declared > limits.max_duration:
            raise _too_long(name, declared, limits.max_duration)
        max_frames = None if limits.max_duration is None else int((limits.max_duration + DECODE_MARGIN_S) * rate)
        resampler = _StreamResampler(rate, SAMPLE_RATE)
        blocks: list[np.ndarray] = []  # at 16 kHz: memory is the result's, not the source rate's
        decoded = 0
        report_progress("decode", 0.0)
        for block in audio_file.blocks(blocksize=BLOCK_SECONDS * rate, dtype="float32", always_2d=True):
            blocks.append(resampler(_downmix(block)))
            decoded += len(block)
            if max_frames is not None and decoded > max_frames:  # the header said less, or nothing
                raise _too_long(name, None, limits.max_duration)  # type: ignore[arg-type]
            if declared:
                report_progress("decode", min(1.0, decoded / audio_file.frames))
    blocks.append(resampler.finish())
    return np.concatenate(blocks)


def _downmix(block: np.ndarray) -> np.ndarray:
    """``(N, channels)`` -> ``(N,)`` float32 mean of the channels, one contiguous pass per channel
    (``mean(axis=1)`` over two interleaved channels is 3x slower: 0.18 s for a 3-minute song)."""
    mono = block[:, 0].copy()
    for channel in range(1, block.shape[1]):
        mono += block[:, channel]
    if block.shape[1] > 1:
        mono *= np.float32(1.0 / block.shape[1])
    return mono


class _StreamResampler:
    """Block-by-block resampling equal to :func:`resample` of the whole signal (libsoxr's stream)."""

    def __init__(self, rate: int, target: int) -> None:
        import soxr

        self._stream = None if rate == target else soxr.ResampleStream(rate, target, 1, dtype="float32", quality="HQ")

    def __call__(self, block: np.ndarray) -> np.ndarray:
        return block if self._stream is None else self._stream.resample_chunk(block, last=False)

    def finish(self) -> np.ndarray:
        empty = np.zeros(0, np.float32)
        return empty if self._stream is None else self._stream.resample_chunk(empty, last=True)


def _decode_ffmpeg(source: AudioSource, name: str, limits: AudioLimits) -> np.ndarray:
    ffmpeg = ffmpeg_binary()
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", "pipe:0" if isinstance(source, bytes) else os.fspath(source)]
    if limits.max_duration is not None:  # never decode far past the limit (bounded memory)
        cmd += ["-t", str(limits.max_duration + 1.0)]
    cmd += ["-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1"]
    try:
        proc = subprocess.run(
            cmd, input=source if isinstance(source, bytes) else None, capture_output=True, timeout=600, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise AudioError(f"{name}: decoding timed out") from e
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(f"{name}: not a decodable audio file ({reason[-1] if reason else 'ffmpeg failed'})")
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def ffmpeg_binary() -> str:
    """Path of an ffmpeg executable: $LYRICALIGN_FFMPEG, PATH, or the imageio-ffmpeg wheel."""
    explicit = os.environ.get("LYRICALIGN_FFMPEG")
    if explicit:
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError as e:
        raise AudioError("ffmpeg is needed to decode this file: install it (apt-get install ffmpeg)") from e


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling of a 1-D signal (libsoxr, high quality); a no-op when rates match.

    soxr rather than scipy's polyphase filter: the same pass band for speech, ~10x faster, and an
    import of milliseconds instead of scipy.signal's 1.7 s (a large share of a CLI run).
    """
    audio = np.asarray(audio, dtype=np.float32)
    if rate == target or audio.size == 0:
        return audio
    import soxr

    return np.asarray(soxr.resample(audio, int(rate), int(target), quality="HQ"), dtype=np.float32)
