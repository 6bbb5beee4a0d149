"""What a new user of the service meets: a server with the default settings (``bentoml serve`` and the
gRPC gateway on 127.0.0.1), the default language (auto), markers, lyrics as a file part, the Python
clients' ``format=``, and ``ctc`` refused while only the untrained placeholder model is served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import grpc
import httpx
import pytest

from _service_utils import RunningService, bentoml_service, grpc_gateway
from _synth_utils import make_synthetic_song, write_song

from lyricalign.formats import parse_lrc, parse_srt
from lyricalign.service.clients import GRPCClient, HTTPClient, ServiceError

pytestmark = pytest.mark.slow

LINES = [["te", "quiero", "con", "todo", "mi", "corazón"], ["la", "noche", "es", "larga", "sin", "ti"]]
LYRICS = "[Verso 1]\nte quiero con todo mi corazón\nla noche es larga sin ti\n(x2)\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """Default limits and settings (no LYRICALIGN_ALLOW_UNTRAINED): what `scripts/serve.sh` starts."""
    with bentoml_service(tmp_path_factory.mktemp("defaults")) as service:
        yield service


@pytest.fixture(scope="module")
def gateway(server: RunningService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with grpc_gateway(server.url, tmp_path_factory.mktemp("defaults-grpc")) as target:
        yield target


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_song(make_synthetic_song(LINES, "es", seed=3), tmp_path_factory.mktemp("song") / "song.wav")


def _check_spanish_with_markers(words: list[dict], lines: list[dict], language: str) -> None:
    assert language == "es"
    assert [w["text"] for w in words] == LYRICS.split()
    assert [w["marker"] for w in words] == [True, True] + [False] * 12 + [True]
    assert all(w["interpolated"] for w in words if w["marker"])
    assert [ln["marker"] for ln in lines] == [True, False, False, True]


def test_http_defaults_detect_the_language_and_flag_markers(server: RunningService, song: Path) -> None:
    response = httpx.post(server.url + "/align", data={"lyrics": LYRICS},
                          files={"audio": ("song.wav", song.read_bytes(), "audio/wav")}, timeout=300)
    assert response.status_code == 200, response.text
    body = response.json()
    info = httpx.get(server.url + "/info").json()
    assert body["method"] == info["default_method"] and body["model"]
    _check_spanish_with_markers(body["words"], body["lines"], body["language"])
    assert body["extras"]["language_detection"]["language"] == "es"


def test_http_accepts_lyrics_as_a_file_part_and_keep_markers(server: RunningService, song: Path) -> None:
    files = {"audio": ("song.wav", song.read_bytes(), "audio/wav"),
             "lyrics": ("song.txt", ("\ufeff" + LYRICS).encode("utf-8"), "text/plain")}
    response = httpx.post(server.url + "/align", data={"method": "uniform", "format": "srt"}, files=files, timeout=300)
    assert response.status_code == 200, response.text
    assert [c.text for c in parse_srt(response.text)] == ["te quiero con todo mi corazón", "la noche es larga sin ti"]
    kept = httpx.post(server.url + "/align", data={"method": "uniform", "format": "srt", "keep_markers": "true"},
                      files=files, timeout=300)
    assert kept.status_code == 200 and "[Verso 1]" in [c.text for c in parse_srt(kept.text)]
    bad = {**files, "lyrics": ("song.txt", "canción".encode("latin-1"), "text/plain")}
    refused = httpx.post(server.url + "/align", data={"method": "uniform"}, files=bad, timeout=60)
    assert refused.status_code == 400 and "UTF-8" in refused.json()["error"]


def test_ctc_with_the_untrained_model_is_refused(server: RunningService, gateway: str, song: Path) -> None:
    assert httpx.get(server.url + "/info").json()["ctc_model"]["trained"] is False
    response = httpx.post(server.url + "/align", data={"lyrics": LYRICS, "method": "ctc"},
                          files={"audio": ("song.wav", song.read_bytes(), "audio/wav")}, timeout=60)
    assert response.status_code == 409 and "untrained" in response.json()["error"]
    with HTTPClient(server.url) as client, pytest.raises(ServiceError) as info:
        client.align(song, LYRICS, method="ctc")
    assert info.value.status == 409 and "untrained" in info.value.message
    with GRPCClient(gateway) as client, pytest.raises(grpc.RpcError) as rpc:
        client.align(song, LYRICS, method="ctc")
    assert rpc.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "untrained" in rpc.value.details()


def test_http_client_format_and_auto_language(server: RunningService, song: Path) -> None:
    with HTTPClient(server.url) as client:
        result = client.align(song, LYRICS, method="uniform")
        lrc = client.align(song, LYRICS, method="uniform", format="lrc")
        ass = client.align(song, LYRICS, method="uniform", format="ass")
    assert result.language == "es" and result.extras["language_detection"]["language"] == "es"
    assert [w.marker for w in result.words][:2] == [True, True]
    assert [text for _, text in parse_lrc(lrc) if text] == ["te quiero con todo mi corazón", "la noche es larga sin ti"]
    assert ass.startswith("[Script Info]") and ass.count("Dialogue:") == 2


def client_default_method(gateway: str) -> str:
    with GRPCClient(gateway) as client:
        return client.info()["default_method"]


def test_grpc_defaults_format_markers_and_extras(gateway: str, song: Path) -> None:
    with GRPCClient(gateway) as client:
        result = client.align(song, LYRICS)  # language auto, the server's default method
        srt = client.align(song, LYRICS, method="uniform", format="srt")
        kept = client.align(song, LYRICS, method="uniform", keep_markers=True)
    data = result.to_dict()
    _check_spanish_with_markers(data["words"], data["lines"], data["language"])
    assert result.method == client_default_method(gateway) and result.extras["language_detection"]["language"] == "es"
    assert all(round(w.start, 3) == w.start for w in result.words)
    assert [c.text for c in parse_srt(srt)] == ["te quiero con todo mi corazón", "la noche es larga sin ti"]
    assert not any(w.marker for w in kept.words)
    assert json.loads(json.dumps(result.extras))  # JSON-safe through the gateway
