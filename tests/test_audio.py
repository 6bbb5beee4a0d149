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


def test_a_folder_or_a_device_is_named_for_what_it_is(tmp_path: Path):
    with pytest.raises(AudioError, match="is a directory, not an audio file"):
        load_audio(tmp_path)
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio("/dev/null")


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


# --- decode bombs (issue 9.2) -----------------------------------------------------------------

def _silent_flac(path: Path, seconds: int, *, streamed: bool = False) -> Path:
    """Hours of 8 kHz silence in a few hundred kB; ``streamed``: written to a pipe, so the FLAC header
    does not know the length (total samples 0) and only decoding can tell."""
    import subprocess

    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
           "-t", str(seconds), "-c:a", "flac"]
    if streamed:
        with open(path, "wb") as out:
            subprocess.run([*cmd, "-f", "flac", "pipe:1"], stdout=out, check=True)
    else:
        subprocess.run([*cmd, str(path)], check=True)
    return path


def _peak_traced_mb(function) -> float:  # noqa: ANN001
    import tracemalloc

    tracemalloc.start()
    try:
        function()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


@pytest.mark.parametrize("streamed", [False, True])
def test_decode_bomb_is_refused_with_bounded_memory(tmp_path: Path, ffmpeg: str, streamed: bool):
    """An hour of silent FLAC (115 MB of float32 at 8 kHz, 230 MB at 16 kHz) against a 10 s limit:
    refused by the header when it tells, else after decoding ~11 s; memory stays near the limit's."""
    bomb = _silent_flac(tmp_path / "bomb.flac", 3600, streamed=streamed)
    assert bomb.stat().st_size < 2_000_000
    limits = AudioLimits(max_duration=10.0)

    def load() -> None:
        with pytest.raises(AudioError, match="over the limit of 10 s") as info:
            load_audio(bomb, limits)
        expected = "longer than 11 s" if streamed else "3600.0 s long"
        assert expected in str(info.value)

    assert _peak_traced_mb(load) < 20
    assert _peak_traced_mb(lambda: pytest.raises(AudioError, load_audio, bomb.read_bytes(), limits)) < 20


def test_long_audio_under_the_limit_still_decodes_whole(tmp_path: Path):
    path = tmp_path / "long.flac"
    sf.write(path, tone(25.0, 300.0, 22_050), 22_050)
    audio = load_audio(path, AudioLimits(max_duration=30.0))
    assert abs(audio.size / SAMPLE_RATE - 25.0) < 0.01


def test_block_wise_decoding_resamples_exactly_like_the_whole_signal(tmp_path: Path):
    from lyricalign.audio import BLOCK_SECONDS, SAMPLE_RATE, load_audio, resample

    rng = np.random.default_rng(5)
    stereo = (0.1 * rng.standard_normal((int(44100 * (2.5 * BLOCK_SECONDS)), 2))).astype(np.float32)
    path = tmp_path / "noise.wav"
    sf.write(path, stereo, 44100, subtype="FLOAT")
    whole = resample(stereo.mean(axis=1, dtype=np.float32), 44100, SAMPLE_RATE)
    decoded = load_audio(path)
    assert len(decoded) == len(whole)
    np.testing.assert_allclose(decoded, whole, atol=1e-6)
