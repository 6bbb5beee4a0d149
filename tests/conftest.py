"""Shared fixtures: generated audio in every container format (real ffmpeg), no downloaded data."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lyricalign.audio import SAMPLE_RATE

REPO = Path(__file__).resolve().parents[1]


def tone(seconds: float, freq: float = 440.0, rate: int = SAMPLE_RATE, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def ffmpeg_convert(src: Path, dst: Path, *extra: str) -> Path:
    """Encode ``src`` to ``dst`` (format from the suffix) with the real ffmpeg binary."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), *extra, str(dst)], check=True
    )
    return dst


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.fail("ffmpeg is required by the test suite (apt-get install ffmpeg)")
    return path


@pytest.fixture
def tone_wav(tmp_path: Path) -> Path:
    """Three seconds of a 44.1 kHz stereo tone: exercises resampling and downmixing."""
    path = tmp_path / "tone.wav"
    stereo = np.stack([tone(3.0, 440, 44_100), tone(3.0, 660, 44_100)], axis=1)
    sf.write(path, stereo, 44_100)
    return path


@pytest.fixture(scope="session", autouse=True)
def acoustic_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pretrained acoustic checkpoint, exported once per session from the installed pocketsphinx
    model files, and made the default of every engine and subprocess (``LYRICALIGN_ACOUSTIC``) so the
    tests never depend on what a user has installed."""
    import os

    from lyricalign.training.acoustic_export import export_checkpoint

    folder = export_checkpoint(tmp_path_factory.mktemp("acoustic") / "checkpoint").folder
    os.environ["LYRICALIGN_ACOUSTIC"] = str(folder)
    return folder
