"""ASGI guard in front of ``POST /align``: admission control before any byte is parsed.

BentoML parses the multipart body (and writes the upload to disk) before the API function runs,
so size, media type and overload must be checked earlier, here:

* more than ``max_inflight`` requests being processed -> 503 + ``Retry-After`` (never queue
  unboundedly: a client retries instead of the server wedging). A request counts as in flight only
  once its body is complete: uploads still trickling in hold no slot, so a few stalled sockets
  cannot lock every client out;
* a body that stalls (no chunk for ``body_timeout_s``) or trickles (slower on average than
  ``min_body_rate`` once it has been read for ``body_timeout_s``) -> 408, connection closed
  (nginx's ``client_body_timeout``);
* a multipart body without its closing boundary (truncated: its last field would be dropped
  silently) -> 400;
* a body that is not ``multipart/form-data`` -> 415 (this also closes BentoML's JSON path, where
  a string ``audio`` field would be read as a path on the server);
* a body larger than ``max_upload_bytes`` (declared or streamed) -> 413.

The accepted body is buffered (bounded by the limit) and replayed to the app. The internal
batching endpoint only gets the media-type check (BentoML answers 500 to a multipart body there).
``GET /docs.json`` is BentoML's OpenAPI document corrected by :func:`.openapi.patch_spec`.

:class:`JSONErrors` gives the routing errors the service's error shape: Starlette answers an unknown
path (404) and a wrong method on a known path (405) with plain text; every other refusal of this
service is ``{"error": message}`` JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ALIGN_PATH = "/align"
BATCH_PATH = "/infer_windows"
BATCH_PATHS = (BATCH_PATH, "/score_frames")  # the internal batchable endpoints: JSON only
DOCS_PATH = "/docs.json"
ROUTING_STATUSES = (404, 405)  # Starlette's "Not Found" / "Method Not Allowed", plain text
SHOWN_PATH_CHARS = 200  # a request path is quoted up to this length in an error message


@dataclass(frozen=True)
class Rejection:
    status: int
    message: str
    retry_after: int | None = None
    close: bool = False  # also close the connection (the rest of the body is not read)


class AlignGuard:
    """Pure ASGI middleware; BentoML instantiates it with ``add_asgi_middleware(AlignGuard, **options)``."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, max_inflight: int, retry_after_s: int,
                 body_timeout_s: float = 20.0, min_body_rate: int = 16 * 1024) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_inflight = max_inflight
        self.retry_after_s = retry_after_s
        self.body_timeout_s = body_timeout_s
        self.min_body_rate = min_body_rate
        self.inflight = 0  # requests with a complete body being processed (one event loop: no lock)
        self.receiving = 0  # requests whose body is still arriving (reported, not limited)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"].rstrip("/") if scope["type"] == "http" else ""
        if path in BATCH_PATHS and scope["method"] == "POST" and _media_type(scope)[0] != "application/json":
            await _reject(send, Rejection(415, "send application/json to this endpoint"))
            return
        if path == DOCS_PATH and scope["method"] == "GET":
            await _patched_docs(self.app, scope, receive, send)
            return
        if path != ALIGN_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        rejection = self._busy() or self._check_headers(scope)  # busy: refused before a byte is read
        body = None
        if rejection is None:
            self.receiving += 1
            try:
                body, rejection = await self._read_body(receive, _boundary(scope))
            finally:
                self.receiving -= 1
        rejection = rejection or self._busy()  # re-checked: others may have completed their bodies meanwhile
        if rejection is not None:
            await _reject(send, rejection)
            return
        self.inflight += 1
        try:
            await self.app(scope, _replay(body or b"", receive), send)
        finally:
            self.inflight -= 1

    def _busy(self) -> Rejection | None:
        if self.inflight < self.max_inflight:
            return None
        return Rejection(503, f"server busy: {self.inflight} alignments in progress, retry later", self.retry_after_s)

    def _check_headers(self, scope: Scope) -> Rejection | None:
        media_type, parameters = _media_type(scope)
        if media_type != "multipart/form-data":
            shown = media_type or "none"
            return Rejection(415, f"unsupported request content type {shown!r}: send multipart/form-data "
                                  "with an 'audio' file and a 'lyrics' field")
        if "boundary=" not in parameters.lower():
            return Rejection(400, "multipart/form-data content type without a boundary")
        declared = _headers(scope).get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return Rejection(400, f"invalid Content-Length {declared!r}")
            if length > self.max_upload_bytes:
                return self._too_large(length)
        return None

    async def _read_body(self, receive: Receive, boundary: bytes) -> tuple[bytes | None, Rejection | None]:
        """The whole body, or why not: 400 disconnected/truncated, 408 stalled/too slow, 413 too large."""
        chunks: list[bytes] = []
        size = 0
        started = time.monotonic()
        while True:
            try:
                message = await asyncio.wait_for(receive(), timeout=self.body_timeout_s)
            except asyncio.TimeoutError:
                return None, Rejection(408, f"request body stalled: no data for {self.body_timeout_s:g} s "
                                            f"after {size} bytes", close=True)
            if message["type"] == "http.disconnect":
                return None, Rejection(400, "client disconnected before the request body was complete")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_upload_bytes:
                return None, self._too_large(size, at_least=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                body = b"".join(chunks)
                if boundary and b"--" + boundary + b"--" not in body:
                    return None, Rejection(400, "truncated multipart body: the closing boundary is missing")
                return body, None
            elapsed = time.monotonic() - started
            if self.min_body_rate and elapsed > self.body_timeout_s and size < self.min_body_rate * elapsed:
                return None, Rejection(408, f"request body too slow: {size} bytes in {elapsed:.0f} s, under "
                                            f"{self.min_body_rate} bytes/s", close=True)

    def _too_large(self, size: int, at_least: bool = False) -> Rejection:
        limit_mb = self.max_upload_bytes / (1024 * 1024)
        size_mb = size / (1024 * 1024)
        return Rejection(413, f"request body is {'over ' if at_least else ''}{size_mb:.1f} MiB, "
                              f"over the limit of {limit_mb:.1f} MiB")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _media_type(scope: Scope) -> tuple[str, str]:
    """``("multipart/form-data", "boundary=...")`` from the Content-Type header (lower-cased type)."""
    media_type, _, parameters = _headers(scope).get("content-type", "").partition(";")
    return media_type.strip().lower(), parameters


def _boundary(scope: Scope) -> bytes:
    """The multipart boundary of the Content-Type header (quotes removed), as bytes; b"" if none."""
    for parameter in _media_type(scope)[1].split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"').encode("latin-1")
    return b""


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body once, then defers to the real one (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reject(send: Send, rejection: Rejection) -> None:
    logger.info("rejected /align with %d: %s", rejection.status, rejection.message)
    body = json.dumps({"error": rejection.message}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if rejection.retry_after is not None:
        headers.append((b"retry-after", str(rejection.retry_after).encode()))
    if rejection.close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _patched_docs(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the app's OpenAPI JSON through :func:`.openapi.patch_spec`."""
    from .openapi import patch_spec

    start: Message = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    body = b"".join(chunks)
    if start.get("status") == 200:
        body = json.dumps(patch_spec(json.loads(body))).encode("utf-8")
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": start.get("status", 500), "headers": headers})
    await send({"type": "http.response.body", "body": body})


class JSONErrors:
    """Pure ASGI middleware: Starlette's plain-text 404 and 405 answers -> ``{"error": message}`` JSON.

    Starlette's router answers an unknown path and a wrong method with ``text/plain`` bodies ("Not
    Found", "Method Not Allowed") that a client parsing the service's JSON errors cannot read. Only those
    are rewritten (status and the other headers, ``Allow`` included, are kept); a 404 or 405 some route
    already answers as JSON passes unchanged, and so does every other response (``/livez``, ``/readyz``,
    ``/metrics``, the docs).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_json_errors(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and _is_plain_routing_error(message):
                replaced = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in (b"content-type", b"content-length")]
                body = json.dumps({"error": _routing_message(message["status"], scope, _allow(headers))}).encode("utf-8")
                headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({**message, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            elif not (replaced and message["type"] == "http.response.body"):  # the plain-text body is dropped
                await send(message)

        await self.app(scope, receive, send_json_errors)


def _is_plain_routing_error(start: Message) -> bool:
    if start["status"] not in ROUTING_STATUSES:
        return False
    content_type = next((v for k, v in start.get("headers", []) if k.lower() == b"content-type"), b"")
    return content_type.split(b";")[0].strip().lower() == b"text/plain"


def _allow(headers: list[tuple[bytes, bytes]]) -> str:
    """The ``Allow`` header's methods, sorted (Starlette lists them from a set: in any order)."""
    value = next((v.decode("latin-1") for k, v in headers if k.lower() == b"allow"), "")
    return ", ".join(sorted(m.strip() for m in value.split(",") if m.strip()))


def _routing_message(status: int, scope: Scope, allow: str) -> str:
    path = scope.get("path", "")
    shown = repr(path if len(path) <= SHOWN_PATH_CHARS else path[:SHOWN_PATH_CHARS] + "...")
    method = scope.get("method", "")
    if status == 405:
        allowed = f": use {allow}" if allow else ""
        return f"method {method} is not allowed on {shown}{allowed}"
    return (f"no route {method} {shown}: this service answers POST {ALIGN_PATH} and GET /info "
            f"(the API: GET {DOCS_PATH})")
