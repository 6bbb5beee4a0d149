"""The HTTP service: its parts (config, codec, admission guard, request checks) and a real ``bentoml serve``."""

from __future__ import annotations

import asyncio
import subprocess
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from _service_utils import TEST_LIMITS, EchoApp
from _synth_utils import SyntheticSong, make_synthetic_song, write_song

from lyricalign.audio import SAMPLE_RATE
from lyricalign.service.codec import decode_array, encode_array
from lyricalign.service.config import ServiceConfig
from lyricalign.service.middleware import AlignGuard
from lyricalign.service.pipeline import RequestError, check_media_type, validate_params

LINES = [["hello", "world", "again"], ["sing", "along", "with", "me"]]
HMM_TOLERANCE = 0.3  # seconds: median |start error| of the HMM engine on a clean synthetic song


# --- parts ---------------------------------------------------------------------------------

def test_config_from_env_parses_and_validates() -> None:
    config = ServiceConfig.from_env({"LYRICALIGN_MAX_UPLOAD_MB": "1.5", "LYRICALIGN_BATCHING": "off",
                                     "LYRICALIGN_MODEL_TAG": "m:v1"})
    assert (config.max_upload_bytes, config.batching, config.model_tag) == (1572864, False, "m:v1")
    with pytest.raises(ValueError, match="LYRICALIGN_MAX_INFLIGHT='many' is not a valid int"):
        ServiceConfig.from_env({"LYRICALIGN_MAX_INFLIGHT": "many"})
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        ServiceConfig(batch_size=1)
    with pytest.raises(ValueError, match="engine_queue"):
        ServiceConfig(engine_workers=3, engine_queue=2)
    for too_long in ("2e6", "inf", "nan"):  # every request's AudioLimits would refuse it: refused at start-up
        with pytest.raises(ValueError, match="max_audio_seconds must be"):
            ServiceConfig.from_env({"LYRICALIGN_MAX_AUDIO_SECONDS": too_long})


def test_codec_round_trip_and_rejects_garbage() -> None:
    array = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    decoded = decode_array(encode_array(array))
    assert decoded.dtype == np.float32 and np.array_equal(decoded, array)
    for bad in ("", "not base64!", encode_array(array)[:20]):
        with pytest.raises(ValueError, match="not an encoded array"):
            decode_array(bad)


def test_validate_params_errors() -> None:
    config = ServiceConfig(max_lyrics_chars=50)
    params = validate_params("Hello world", "Spanish", "UNIFORM", "LRC", config)
    assert (params.method, params.format, params.lyrics.language, len(params.lyrics.words)) == ("uniform", "lrc", "es", 2)
    cases = [
        (("hi", "en", "magic", "json"), 400, "unknown method 'magic'"),
        (("hi", "en", "ctc", "pdf"), 400, "unknown format 'pdf'"),
        (("hi", "klingon", "ctc", "json"), 400, "unsupported language"),
        (("x" * 51, "en", "ctc", "json"), 413, "over the limit of 50"),
        (("   \n ", "en", "ctc", "json"), 422, "lyrics are empty"),
    ]
    for args, status, message in cases:
        with pytest.raises(RequestError, match=message) as info:
            validate_params(*args, config)
        assert info.value.status == status
    # adaptation: the core's rules and messages (lyricalign align refuses the same)
    assert validate_params("hi", "en", "hmm", "json", config, adaptation="0").adaptation == 0
    for method, adaptation, message in [("uniform", "2", "adaptation applies to the hmm method only, not 'uniform'"),
                                        ("hmm", "7", r"adaptation iterations must be an integer in \[0, 5\], got 7"),
                                        ("hmm", "x", "adaptation must be an integer from 0 to 5, got 'x'")]:
        with pytest.raises(RequestError, match=message) as info:
            validate_params("hi", "en", method, "json", config, adaptation=adaptation)
        assert info.value.status == 400
    check_media_type("audio/mpeg")
    check_media_type("application/octet-stream")
    with pytest.raises(RequestError, match="unsupported audio media type 'text/plain'"):
        check_media_type("text/plain")


def _guarded(max_upload_bytes: int = 100, max_inflight: int = 1) -> tuple[AlignGuard, EchoApp]:
    app = EchoApp()
    return AlignGuard(app, max_upload_bytes=max_upload_bytes, max_inflight=max_inflight, retry_after_s=7), app


