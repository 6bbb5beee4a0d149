"""Python clients for both front ends, returning the core's :class:`AlignmentResult`::

    from service.clients import GRPCClient, HTTPClient

    with HTTPClient("http://127.0.0.1:3000") as client:
        result = client.align("song.mp3", open("song.txt").read(), method="hmm")
    with GRPCClient("127.0.0.1:50051") as client:
        result = client.align("song.mp3", open("song.txt").read(), method="ctc")
    print(result.words[0].start)

Other formats: ``lyricalign.formats.render(result, "lrc")`` on the client (the same writers the
server uses), or ``format=`` on the HTTP endpoint directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lyricalign.schema import AlignmentResult


class HTTPClient:
    """``bentoml.SyncHTTPClient`` for ``POST /align`` and ``GET /info``; raises BentoML's exceptions on 4xx/5xx."""

    def __init__(self, url: str, timeout: float = 900.0) -> None:
        import bentoml

        self._client = bentoml.SyncHTTPClient(url, timeout=timeout)

    def align(self, audio: str | Path, lyrics: str, language: str = "en", method: str | None = None) -> AlignmentResult:
        options: dict[str, Any] = {"language": language}
        if method:
            options["method"] = method
        return AlignmentResult.from_dict(self._client.align(audio=Path(audio), lyrics=lyrics, **options))

    def info(self) -> dict[str, Any]:
        response = self._client.client.get("/info")
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HTTPClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    def align(self, audio: str | Path | bytes, lyrics: str, language: str = "en", method: str | None = None,
              media_type: str = "") -> AlignmentResult:
        from .grpc_gen import lyricalign_pb2 as pb
        from .grpc_server import from_proto

        data = audio if isinstance(audio, bytes) else Path(audio).read_bytes()
        request = pb.AlignRequest(audio=data, lyrics=lyrics, language=language, method=method or "",
                                  media_type=media_type)
        return from_proto(self._stub.Align(request, timeout=self.timeout))

    def info(self) -> dict[str, Any]:
        from .grpc_gen import lyricalign_pb2 as pb

        return json.loads(self._stub.Info(pb.InfoRequest(), timeout=self.timeout).json)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "GRPCClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
