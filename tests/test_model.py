"""ONNX acoustic model runtime and model store, on real tiny models run by ONNX Runtime."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lyricalign.acoustic.ctc_metadata import ModelMetadata, default_units, read_metadata, sidecar_path
from lyricalign.acoustic.ctc_model import AcousticModel, normalize_waveform
from lyricalign.acoustic.ctc_runtime import RuntimeOptions
from lyricalign.acoustic.ctc_windows import plan_windows, window_geometry
from lyricalign.audio import SAMPLE_RATE
from lyricalign.errors import ModelError
from lyricalign.model_store import (
    NO_MODEL_MESSAGE,
    default_model_path,
    install_model,
    list_models,
    require_model,
    resolve_model,
)
from _model_utils import make_tiny_onnx_model

STRIDE = 320
SHORT_WINDOWS = RuntimeOptions(window_seconds=3.0, overlap_seconds=0.5, batch_size=3)


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)


def copy_model(src: Path, directory: Path, name: str = "copy.onnx") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(src, directory / name))


# --- metadata -----------------------------------------------------------------------------------


def test_metadata_round_trips_through_onnx_metadata_props(tiny_model: Path) -> None:
    meta = read_metadata(tiny_model)
    assert (meta.name, meta.version, meta.tag) == ("tiny", "0", "tiny@0")
    assert meta.units == default_units() and meta.units[0] == "<pad>" and meta.blank_id == 0
    assert meta.word_delimiter == "|" and meta.frame_stride == STRIDE and meta.sample_rate == SAMPLE_RATE
    assert meta.trained is False
    assert ModelMetadata.from_json(meta.to_json()) == meta
    assert not sidecar_path(tiny_model).exists()


def test_sidecar_metadata_overrides_embedded(tiny_model: Path, tmp_path: Path) -> None:
    path = copy_model(tiny_model, tmp_path)
    sidecar = replace(read_metadata(tiny_model), version="7", trained=True)
    sidecar_path(path).write_text(sidecar.to_json(), encoding="utf-8")
    model = AcousticModel(path)
    assert model.metadata == sidecar and model.metadata.tag == "tiny@7"


def test_default_units_cover_every_supported_language() -> None:
    units = default_units()
    assert len(set(units)) == len(units)
    for word in ("canción", "garçon", "straße", "perché", "coração", "don't", "œuvre"):
        assert all(ch in units for ch in word), word


@pytest.mark.parametrize(
    "change, message",
    [
        ({"blank_id": 99}, "'blank_id' must index 'units'"),
        ({"word_delimiter": "#"}, "'word_delimiter' '#' is not one of the units"),
        ({"frame_stride": 0}, "'frame_stride' must be a positive integer, got 0"),
        ({"name": "bad name/"}, "'name' must be letters"),
        ({"units": ["a", "a", "b"]}, "'units' has duplicate symbols"),
        ({"trained": "yes"}, "'trained' must be true or false"),
        ({"colour": "red"}, "unknown model metadata field(s): colour"),
    ],
)
def test_invalid_metadata_names_file_and_field(change: dict, message: str) -> None:
    data = {**ModelMetadata(name="m", version="1", units=default_units()).to_dict(), **change}
    with pytest.raises(ModelError) as info:
        ModelMetadata.from_dict(data, "dir/m.json")
    assert str(info.value).startswith("dir/m.json: ") and message in str(info.value)


def test_metadata_missing_field_and_bad_json() -> None:
    with pytest.raises(ModelError, match=r"^m\.json: model metadata has no 'units' field$"):
        ModelMetadata.from_dict({"name": "m", "version": "1"}, "m.json")
    with pytest.raises(ModelError, match=r"^m\.json: model metadata is not valid JSON"):
        ModelMetadata.from_json("{oops", "m.json")


def test_bad_model_files_raise_model_error(tiny_model: Path, tmp_path: Path) -> None:
    import onnx

    with pytest.raises(ModelError, match="no such model file"):
        AcousticModel(tmp_path / "absent.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(ModelError, match=r"garbage\.onnx: not a loadable ONNX model"):
        AcousticModel(garbage)
    bare = onnx.load(str(tiny_model))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ModelError, match=r"bare\.onnx: not a lyricalign model \(no 'lyricalign' entry"):
        AcousticModel(tmp_path / "bare.onnx")
    wrong_units = copy_model(tiny_model, tmp_path, "wrong.onnx")
    sidecar_path(wrong_units).write_text(
        replace(read_metadata(tiny_model), units=default_units()[:-1]).to_json(), encoding="utf-8"
    )
    with pytest.raises(ModelError, match="model outputs 59 classes but its metadata lists 58 units"):
        AcousticModel(wrong_units)


def test_runtime_options_validation_and_device_selection() -> None:
    with pytest.raises(ValueError, match="overlap_seconds must be > 0"):
        RuntimeOptions(overlap_seconds=0)
    with pytest.raises(ValueError, match="must exceed twice overlap_seconds"):
        RuntimeOptions(window_seconds=2.0, overlap_seconds=1.0)
    with pytest.raises(ValueError, match="device must be one of"):
        RuntimeOptions(device="tpu")
    cpu_only = ["AzureExecutionProvider", "CPUExecutionProvider"]
    with_cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert RuntimeOptions().providers(with_cuda) == ["CPUExecutionProvider"]
    assert RuntimeOptions(device="auto").providers(cpu_only) == ["CPUExecutionProvider"]
    assert RuntimeOptions(device="auto").providers(with_cuda) == with_cuda
    assert RuntimeOptions(device="cuda").providers(with_cuda) == with_cuda
    with pytest.raises(ModelError, match="device 'cuda' requested but onnxruntime has no CUDA provider"):
        RuntimeOptions(device="cuda").providers(cpu_only)


# --- windowing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_samples", [1, 319, 320, 321, 16_000, 48_000 - 1, 48_000, 123_457])
def test_plan_tiles_every_frame_once(n_samples: int) -> None:
    geometry = window_geometry(SHORT_WINDOWS, STRIDE)
    assert geometry.length == 48_000 and geometry.overlap == 8_000 and geometry.hop == 32_000
    plan = plan_windows(np.ones(n_samples, dtype=np.float32), geometry)
    assert plan.n_frames == math.ceil(n_samples / STRIDE)
    assert plan.windows.shape == (len(plan.offsets), geometry.length) and plan.windows.dtype == np.float32
    covered = np.concatenate([np.arange(f + lo, f + hi) for f, (lo, hi) in zip(plan.frame_offsets, plan.keep)])
    np.testing.assert_array_equal(covered, np.arange(plan.n_frames))
    # The windows hold the audio at their offsets, zero-padded past its end.
    assert plan.windows.sum() == pytest.approx(sum(min(geometry.length, n_samples - o) for o in plan.offsets))


def test_stitched_windows_equal_whole_file_inference(local_model: Path) -> None:
    """With a limited receptive field, windowing must not change any frame (except at the audio's end)."""
    model = AcousticModel(local_model, SHORT_WINDOWS)
    audio = noise(10.3)
    stitched = model.log_probs(audio)
    assert stitched.shape == (math.ceil(audio.size / STRIDE), len(model.metadata.units))
    assert len(model.plan_windows(audio).windows) == 5
    whole = model.infer_windows(normalize_waveform(audio)[None])[0]  # (F, C), F = floor((N - 400) / 320) + 1
    assert whole.shape[0] == (audio.size - 400) // STRIDE + 1
    edge = 10  # frames near the end of the audio see padding differently (positional conv: 8 frames)
    np.testing.assert_allclose(stitched[: whole.shape[0] - edge], whole[:-edge], atol=1e-6)


def test_attention_model_windows_differ_from_whole_file(tiny_model: Path) -> None:
    """The 2-layer attention model sees the whole window: the test above would fail for it."""
    model = AcousticModel(tiny_model, SHORT_WINDOWS)
    audio = noise(10.3)
    whole = model.infer_windows(normalize_waveform(audio)[None])[0]
    assert np.abs(model.log_probs(audio)[:100] - whole[:100]).max() > 1e-4


def test_batched_inference_equals_one_window_at_a_time(tiny_model: Path) -> None:
    model = AcousticModel(tiny_model, SHORT_WINDOWS)
    plan = model.plan_windows(noise(9.0, seed=3))
    batched = model.infer_windows(plan.windows)
    assert batched.shape[0] == len(plan.windows) >= 3 and batched.dtype == np.float32
    singles = np.concatenate([model.infer_windows(w[None]) for w in plan.windows])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    np.testing.assert_allclose(np.exp(batched).sum(axis=-1), 1.0, atol=1e-5)  # log_softmax applied


def test_short_audio_is_one_padded_window(tiny_model: Path) -> None:
    model = AcousticModel(tiny_model)
    log_probs = model.log_probs(noise(0.5))
    assert log_probs.shape == (25, 59)
    assert np.isfinite(log_probs).all()


def test_stitch_rejects_a_model_with_another_stride(tiny_model: Path) -> None:
    model = AcousticModel(tiny_model, SHORT_WINDOWS)
    plan = model.plan_windows(noise(5.0))
    outputs = model.infer_windows(plan.windows)
    with pytest.raises(ModelError, match="frames per window but 125 are needed"):
        model.stitch(plan, outputs[:, ::2])


# --- model store --------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LYRICALIGN_HOME", str(home))
    monkeypatch.delenv("LYRICALIGN_MODEL", raising=False)
    return home / "models"


def test_store_installs_lists_and_resolves(store: Path, tiny_model: Path, tmp_path: Path) -> None:
    assert list_models() == [] and default_model_path() is None
    with pytest.raises(ModelError) as info:
        require_model(None)
    assert str(info.value) == NO_MODEL_MESSAGE
    installed = install_model(tiny_model)
    assert installed == store / "tiny-0.onnx" and installed.read_bytes() == tiny_model.read_bytes()
    assert json.loads(sidecar_path(installed).read_text())["name"] == "tiny"
    assert default_model_path() is None  # untrained models are used only when named
    for name in ("tiny", "tiny@0", "tiny-0", str(installed)):
        assert resolve_model(name) == installed
    with pytest.raises(ModelError, match=r"^no installed model named 'other' \(installed: tiny@0\)$"):
        resolve_model("other")
    with pytest.raises(ModelError, match="no such model file"):
        resolve_model(str(tmp_path / "missing.onnx"))
    assert not list(store.glob("*.part"))


def test_default_is_newest_trained_model_and_env_wins(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = install_model(make_tiny_onnx_model(tmp_path / "a", name="song", version="1", trained=True))
    os.utime(old, (time.time() - 100, time.time() - 100))
    new = install_model(make_tiny_onnx_model(tmp_path / "b", name="song", version="2", trained=True))
    install_model(make_tiny_onnx_model(tmp_path / "c", name="random", version="9"))
    assert [m.tag for m in list_models()][1:] == ["song@2", "song@1"]
    assert default_model_path() == new
    monkeypatch.setenv("LYRICALIGN_MODEL", "song@1")
    assert default_model_path() == old


def test_install_rejects_a_broken_model(store: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        install_model(broken)
    assert not store.exists() or not any(store.iterdir())