def test_guard_rejects_media_type_and_size_and_replays_body() -> None:
    async def scenario() -> None:
        guard, _ = _guarded()
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            form = {"content-type": "multipart/form-data; boundary=x"}
            ok = await client.post("/align", content=b"0123456789--x--", headers=form)
            assert (ok.status_code, ok.content) == (200, b"0123456789--x--")
            wrong = await client.post("/align", json={"audio": "/etc/passwd"})
            assert wrong.status_code == 415 and "multipart/form-data" in wrong.json()["error"]
            big = await client.post("/align", content=b"x" * 101, headers=form)
            assert big.status_code == 413 and "over the limit" in big.json()["error"]

            async def streamed():  # no Content-Length: counted while reading
                for _ in range(3):
                    yield b"x" * 60

            chunked = await client.post("/align", content=streamed(), headers=form)
            assert chunked.status_code == 413
            other = await client.post("/elsewhere", content=b"x" * 500)  # only /align is guarded
            assert other.status_code == 200

    asyncio.run(scenario())


def test_guard_sheds_load_with_retry_after() -> None:
    async def scenario() -> None:
        guard, app = _guarded(max_inflight=1)
        app.gate = asyncio.Event()
        transport = httpx.ASGITransport(app=guard)
        form = {"content-type": "multipart/form-data; boundary=x"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = asyncio.create_task(client.post("/align", content=b"a--x--", headers=form))
            while guard.inflight == 0:
                await asyncio.sleep(0.01)
            busy = await client.post("/align", content=b"b--x--", headers=form)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
            app.gate.set()
            assert (await first).status_code == 200
            assert guard.inflight == 0

    asyncio.run(scenario())


# --- a real server -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSong, Path]:
    song = make_synthetic_song(LINES, "en", seed=0)
    return song, write_song(song, tmp_path_factory.mktemp("song") / "song.wav")


def _post(url: str, audio: bytes, lyrics: str | None, media_type: str = "audio/wav", **fields: str) -> httpx.Response:
    data = {**({"lyrics": lyrics} if lyrics is not None else {}), **fields}
    return httpx.post(url + "/align", data=data, files={"audio": ("song.wav", audio, media_type)}, timeout=120)


def _check_contract(body: dict, song: SyntheticSong) -> None:
    words = body["words"]
    assert [w["text"] for w in words] == song.lyrics_text.split()
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w["start"] <= w["end"] <= body["duration"] + 1e-6 for w in words)
    assert body["duration"] == pytest.approx(song.duration, abs=0.01)


@pytest.mark.slow
def test_align_ctc_over_http(live_service, song) -> None:  # noqa: ANN001
    synthetic, path = song
    response = _post(live_service.url, path.read_bytes(), synthetic.lyrics_text, method="ctc")
    assert response.status_code == 200, response.text
    body = response.json()
    _check_contract(body, synthetic)
    assert body["method"] == "ctc" and body["model"] == "tiny@0"


@pytest.mark.slow
def test_align_hmm_matches_known_word_times(live_service, song) -> None:  # noqa: ANN001
    synthetic, path = song
    response = _post(live_service.url, path.read_bytes(), synthetic.lyrics_text)  # default method: hmm
    assert response.status_code == 200, response.text
    body = response.json()
    _check_contract(body, synthetic)
    assert body["method"] == "hmm"
    errors = [abs(w["start"] - t0) for w, (t0, _) in zip(body["words"], synthetic.word_times)]
    assert float(np.median(errors)) < HMM_TOLERANCE, errors


@pytest.mark.slow
def test_align_renders_formats(live_service, song) -> None:  # noqa: ANN001
    synthetic, path = song
    response = _post(live_service.url, path.read_bytes(), synthetic.lyrics_text, method="uniform", format="lrc")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert "hello world again" in response.text and response.text.lstrip().startswith("[")
    assert "x-lyricalign-warnings" not in response.headers


