"""Python clients for both front ends, returning the core's :class:`AlignmentResult`::

    from lyricalign.service.clients import GRPCClient, HTTPClient

    with HTTPClient("http://127.0.0.1:3000") as client:
        result = client.align("song.mp3", open("song.txt").read())          # language="auto", method hmm
        lrc = client.align("song.mp3", open("song.txt").read(), format="lrc")  # the LRC text
    with GRPCClient("127.0.0.1:50051") as client:
        result = client.align("song.mp3", open("song.txt").read(), language="es")
    print(result.words[0].start, result.extras.get("language_detection"))

``format="json"`` (default) returns an :class:`AlignmentResult`; any other format (lrc, elrc, srt,
vtt, ass, textgrid) returns the text the server rendered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, overload

from lyricalign.language import AUTO
from lyricalign.schema import AlignmentResult

TextFormat = Literal["lrc", "elrc", "srt", "vtt", "ass", "textgrid"]


class ServiceError(RuntimeError):
    """The service refused a request: ``status`` (HTTP code) and the server's ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class HTTPClient:
    """``POST /align`` and ``GET /info`` over httpx; raises :class:`ServiceError` on 4xx/5xx."""

    def __init__(self, url: str, timeout: float = 900.0) -> None:
        import httpx

        self._client = httpx.Client(base_url=url, timeout=timeout)

    @overload
    def align(self, audio: str | Path | bytes, lyrics: str, language: str = ..., method: str | None = ...,
              format: Literal["json"] = ..., keep_markers: bool = ...) -> AlignmentResult: ...
    @overload
    def align(self, audio: str | Path | bytes, lyrics: str, language: str = ..., method: str | None = ...,
              format: TextFormat = ..., keep_markers: bool = ...) -> str: ...

    def align(self, audio: str | Path | bytes, lyrics: str, language: str = AUTO, method: str | None = None,
              format: str = "json", keep_markers: bool = False) -> AlignmentResult | str:
        """Align ``lyrics`` to ``audio`` (a path or the file's bytes) on the server."""
        data = {"lyrics": lyrics, "language": language, "format": format,
                "keep_markers": "true" if keep_markers else "false"}
        if method:
            data["method"] = method
        content = audio if isinstance(audio, bytes) else Path(audio).read_bytes()
        name = "audio" if isinstance(audio, bytes) else Path(audio).name
        response = self._client.post("/align", data=data,
                                     files={"audio": (name, content, "application/octet-stream")})
        _raise_for(response)
        return AlignmentResult.from_dict(response.json()) if format == "json" else response.text

    def info(self) -> dict[str, Any]:
        response = self._client.get("/info")
        _raise_for(response)
        return response.json()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HTTPClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _raise_for(response: Any) -> None:
    if response.status_code < 400:
        return
    try:
        message = str(response.json().get("error", response.text))
    except (ValueError, AttributeError):
        message = response.text
    raise ServiceError(response.status_code, message)


class GRPCClient:
    """Stub of the ``Aligner`` gRPC service; raises ``grpc.RpcError`` (``.code()``, ``.details()``)."""

    def __init__(self, target: str, timeout: float = 900.0, max_message_mb: int = 64) -> None:
        import grpc

        from .grpc_gen import lyricalign_pb2_grpc as pb_grpc

        limit = max_message_mb * 1024 * 1024
        self._channel = grpc.insecure_channel(
            target, options=[("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
        )
        self._stub = pb_grpc.AlignerStub(self._channel)
        self.timeout = timeout

    @overload
    def align(self, audio: str | Path | bytes, lyrics: str, language: str = ..., method: str | None = ...,
              media_type: str = ..., format: Literal["json"] = ..., keep_markers: bool = ...) -> AlignmentResult: ...
    @overload
    def align(self, audio: str | Path | bytes, lyrics: str, language: str = ..., method: str | None = ...,
              media_type: str = ..., format: TextFormat = ..., keep_markers: bool = ...) -> str: ...

    def align(self, audio: str | Path | bytes, lyrics: str, language: str = AUTO, method: str | None = None,
              media_type: str = "", format: str = "json", keep_markers: bool = False) -> AlignmentResult | str:
        """Align on the server; ``format`` other than json returns the rendered text (``rendered``)."""
        from .grpc_gen import lyricalign_pb2 as pb
        from .grpc_server import from_proto

        data = audio if isinstance(audio, bytes) else Path(audio).read_bytes()
        request = pb.AlignRequest(audio=data, lyrics=lyrics, language=language, method=method or "",
                                  media_type=media_type, format=format, keep_markers=keep_markers)
        response = self._stub.Align(request, timeout=self.timeout)
        return from_proto(response) if format == "json" else response.rendered

    def info(self) -> dict[str, Any]:
        from .grpc_gen import lyricalign_pb2 as pb

        return json.loads(self._stub.Info(pb.InfoRequest(), timeout=self.timeout).json)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "GRPCClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
