"""Hostile clients against the HTTP service (issue 9): stalled uploads, odd filenames, truncated and
repeated multipart fields, refusals that must cost nothing, logs of client errors, the default bind.

The admission guard is tested in-process (a real ASGI app behind it); everything else against the
session's real ``bentoml serve`` (``live_service``), with raw sockets where a client must misbehave.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from _service_utils import REPO, TEST_LIMITS, EchoApp, register_acoustic_checkpoint

from lyricalign.devserver import bentoml_command, free_port, process_group, wait_ready
from lyricalign.service.middleware import AlignGuard

BODY_TIMEOUT_S = float(TEST_LIMITS["LYRICALIGN_BODY_TIMEOUT_S"])
DEFAULT_MAX_INFLIGHT = 16  # the session server keeps the default


def _wav(seconds: float = 3.0) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="WAV")
    return buffer.getvalue()


def _multipart(fields: list[tuple[str, str]], audio: bytes | None, filename: str = "song.wav",
               boundary: str = "b0undary") -> tuple[bytes, str]:
    """A multipart body built by hand (so it can repeat fields or lose its end); returns (body, content type)."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields]
    if audio is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="{filename}"\r\n'
                     f"Content-Type: audio/wav\r\n\r\n".encode() + audio + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- the guard, in process ------------------------------------------------------------------

def _scope() -> dict:
    return {"type": "http", "method": "POST", "path": "/align",
            "headers": [(b"content-type", b"multipart/form-data; boundary=x")]}