@pytest.mark.slow
def test_warnings_reach_a_client_of_any_format(live_service, song) -> None:  # noqa: ANN001
    """An LRC body cannot say that the lyrics look like an unsupported language: the header does."""
    _, path = song
    dutch = "ik hou van jou en de zon schijnt vandaag heel mooi over het water"
    response = _post(live_service.url, path.read_bytes(), dutch, method="uniform", format="lrc")
    assert response.status_code == 200, response.text
    warnings = json.loads(response.headers["x-lyricalign-warnings"])
    assert any("'nl'" in w and "not supported" in w for w in warnings), warnings
    body = _post(live_service.url, path.read_bytes(), dutch, method="uniform").json()
    assert json.loads(_post(live_service.url, path.read_bytes(), dutch, method="uniform",
                            format="srt").headers["x-lyricalign-warnings"]) == body["extras"]["warnings"]


def _long_wav(seconds: float) -> bytes:
    import io

    buffer = io.BytesIO()
    tone = 0.2 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * 8000)) / 8000)
    sf.write(buffer, tone.astype(np.float32), 8000, format="WAV", subtype="PCM_U8")
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("audio_as_text", 400, "audio must be uploaded as a file part"),
        ("json_body", 415, "multipart/form-data"),
        ("text_media_type", 415, "unsupported audio media type 'text/plain'"),
        ("undecodable", 422, "not a decodable audio file"),
        ("silent", 422, "audio is silent"),
        ("empty_lyrics", 422, "lyrics are empty"),
        ("missing_lyrics", 400, "missing field 'lyrics'"),
        ("long_lyrics", 413, "over the limit of 2000"),
        ("unknown_method", 400, "unknown method 'magic'"),
        ("unknown_language", 400, "unsupported language"),
        ("unknown_field", 400, "unknown field 'langauge' (did you mean 'language'?); the accepted fields are "
                               "audio, lyrics, language, method, format, adaptation, keep_markers"),
        ("too_large", 413, "over the limit of 2.0 MiB"),
        ("too_long", 422, "over the limit of 30 s"),
    ],
)
def test_bad_requests_get_4xx_json_and_server_keeps_answering(live_service, song, case, status, message) -> None:  # noqa: ANN001
    synthetic, path = song
    url, wav, text = live_service.url, path.read_bytes(), synthetic.lyrics_text
    silent = _silent_wav()
    response = {
        "audio_as_text": lambda: httpx.post(url + "/align", files={"audio": (None, "/etc/passwd"), "lyrics": (None, text)}),
        "json_body": lambda: httpx.post(url + "/align", json={"audio": "/etc/passwd", "lyrics": "hi"}),
        "text_media_type": lambda: _post(url, wav, text, media_type="text/plain"),
        "undecodable": lambda: _post(url, b"this is not audio at all" * 10, text, method="uniform"),
        "silent": lambda: _post(url, silent, text, method="uniform"),
        "empty_lyrics": lambda: _post(url, wav, " \n\n "),
        "missing_lyrics": lambda: _post(url, wav, None),
        "long_lyrics": lambda: _post(url, wav, "la " * 700),
        "unknown_method": lambda: _post(url, wav, text, method="magic"),
        "unknown_language": lambda: _post(url, wav, text, language="klingon"),
        "unknown_field": lambda: _post(url, wav, text, method="uniform", langauge="fr"),
        "too_large": lambda: _post(url, b"\0" * (3 * 1024 * 1024), text),
        "too_long": lambda: _post(url, _long_wav(31), text, method="uniform"),
    }[case]()
    assert response.status_code == status, response.text
    assert message in json.dumps(response.json())
    assert httpx.get(url + "/readyz").status_code == 200


def _silent_wav() -> bytes:
    import io

    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE, format="WAV")
    return buffer.getvalue()


