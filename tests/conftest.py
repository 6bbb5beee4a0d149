"""Shared fixtures: generated audio in every container format (real ffmpeg), no downloaded data; the
session's acoustic checkpoint, tiny CTC models and real BentoML server.

The helper modules next to this file (``_service_utils``, ``_model_utils``, ``_synth_utils``, ...) are
imported by name: pyproject.toml's ``pythonpath = ["tests"]`` puts this folder on ``sys.path``.
Every test that starts a real server is marked ``slow`` (checked at collection: :data:`SERVER_FIXTURES`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf

from _model_utils import make_tiny_onnx_model
from _service_utils import TEST_LIMITS, RunningService, bentoml_service
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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny random CTC model (2 attention layers) per test session."""
    return make_tiny_onnx_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with a limited receptive field (no attention layers)."""
    return make_tiny_onnx_model(tmp_path_factory.mktemp("local-model"), name="local", local=True)


@pytest.fixture(scope="session")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """One real ``bentoml serve`` (small :data:`TEST_LIMITS`) for every service test module: started by
    the first test that asks for it, stopped at the end of the session."""
    with bentoml_service(tmp_path_factory.mktemp("service"), TEST_LIMITS) as service:
        yield service


#: Fixtures that start a real server (here and in test modules): a test using one must be ``slow``.
SERVER_FIXTURES = frozenset({"live_service", "batching_service"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run a server test that ``-m "not slow"`` would not skip (the README promises it does)."""
    unmarked = [item.nodeid for item in items
                if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("tests starting a server must be marked @pytest.mark.slow: " + ", ".join(unmarked))