async def _call(guard: AlignGuard, receive) -> tuple[int, bytes]:  # noqa: ANN001
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await guard(_scope(), receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_guard_stalled_body_holds_no_slot_and_gets_408() -> None:
    """Issue 9.1: a body that stops arriving neither blocks others (max_inflight=1) nor waits for ever."""
    async def scenario() -> None:
        guard = AlignGuard(EchoApp(), max_upload_bytes=10_000, max_inflight=1, retry_after_s=1,
                           body_timeout_s=0.5, min_body_rate=0)
        stall = asyncio.Event()

        async def stalled_receive() -> dict:
            if not stall.is_set():
                stall.set()
                return {"type": "http.request", "body": b"--x\r\n", "more_body": True}
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

        async def complete_receive() -> dict:
            return {"type": "http.request", "body": b"--x--", "more_body": False}

        stalled = asyncio.create_task(_call(guard, stalled_receive))
        await stall.wait()
        started = time.monotonic()
        assert await _call(guard, complete_receive) == (200, b"--x--")  # not 503: the stalled one holds no slot
        status, body = await stalled
        assert status == 408 and b"stalled" in body
        assert time.monotonic() - started < 2.0 and guard.inflight == 0

    asyncio.run(scenario())


def test_guard_trickling_body_gets_408() -> None:
    """Issue 9.1: a few bytes per interval, each within the idle timeout, is still refused by the rate."""
    async def scenario() -> None:
        guard = AlignGuard(EchoApp(), max_upload_bytes=10_000, max_inflight=4, retry_after_s=1,
                           body_timeout_s=0.3, min_body_rate=1000)

        async def trickle() -> dict:
            await asyncio.sleep(0.1)
            return {"type": "http.request", "body": b"z", "more_body": True}

        status, body = await asyncio.wait_for(_call(guard, trickle), timeout=5)
        assert status == 408 and b"too slow" in body

    asyncio.run(scenario())


def test_guard_refuses_truncated_multipart() -> None:
    """Issue 9.9: no closing boundary -> 400, the body never reaches the form parser."""
    async def scenario() -> None:
        guard = AlignGuard(EchoApp(), max_upload_bytes=10_000, max_inflight=4, retry_after_s=1)

        async def truncated() -> dict:
            return {"type": "http.request", "body": b'--x\r\nContent-Disposition: form-data; name="language"\r\n\r\nes',
                    "more_body": False}

        status, body = await _call(guard, truncated)
        assert status == 400 and b"closing boundary" in body

    asyncio.run(scenario())


# --- the real server --------------------------------------------------------------------------

def _stalled_socket(url: str) -> socket.socket:
    """Headers announcing 100 kB, then 10 bytes of body, then nothing."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(f"POST /align HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                 f"Content-Length: 100000\r\n\r\n--x\r\nConte".encode())
    return sock


@pytest.mark.slow
def test_stalled_uploads_do_not_lock_out_clients(live_service) -> None:  # noqa: ANN001
    """Issue 9.1: more stalled sockets than in-flight slots; a genuine request still gets 200, the
    stalled ones get 408 after the body timeout."""
    sockets = [_stalled_socket(live_service.url) for _ in range(DEFAULT_MAX_INFLIGHT + 2)]
    try:
        time.sleep(0.5)
        response = httpx.post(live_service.url + "/align", data={"lyrics": "hello world", "method": "uniform"},
                              files={"audio": ("a.wav", _wav(), "audio/wav")}, timeout=60)
        assert response.status_code == 200, response.text
        started = time.monotonic()
        for sock in sockets:
            reply = sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert time.monotonic() - started < BODY_TIMEOUT_S * 3 + 5
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.slow
@pytest.mark.parametrize("filename", ["../../etc/passwd.wav", "a/b/c.wav", "x" * 300 + ".wav", "con:.wav"])
def test_client_filenames_are_never_paths(live_service, filename: str) -> None:  # noqa: ANN001
    """Issue 9.3: the client's filename was a temp-file suffix (``/`` or a long name: 500)."""
    before = sorted(p.name for p in live_service.tmp.rglob("*"))
    response = httpx.post(live_service.url + "/align", data={"lyrics": "hello world", "method": "uniform"},
                          files={"audio": (filename, _wav(), "audio/wav")}, timeout=60)
    assert response.status_code == 200, response.text
    assert sorted(p.name for p in live_service.tmp.rglob("*")) == before  # nothing written per request


@pytest.mark.slow
@pytest.mark.parametrize(("fields", "message"), [
    ([("lyrics", "hello world"), ("lyrics", "other words")], "'lyrics' given more than once"),
    ([("lyrics", "hello world"), ("language", "es"), ("language", "en")], "'language' given more than once"),
    ([("lyrics", "hello world"), ("method", "uniform"), ("method", "hmm")], "'method' given more than once"),
])
def test_duplicate_known_fields_get_400(live_service, fields, message: str) -> None:  # noqa: ANN001
    """Issue 9.9: the last duplicate won silently."""
    body, content_type = _multipart(fields, _wav())
    response = httpx.post(live_service.url + "/align", content=body, headers={"content-type": content_type})
    assert response.status_code == 400 and message in response.json()["error"]


@pytest.mark.slow
def test_truncated_multipart_gets_400(live_service) -> None:  # noqa: ANN001
    """Issue 9.9: without its closing boundary the last field (``language=es``) was dropped and the song
    aligned as English."""
    body, content_type = _multipart([("method", "uniform"), ("lyrics", "hola mundo")], _wav())
    body += b'--b0undary\r\nContent-Disposition: form-data; name="language"\r\n\r\nes\r\n'
    body = body.replace(b"--b0undary--\r\n", b"")
    response = httpx.post(live_service.url + "/align", content=body, headers={"content-type": content_type})
    assert response.status_code == 400 and "closing boundary" in response.json()["error"]


@pytest.mark.slow
@pytest.mark.parametrize(("fields", "audio", "message"), [
    ([("method", "uniform")], True, "missing field 'lyrics'"),
    ([("lyrics", "hello")], False, "missing file part 'audio'"),
])
def test_client_errors_log_one_line_no_traceback(live_service, fields, audio, message: str) -> None:  # noqa: ANN001
    """Issue 9.10: a missing field returned pydantic's raw output and logged an ERROR traceback."""
    size = live_service.log.stat().st_size
    body, content_type = _multipart(fields, _wav() if audio else None)
    response = httpx.post(live_service.url + "/align", content=body, headers={"content-type": content_type})
    assert response.status_code == 400 and response.json()["error"].startswith(message)
    time.sleep(1.0)  # the server's log is written asynchronously
    with open(live_service.log, "rb") as log:
        log.seek(size)
        new = log.read().decode(errors="replace")
    assert "Traceback" not in new and "ERROR" not in new, new[-3000:]


@pytest.mark.slow
def test_nul_bytes_in_lyrics_are_refused(live_service) -> None:  # noqa: ANN001
    """Issue 9.10: a NUL byte passed into the output."""
    response = httpx.post(live_service.url + "/align", data={"lyrics": "hello\x00world", "method": "uniform"},
                          files={"audio": ("a.wav", _wav(), "audio/wav")}, timeout=60)
    assert response.status_code == 422 and "NUL" in response.json()["error"]


@pytest.mark.slow
def test_full_engine_queue_refuses_before_decoding(live_service) -> None:  # noqa: ANN001
    """Issue 9.8: with the engine queue full (1 place), a request is refused with 503 at once: its
    audio (undecodable here) is never decoded, so the answer is 503, not 422. (The pocketsphinx engine
    occupies the queue: it takes many seconds on 29 s of audio, the default hmm barely one.)"""
    long_song = _wav(29.0)
    words = " ".join(["la"] * 80)
    first: dict[str, httpx.Response] = {}

    def occupy() -> None:
        first["response"] = httpx.post(live_service.url + "/align", data={"lyrics": words, "method": "sphinx"},
                                       files={"audio": ("a.wav", long_song, "audio/wav")}, timeout=300)

    thread = threading.Thread(target=occupy)
    thread.start()
    try:
        time.sleep(0.7)  # decoded and running by now; sphinx on 29 s takes seconds even in a warm worker
        started = time.monotonic()
        refused = httpx.post(live_service.url + "/align", data={"lyrics": "hello", "method": "sphinx"},
                             files={"audio": ("a.wav", b"not audio at all" * 100, "audio/wav")}, timeout=60)
        assert refused.status_code == 503, (refused.text, first)
        assert refused.headers["retry-after"] == TEST_LIMITS["LYRICALIGN_RETRY_AFTER_S"]
        assert time.monotonic() - started < 1.0
    finally:
        thread.join()
    assert first["response"].status_code in (200, 422), first["response"].text


@pytest.mark.slow
def test_openapi_documents_every_answer(live_service) -> None:  # noqa: ANN001
    """Issue 9.10: 413/415/422/503 and GET /info were missing, ``detail`` was documented as a string."""
    spec = httpx.get(live_service.url + "/docs.json").json()
    align = spec["paths"]["/align"]["post"]["responses"]
    assert {"200", "400", "408", "413", "415", "422", "503"} <= set(align)
    assert "text/vtt" in align["200"]["content"]
    assert "/info" in spec["paths"] and "200" in spec["paths"]["/info"]["get"]["responses"]
    detail = spec["components"]["schemas"]["InvalidArgument"]["properties"]["detail"]
    assert {"type": "array", "items": {"type": "object"}} in detail["oneOf"]


@pytest.mark.slow
def test_bentoml_serve_without_host_binds_loopback(tmp_path: Path) -> None:
    """Issue 9.11: plain ``bentoml serve`` bound 0.0.0.0 (BentoML's default); the service config says 127.0.0.1."""
    home = tmp_path / "bentoml"
    register_acoustic_checkpoint(home)
    port = free_port()
    env = {**os.environ, "BENTOML_HOME": str(home)}
    env.pop("BENTOML_HOST", None)
    env.pop("LYRICALIGN_HOST", None)
    log = tmp_path / "serve.log"
    with process_group(bentoml_command(port, host=None), env, log, cwd=REPO) as proc:
        wait_ready(proc, f"http://127.0.0.1:{port}/readyz", log)
        listening = _listening_addresses(port)
    assert listening == {"127.0.0.1"}, (listening, log.read_text()[-2000:])


def _wait_ready(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready again after {timeout} s")


def _listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket listening on ``port`` (``/proc/net/tcp``, state 0A), plus "::" forms."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                if len(address) == 8:
                    found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                else:
                    found.add("::" if int(address, 16) == 0 else address)
    return found


def test_json_error_bodies_are_one_object() -> None:
    """The spec's error schema is what the guard sends (a single "error" string)."""
    from lyricalign.service.openapi import ALIGN_ERRORS, patch_spec

    spec = patch_spec({"paths": {"/align": {"post": {"responses": {}}}}, "components": {"schemas": {}}})
    assert spec["components"]["schemas"]["AlignError"]["required"] == ["error"]
    assert set(ALIGN_ERRORS) <= set(spec["paths"]["/align"]["post"]["responses"])
    assert json.loads(json.dumps(spec)) == spec


@pytest.mark.slow
def test_kill_9_of_the_worker_leaves_no_orphan_and_no_temp_file(tmp_path: Path) -> None:
    """Issue 9.5: ``kill -9`` of the HTTP worker mid-request left its engine-pool process running under
    PID 1 and the in-flight upload in ``/tmp/bentoml-request-*``."""
    from _service_utils import bentoml_service

    from lyricalign.devserver import alive, descendants, group_members, worker_pid

    with bentoml_service(tmp_path, {**TEST_LIMITS, "LYRICALIGN_ENGINE_QUEUE": "2"}) as server:
        words = " ".join(["la"] * 80)

        def request() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the worker dies under it
                httpx.post(server.url + "/align", data={"lyrics": words, "method": "sphinx"},
                           files={"audio": ("a.wav", _wav(29.0), "audio/wav")}, timeout=120)

        thread = threading.Thread(target=request)
        thread.start()
        worker = worker_pid(server.pid)
        assert worker is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [p for p in descendants(worker) if alive(p)]:
            time.sleep(0.1)
        children = descendants(worker)
        assert children, "the sphinx request started no engine process"
        time.sleep(1.0)  # mid-request
        os.kill(worker, 9)
        thread.join(timeout=120)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(alive(p) for p in children):
            time.sleep(0.1)
        assert not [p for p in children if alive(p)], "engine processes outlived their worker"
        restarted = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and restarted in (None, worker):
            restarted = worker_pid(server.pid)
            time.sleep(0.2)
        assert restarted not in (None, worker), "no new worker after the kill"
        _wait_ready(server.url)
        # The new worker swept the dead one's private temp folder (with the upload in it) at its start.
        folders = [p.name for p in server.tmp.iterdir() if p.name.startswith("lyricalign-worker-")]
        assert len(folders) == 1, folders
    assert group_members(server.pid) == []
    # ".ses" is onnxruntime's telemetry session id, one per temp dir by design (written at import).
    assert sorted(p.name for p in server.tmp.iterdir() if p.name != ".ses") == [], "temp files outlived the server"
