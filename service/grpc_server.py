"""gRPC front end: the ``Aligner`` service of ``service/proto/lyricalign.proto``, plus ``grpc.health.v1``.

BentoML 1.4 serves HTTP only, so this is a gateway that forwards each ``Align`` call to the
running BentoML service's ``POST /align``. Both protocols therefore share one model in memory,
one batching queue (concurrent gRPC and HTTP requests land in the same ONNX batches), one engine
pool and the same limits and error messages; the gateway only translates. Start it next to
``bentoml serve``::

    python -m lyricalign.service.grpc_server --port 50051 --http-url http://127.0.0.1:3000

Health is ``SERVING`` while the HTTP service answers ``/readyz`` (polled every few seconds).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
import httpx
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from lyricalign.language import AUTO
from lyricalign.schema import AlignmentResult

from .config import ServiceConfig
from .pipeline import RequestError, check_media_type, validate_params
from .grpc_gen import lyricalign_pb2 as pb
from .grpc_gen import lyricalign_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

SERVICE_NAME = "lyricalign.v1.Aligner"
HEALTH_POLL_SECONDS = 3.0
REQUEST_OVERHEAD_BYTES = 1024 * 1024  # lyrics and options on top of the audio
HTTP_TIMEOUT_SECONDS = 900.0

#: HTTP status of the BentoML service -> gRPC status code of the gateway.
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.UNAVAILABLE,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


@dataclass(frozen=True)
class GatewayOptions:
    http_url: str = "http://127.0.0.1:3000"
    host: str = "127.0.0.1"
    port: int = 50051
    workers: int = 16  # concurrent RPCs in flight; more are refused with RESOURCE_EXHAUSTED by grpcio

    def __post_init__(self) -> None:
        if not self.http_url.startswith(("http://", "https://")):
            raise ValueError(f"http_url must be an http(s) URL, got {self.http_url!r}")
        if not 0 <= self.port < 65536:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


class AlignerServicer(pb_grpc.AlignerServicer):
    """Translates RPCs to ``POST /align`` / ``GET /info`` of the BentoML service."""

    def __init__(self, http: httpx.Client, config: ServiceConfig | None = None) -> None:
        self.http = http
        self.config = config or ServiceConfig.from_env()

    def Align(self, request: pb.AlignRequest, context: grpc.ServicerContext) -> pb.AlignResponse:
        fmt = _validated_format(request, self.config, context)  # every parameter, before any work
        data = {"lyrics": request.lyrics, "language": request.language or AUTO, "format": "json",
                "keep_markers": "true" if request.keep_markers else "false"}
        if request.method:
            data["method"] = request.method
        if request.HasField("adaptation"):
            data["adaptation"] = str(request.adaptation)
        files = {"audio": ("audio", request.audio, request.media_type or "application/octet-stream")}
        try:
            response = self.http.post("/align", data=data, files=files)
        except httpx.HTTPError as e:
            logger.warning("alignment service unreachable: %s", e)
            context.abort(grpc.StatusCode.UNAVAILABLE, f"alignment service unreachable: {e}")
        if response.status_code != 200:
            _abort_with(context, response)
        result = AlignmentResult.from_dict(response.json())
        return to_proto(result, rendered=_render(result, fmt, context))

    def Info(self, request: pb.InfoRequest, context: grpc.ServicerContext) -> pb.InfoResponse:
        try:
            response = self.http.get("/info")
        except httpx.HTTPError as e:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"alignment service unreachable: {e}")
        if response.status_code != 200:
            _abort_with(context, response)
        return pb.InfoResponse(json=response.text)


def _validated_format(request: pb.AlignRequest, config: ServiceConfig, context: grpc.ServicerContext) -> str:
    """Check lyrics, language, method, format and media type as ``POST /align`` does, before the audio
    is sent anywhere; returns the normalised format (the gateway renders it)."""
    try:
        check_media_type(request.media_type)
        params = validate_params(request.lyrics, request.language or None, request.method or None,
                                 request.format or None, config,
                                 request.adaptation if request.HasField("adaptation") else None,
                                 keep_markers=request.keep_markers)
    except RequestError as e:
        context.abort(STATUS_CODES.get(e.status, grpc.StatusCode.INVALID_ARGUMENT), e.message)
    return params.format


def _render(result: AlignmentResult, fmt: str, context: grpc.ServicerContext) -> str:
    """The non-JSON formats are rendered here from the same result (the core's writers)."""
    if fmt == "json":
        return ""
    from lyricalign.formats import render

    return render(result, fmt)  # validated before the request was forwarded


def _abort_with(context: grpc.ServicerContext, response: httpx.Response) -> None:
    try:
        message = str(response.json().get("error", response.text))
    except (ValueError, AttributeError):
        message = response.text or f"HTTP {response.status_code}"
    retry_after = response.headers.get("retry-after")
    if retry_after:
        context.set_trailing_metadata((("retry-after", retry_after),))
    context.abort(STATUS_CODES.get(response.status_code, grpc.StatusCode.INTERNAL), message)


def to_proto(result: AlignmentResult, rendered: str = "") -> pb.AlignResponse:
    """The response message; times as the JSON has them (milliseconds), ``extras`` as JSON text."""
    data = result.to_dict()
    return pb.AlignResponse(
        words=[pb.Word(**w) for w in data["words"]],
        lines=[pb.Line(**ln) for ln in data["lines"]],
        duration=data["duration"], model=result.model, language=result.language, method=result.method,
        rendered=rendered, extras=json.dumps(result.extras, ensure_ascii=False) if result.extras else "",
    )


def from_proto(response: pb.AlignResponse) -> AlignmentResult:
    """The client side of :func:`to_proto`."""
    return AlignmentResult.from_dict({
        "words": [{"text": w.text, "start": w.start, "end": w.end, "line": w.line,
                   "confidence": w.confidence if w.HasField("confidence") else None,
                   "interpolated": w.interpolated, "marker": w.marker} for w in response.words],
        "lines": [{"text": ln.text, "start": ln.start, "end": ln.end, "paragraph": ln.paragraph, "marker": ln.marker}
                  for ln in response.lines],
        "duration": response.duration, "model": response.model, "language": response.language,
        "method": response.method, "extras": json.loads(response.extras) if response.extras else {},
    })


class Gateway:
    """The running gRPC server: ``start()``, then ``wait()`` or ``stop()``."""

    def __init__(self, options: GatewayOptions, config: ServiceConfig) -> None:
        self.options = options
        self.http = httpx.Client(base_url=options.http_url, timeout=HTTP_TIMEOUT_SECONDS)
        max_message = config.max_upload_bytes + REQUEST_OVERHEAD_BYTES
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=options.workers),
            maximum_concurrent_rpcs=options.workers,
            options=[("grpc.max_receive_message_length", max_message), ("grpc.max_send_message_length", max_message)],
        )
        pb_grpc.add_AlignerServicer_to_server(AlignerServicer(self.http, config), self.server)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = self.server.add_insecure_port(f"{options.host}:{options.port}")
        if self.port == 0:
            raise OSError(f"cannot bind {options.host}:{options.port}")
        self._stopped = threading.Event()
        self._poller = threading.Thread(target=self._poll_health, name="health-poll", daemon=True)

    def start(self) -> None:
        self.server.start()
        self._poller.start()
        logger.info("gRPC gateway on %s:%d -> %s", self.options.host, self.port, self.options.http_url)

    def wait(self) -> None:
        self._stopped.wait()

    def stop(self, grace: float = 5.0) -> None:
        self._stopped.set()
        self.server.stop(grace).wait()
        self.http.close()

    def _poll_health(self) -> None:
        while not self._stopped.is_set():
            try:
                ready = self.http.get("/readyz", timeout=HEALTH_POLL_SECONDS).status_code == 200
            except httpx.HTTPError:
                ready = False
            status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
            for name in ("", SERVICE_NAME):
                self.health.set(name, status)
            self._stopped.wait(HEALTH_POLL_SECONDS)


def main(argv: list[str] | None = None) -> int:
    defaults = GatewayOptions()
    parser = argparse.ArgumentParser(description="gRPC gateway to the lyricalign BentoML service.")
    parser.add_argument("--http-url", default=defaults.http_url, help=f"the BentoML service (default: {defaults.http_url})")
    parser.add_argument("--host", default=defaults.host, help=f"address to bind (default: {defaults.host})")
    parser.add_argument("--port", type=int, default=defaults.port, help=f"port (default: {defaults.port}; 0: any free)")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="concurrent RPCs (default: 16)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per forwarded request otherwise
    gateway = Gateway(GatewayOptions(args.http_url, args.host, args.port, args.workers), ServiceConfig.from_env())
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: gateway._stopped.set())
    gateway.start()
    print(f"lyricalign gRPC listening on {args.host}:{gateway.port}", flush=True)  # the port when --port 0
    gateway.wait()
    gateway.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
