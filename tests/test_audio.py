"""Audio decoding of every supported container, generated here with the real ffmpeg."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import ffmpeg_convert, tone
from lyricalign.audio import SAMPLE_RATE, AudioLimits, load_audio
from lyricalign.errors import AudioError


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".mka"])
def test_every_format_decodes_to_16k_mono(tmp_path: Path, tone_wav: Path, ffmpeg: str, suffix: str):
    path = tone_wav if suffix == ".wav" else ffmpeg_convert(tone_wav, tmp_path / f"tone{suffix}")
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # Lossy codecs add priming/padding: allow 0.1 s either way.
    assert abs(audio.size / SAMPLE_RATE - 3.0) < 0.1
    assert 0.1 < np.abs(audio).max() <= 1.0


def test_bytes_and_path_decode_alike(tone_wav: Path, tmp_path: Path, ffmpeg: str):
    m4a = ffmpeg_convert(tone_wav, tmp_path / "tone.m4a")
    np.testing.assert_array_equal(load_audio(m4a.read_bytes()), load_audio(m4a))


def test_resampled_tone_keeps_its_pitch(tmp_path: Path):
    path = tmp_path / "a.wav"
    sf.write(path, tone(2.0, 1000.0, 44_100), 44_100)
    audio = load_audio(path)
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / audio.size - 1000.0) < 2.0


def test_missing_file(tmp_path: Path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.mp3")


def test_non_audio_bytes(tmp_path: Path, ffmpeg: str):
    path = tmp_path / "fake.mp3"
    path.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(AudioError, match="not a decodable audio file"):
        load_audio(path)


def test_empty_file_and_zero_length_audio(tmp_path: Path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="file is empty"):
        load_audio(empty)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="zero length"):
        load_audio(zero)


def test_silent_audio_is_rejected_unless_allowed(tmp_path: Path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="silent"):
        load_audio(path)
    assert load_audio(path, AudioLimits(reject_silent=False)).size == SAMPLE_RATE


def test_over_long_audio_is_rejected(tone_wav: Path, tmp_path: Path, ffmpeg: str):
    with pytest.raises(AudioError, match=r"3.0 s long, over the limit of 2 s"):
        load_audio(tone_wav, AudioLimits(max_duration=2.0))
    opus = ffmpeg_convert(tone_wav, tmp_path / "tone.opus")  # the ffmpeg path stops decoding past the limit
    with pytest.raises(AudioError, match="over the limit of 1 s"):
        load_audio(opus, AudioLimits(max_duration=1.0))
