"""The service's answers to requests it cannot route or read: unknown form fields (400), unknown paths
(404) and wrong methods (405), all JSON ``{"error": message}`` like its other 4xx; in process and
against the real ``bentoml serve`` (the session's ``live_service``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from _synth_utils import SyntheticSong, make_synthetic_song, write_song

from lyricalign.service.middleware import JSONErrors

LINES = [["hello", "world", "again"], ["sing", "along", "with", "me"]]


def test_json_errors_rewrites_only_plain_text_routing_errors() -> None:
    """Starlette's own 404/405 become ``{"error": ...}`` (Allow kept); a route's JSON 404 and every
    other answer pass unchanged."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def missing(request):  # noqa: ANN001, ANN202
        return JSONResponse({"error": "task not found"}, status_code=404)

    async def plain(request):  # noqa: ANN001, ANN202
        return PlainTextResponse("\n")

    app = Starlette(routes=[Route("/align", plain, methods=["POST"]), Route("/task", missing),
                            Route("/livez", plain)])

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=JSONErrors(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            unknown = await client.get("/nowhere")
            assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/json"
            assert unknown.json() == {"error": "no route GET '/nowhere': this service answers POST /align and "
                                               "GET /info (the API: GET /docs.json)"}
            assert int(unknown.headers["content-length"]) == len(unknown.content)
            wrong = await client.get("/align")
            assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
            assert wrong.json() == {"error": "method GET is not allowed on '/align': use POST"}
            own = await client.get("/task")
            assert (own.status_code, own.json()) == (404, {"error": "task not found"})
            ok = await client.get("/livez")
            assert (ok.status_code, ok.text, ok.headers["content-type"]) == (200, "\n", "text/plain; charset=utf-8")
            long = await client.get("/" + "x" * 1000)
            assert long.status_code == 404 and len(long.json()["error"]) < 400

    asyncio.run(scenario())



@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSong, Path]:
    song = make_synthetic_song(LINES, "en", seed=0)
    return song, write_song(song, tmp_path_factory.mktemp("song") / "song.wav")


def _post(url: str, audio: bytes, lyrics: str, **fields: str) -> httpx.Response:
    return httpx.post(url + "/align", data={"lyrics": lyrics, **fields},
                      files={"audio": ("song.wav", audio, "audio/wav")}, timeout=120)


@pytest.mark.slow
def test_unknown_form_fields_are_refused_not_ignored(live_service, song) -> None:  # noqa: ANN001
    """A misspelt option was dropped silently: ``langauge=fr`` aligned as auto-detected and answered 200."""
    synthetic, path = song
    url, wav, text = live_service.url, path.read_bytes(), synthetic.lyrics_text
    several = _post(url, wav, text, method="uniform", Format="lrc", rejection="", zzz="1")
    assert several.status_code == 400 and several.headers["content-type"] == "application/json"
    assert several.json() == {"error": "unknown fields 'Format' (did you mean 'format'?), 'rejection', 'zzz'; "
                                       "the accepted fields are audio, lyrics, language, method, format, "
                                       "adaptation, keep_markers"}
    file_part = httpx.post(url + "/align", data={"lyrics": text, "method": "uniform"}, timeout=60,
                           files={"audio": ("song.wav", wav, "audio/wav"), "cover": ("cover.png", b"x", "image/png")})
    assert file_part.status_code == 400 and "unknown field 'cover';" in file_part.json()["error"]
    every_field = _post(url, wav, text, method="uniform", language="en", format="srt", adaptation="",
                        keep_markers="false")
    assert every_field.status_code == 200, every_field.text


@pytest.mark.slow
def test_unknown_paths_and_wrong_methods_get_json_errors(live_service) -> None:  # noqa: ANN001
    """Starlette's plain-text "Not Found" / "Method Not Allowed" are JSON like every other 4xx of the
    service; BentoML's own routes still answer as before."""
    url = live_service.url
    for method, path, status, message in [
        ("GET", "/nowhere", 404, "no route GET '/nowhere': this service answers POST /align and GET /info"),
        ("GET", "/static_content/nothing.js", 404, "no route GET '/static_content/nothing.js'"),
        ("POST", "/static_content/nothing.js", 405, "method POST is not allowed on '/static_content/nothing.js'"),
        ("GET", "/align", 405, "method GET is not allowed on '/align': use POST"),
        ("PUT", "/align", 405, "method PUT is not allowed on '/align': use POST"),
        ("POST", "/info", 405, "method POST is not allowed on '/info': use GET, HEAD"),
        ("DELETE", "/metrics", 405, "method DELETE is not allowed on '/metrics'"),
    ]:
        response = httpx.request(method, url + path, timeout=30)
        assert response.status_code == status and response.headers["content-type"] == "application/json", response.text
        assert list(response.json()) == ["error"] and message in response.json()["error"], response.text
        if status == 405:
            assert "POST" in response.headers["allow"] or "GET" in response.headers["allow"]
    head = httpx.head(url + "/nowhere", timeout=30)
    assert (head.status_code, head.content) == (404, b"")
    assert httpx.get(url + "/livez").status_code == httpx.get(url + "/readyz").status_code == 200
    metrics = httpx.get(url + "/metrics")
    assert metrics.status_code == 200 and "# TYPE bentoml_service_request" in metrics.text
    assert httpx.get(url + "/docs.json").json()["paths"]["/align"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["additionalProperties"] is False
    assert httpx.get(url + "/").headers["content-type"].startswith("text/html")
    assert httpx.get(url + "/info").json()["default_method"] == "hmm"