@pytest.mark.slow
def test_overload_gets_503_with_retry_after_then_recovers(live_service, song) -> None:  # noqa: ANN001
    synthetic, path = song
    wav = path.read_bytes()
    with ThreadPoolExecutor(4) as pool:  # engine queue is 1: one hmm job runs, the others are refused
        responses = list(pool.map(lambda _: _post(live_service.url, wav, synthetic.lyrics_text, method="hmm"), range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 1 and 503 in statuses, statuses
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == TEST_LIMITS["LYRICALIGN_RETRY_AFTER_S"] and "busy" in busy.json()["error"]
    again = _post(live_service.url, wav, synthetic.lyrics_text, method="uniform")
    assert again.status_code == 200


@pytest.mark.slow
def test_info_and_metrics(live_service, song) -> None:  # noqa: ANN001
    synthetic, path = song
    info = httpx.get(live_service.url + "/info").json()
    assert info["model_tag"].startswith("lyricalign-acoustic:") and info["model"]["trained"] is True and info["ctc_model"]["trained"] is False
    assert info["default_method"] == "hmm" and "ctc" in info["methods"] and "es" in info["languages"]
    assert info["limits"]["max_audio_seconds"] == 30
    assert _post(live_service.url, path.read_bytes(), synthetic.lyrics_text, method="ctc").status_code == 200
    metrics = httpx.get(live_service.url + "/metrics").text
    assert 'lyricalign_audio_seconds_aligned_total{method="ctc"}' in metrics
    assert "lyricalign_word_confidence_bucket" in metrics
    assert not any(m.startswith("lyricalign_word_confidence") and 'method="uniform"' in m for m in metrics.splitlines())


@pytest.mark.slow
def test_load_test_runner_smoke(live_service, tmp_path) -> None:  # noqa: ANN001
    """``loadtests/run.py`` for a few seconds: its own server and Locust process, then a CSV with no failures."""
    import csv
    import os
    import subprocess

    env = {**os.environ, "BENTOML_HOME": str(live_service.bentoml_home)}  # the acoustic checkpoint is there
    proc = subprocess.run(
        [sys.executable, "-m", "lyricalign.loadtests.run", "--scenario", "hmm", "--users", "1", "--spawn-rate", "1",
         "--duration", "6s", "--csv-dir", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(tmp_path / "hmm_stats.csv", newline="") as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    assert int(total["Request Count"]) > 0 and int(total["Failure Count"]) == 0
    assert "throughput=" in proc.stdout and "p95=" in proc.stdout


def _locust(url: str, csv_prefix: Path, *extra: str) -> subprocess.CompletedProcess:
    """Plain ``locust -f loadtests/locustfile.py --headless`` as a user runs it (its own process)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("LYRICALIGN_LOAD_")}
    cmd = [str(Path(sys.executable).with_name("locust")), "-f", "loadtests/locustfile.py", "--headless", "--host", url,
           "-u", "1", "-r", "1", "-t", "10s", "--csv", str(csv_prefix), "--only-summary", "--stop-timeout", "30", *extra]
    return subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                          timeout=300)


def _locust_rows(csv_prefix: Path) -> dict[str, dict[str, str]]:
    import csv

    with open(f"{csv_prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_plain_locust_default_scenario_uses_a_generated_song_and_the_default_method(live_service, tmp_path) -> None:  # noqa: ANN001
    proc = _locust(live_service.url, tmp_path / "default")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _locust_rows(tmp_path / "default")
    assert set(rows) == {"/align [default]", "Aggregated"}  # never the placeholder ctc model
    assert int(rows["Aggregated"]["Request Count"]) > 0 and int(rows["Aggregated"]["Failure Count"]) == 0
    assert "server model lyricalign-acoustic:" in proc.stderr and "default method hmm" in proc.stderr


@pytest.mark.slow
def test_plain_locust_with_a_songs_folder_and_methods(live_service, tmp_path) -> None:  # noqa: ANN001
    from _song_files import write_song_files

    songs = tmp_path / "songs"
    write_song_files(songs, [("short", LINES, 1, ".wav"), ("longer", LINES * 4, 2, ".wav")])
    proc = _locust(live_service.url, tmp_path / "songs", "--songs", str(songs), "--methods", "hmm:2,uniform:1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _locust_rows(tmp_path / "songs")
    assert set(rows) - {"Aggregated"} <= {"/align [hmm, <30s]", "/align [uniform, <30s]"}
    assert int(rows["Aggregated"]["Request Count"]) >= 2 and int(rows["Aggregated"]["Failure Count"]) == 0
    assert "2 song(s)" in proc.stderr


@pytest.mark.slow
def test_plain_locust_refuses_ctc_on_an_untrained_model_and_bad_options(live_service, tmp_path) -> None:  # noqa: ANN001
    proc = _locust(live_service.url, tmp_path / "ctc", "--methods", "ctc")
    assert proc.returncode == 2 and "untrained" in proc.stderr and "--allow-untrained" in proc.stderr
    assert int(_locust_rows(tmp_path / "ctc")["Aggregated"]["Request Count"]) == 0
    proc = _locust(live_service.url, tmp_path / "bad", "--songs", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "not a directory" in proc.stderr
