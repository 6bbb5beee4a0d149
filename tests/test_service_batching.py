"""Batching of the ctc path: settings and their env overrides, capped model calls, and a server with batching on.

The shared service tests run with the defaults (batching off); this module keeps the batchable path tested.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

from _model_utils import make_tiny_onnx_model
from _service_utils import TEST_LIMITS, RunningService, bentoml_service
from _synth_utils import make_synthetic_song, write_song

from lyricalign.acoustic.ctc_model import AcousticModel
from lyricalign.service.codec import decode_array, encode_array
from lyricalign.service.config import ServiceConfig
from lyricalign.service.pipeline import CTCPath

LINES = [["hello", "world", "again"], ["sing", "along", "with", "me"]] * 4


def test_batching_settings_from_env() -> None:
    config = ServiceConfig.from_env({"LYRICALIGN_BATCHING": "on", "LYRICALIGN_BATCH_SIZE": "8",
                                     "LYRICALIGN_BATCH_LATENCY_MS": "2000", "LYRICALIGN_INTRA_OP_THREADS": "1"})
    assert (config.batching, config.batch_size, config.batch_latency_ms, config.intra_op_threads) == (True, 8, 2000, 1)
    assert config.model_threads == 1
    with pytest.raises(ValueError, match=r"intra_op_threads must be >= 0 \(0: automatic\), got -1"):
        ServiceConfig(intra_op_threads=-1)


def test_model_threads_follow_batching_unless_set() -> None:
    assert ServiceConfig(batching=False).model_threads == 1  # concurrent requests are the parallelism
    assert ServiceConfig(batching=True).model_threads == 0  # one call at a time: every core
    assert ServiceConfig(batching=True, intra_op_threads=3).model_threads == 3


def test_ctc_path_caps_windows_per_call(tiny_model: Path) -> None:
    ctc = CTCPath(tiny_model, intra_op_threads=1, max_batch=2)
    calls: list[int] = []
    run = ctc.model.infer_windows
    ctc.model.infer_windows = lambda w: calls.append(len(w)) or run(w)  # type: ignore[method-assign]
    windows = np.random.default_rng(0).standard_normal((5, ctc.model.window_length)).astype(np.float32)
    capped = ctc.infer(windows)
    assert calls == [2, 2, 1]
    np.testing.assert_allclose(capped, run(windows), atol=1e-5)
    assert ctc.model.options.intra_op_threads == 1


# --- a real server with batching on ------------------------------------------------------------

@pytest.fixture(scope="module")
def batching_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The service with the batchable path on and batches of 2 windows (so requests get split)."""
    env = {**TEST_LIMITS, "LYRICALIGN_BATCHING": "1", "LYRICALIGN_BATCH_SIZE": "2", "LYRICALIGN_HMM_QUEUE": "4",
           "LYRICALIGN_HMM_WORKERS": "2"}
    with bentoml_service(tmp_path_factory.mktemp("batching"), env) as service:
        yield service


@pytest.mark.slow
def test_batching_endpoint_equals_the_model(batching_service: RunningService, tmp_path: Path) -> None:
    model = AcousticModel(make_tiny_onnx_model(tmp_path))  # seed 0: the served model's weights
    windows = np.random.default_rng(1).standard_normal((3, model.window_length)).astype(np.float32)
    items = [encode_array(w) for w in windows] + [encode_array(windows[0, :100])]  # last: wrong length
    response = httpx.post(batching_service.url + "/infer_windows", json={"windows": items}, timeout=120)
    assert response.status_code == 200, response.text
    served = response.json()
    assert len(served) == 4 and served[3] == ""
    np.testing.assert_allclose(np.stack([decode_array(x) for x in served[:3]]), model.infer_windows(windows), atol=1e-4)


@pytest.mark.slow
def test_concurrent_ctc_requests_through_the_batcher(batching_service: RunningService, tmp_path: Path) -> None:
    song = make_synthetic_song(LINES, "en", seed=3)
    assert song.duration > 15.0  # two windows per request, so 3 requests make 6 windows in batches of 2
    audio = write_song(song, tmp_path / "song.wav").read_bytes()

    def align(_: int) -> httpx.Response:
        return httpx.post(batching_service.url + "/align", data={"lyrics": song.lyrics_text, "method": "ctc"},
                          files={"audio": ("song.wav", audio, "audio/wav")}, timeout=120)

    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(align, range(3)))
    for response in responses:
        assert response.status_code == 200, response.text
        words = response.json()["words"]
        assert [w["text"] for w in words] == song.lyrics_text.split()
        assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    batching = httpx.get(batching_service.url + "/info", timeout=10).json()["batching"]
    assert (batching["enabled"], batching["max_batch_size"], batching["intra_op_threads"]) == (True, 2, 0)


# --- the hmm path: senone scoring batched across requests ------------------------------------------

def test_score_items_equal_one_call_per_item(acoustic_checkpoint: Path) -> None:
    """Blocks of several requests scored together (union of senones, grouped by transform) give each
    block exactly what its own call would."""
    from lyricalign.acoustic.checkpoint import load_checkpoint
    from lyricalign.acoustic.scorer import MeanTransform, SenoneScorer, SenoneSelection
    from lyricalign.service.acoustic_path import ScoreItem, score_items

    checkpoint = load_checkpoint(acoustic_checkpoint)
    scorer = SenoneScorer.for_checkpoint(checkpoint)
    codebook = checkpoint.definition.senone_codebook
    rng = np.random.default_rng(2)
    identity = MeanTransform.identity(42, 39)
    shifted = MeanTransform(np.full((42, 39), 0.9, np.float32), np.full((42, 39), 0.3, np.float32))
    items = [ScoreItem(rng.normal(0, 2, (n, 39)).astype(np.float32),
                       SenoneSelection.of(rng.choice(5126, k, replace=False), codebook, 42), transform)
             for n, k, transform in ((30, 50, identity), (17, 80, identity), (9, 40, shifted))]
    decoded = [ScoreItem.decode(item.encode()) for item in items]
    for item, together in zip(items, score_items(scorer, codebook, decoded)):
        np.testing.assert_allclose(together, scorer(item.features, item.selection, item.transform), atol=1e-4)


@pytest.mark.slow
def test_hmm_requests_through_the_batcher_equal_the_cli_path(batching_service: RunningService, tmp_path: Path,
                                                             acoustic_checkpoint: Path) -> None:
    from lyricalign.engines.hmm import HMMEngine
    from lyricalign.text import parse_lyrics

    song = make_synthetic_song(LINES[:4], "en", seed=4)
    audio = write_song(song, tmp_path / "song.wav")
    local = HMMEngine(adaptation_iterations=1).align(
        __import__("lyricalign.audio", fromlist=["load_audio"]).load_audio(audio), parse_lyrics(song.lyrics_text, "en"))

    def align(_: int) -> httpx.Response:
        return httpx.post(batching_service.url + "/align", data={"lyrics": song.lyrics_text, "language": "en",
                                                                 "adaptation": "1"},
                          files={"audio": ("song.wav", audio.read_bytes(), "audio/wav")}, timeout=300)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(align, range(2)))
    for response in responses:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["method"] == "hmm" and body["model"] == local.model
        np.testing.assert_allclose([w["start"] for w in body["words"]], [w.start for w in local.words], atol=1e-6)
        assert body["extras"]["adaptation"]["iterations"] == local.extras["adaptation"]["iterations"] == 1
