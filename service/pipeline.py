"""What one ``/align`` request does, without BentoML: validate, decode, align, render.

The BentoML service (``service.py``) and the gRPC gateway only move bytes; every decision
about inputs and every call into the core lives here, so both protocols answer the same way.

Two alignment paths:

* ``ctc``: the acoustic model runs in this process. The waveform is cut into fixed-length windows
  (``AcousticModel.plan_windows``), the windows go through the batching endpoint (any number of
  requests share one ONNX call), and the stitched log-probs are aligned here.
* every other method (``hmm``, ``dtw``, ``uniform``): sequential per song and CPU-bound for seconds,
  so they run in a bounded pool of worker processes (:mod:`.engine_pool`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import numpy as np

from lyricalign import __version__
from lyricalign.audio import AudioLimits, duration_of, load_audio
from lyricalign.engines import DEFAULT_METHOD, ENGINES
from lyricalign.errors import LyricalignError
from lyricalign.formats import FORMATS, REGISTRY, RenderOptions
from lyricalign.schema import AlignmentResult
from lyricalign.language import AUTO
from lyricalign.text import SUPPORTED_LANGUAGES, Lyrics, normalize_language_option, parse_lyrics

from .config import ServiceConfig

if TYPE_CHECKING:
    from lyricalign.acoustic.ctc_model import AcousticModel

logger = logging.getLogger(__name__)

#: Media types an ``audio`` part may declare; anything else is refused with 415 before decoding.
ACCEPTED_MEDIA_PREFIXES = ("audio/", "video/")
ACCEPTED_MEDIA_TYPES = ("application/octet-stream", "application/ogg", "")

#: ``windows (B, L) float32 -> log-probs (B, F, C) float32``, awaited (the batching endpoint).
WindowRunner = Callable[[np.ndarray], Awaitable[np.ndarray]]


class RequestError(Exception):
    """A request the service refuses; ``status`` is the HTTP code, the message goes to the client."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class AlignParams:
    """A validated request, before its audio is decoded."""

    lyrics: Lyrics
    method: str
    format: str
    adaptation: int = 1  # hmm: adaptation iterations (0: off)


@dataclass(frozen=True)
class Rendered:
    """A response body and its media type."""

    body: str
    media_type: str


def validate_params(
    lyrics: str, language: str | None, method: str | None, fmt: str | None, config: ServiceConfig,
    adaptation: str | int | None = None,
    keep_markers: bool = False,
) -> AlignParams:
    """Check the text fields of a request and parse the lyrics (detecting their language when
    ``language`` is ``"auto"`` or empty); raises :class:`RequestError` (400/413/422)."""
    method = (method or DEFAULT_METHOD).strip().lower()
    if method not in ENGINES:
        raise RequestError(400, f"unknown method {method!r} (choose from: {', '.join(sorted(ENGINES))})")
    fmt = (fmt or "json").strip().lower()
    if fmt not in REGISTRY:
        raise RequestError(400, f"unknown format {fmt!r} (choose from: {', '.join(FORMATS)})")
    if len(lyrics) > config.max_lyrics_chars:
        raise RequestError(413, f"lyrics are {len(lyrics)} characters long, over the limit of {config.max_lyrics_chars}")
    try:
        code = normalize_language_option(language or AUTO)
    except LyricalignError as e:
        raise RequestError(400, str(e)) from e
    try:
        parsed = parse_lyrics(lyrics, code, keep_markers=keep_markers)
    except LyricalignError as e:
        raise RequestError(422, str(e)) from e
    return AlignParams(lyrics=parsed, method=method, format=fmt, adaptation=_adaptation(adaptation, method))


def _adaptation(raw: str | int | None, method: str) -> int:
    """The ``adaptation`` field: iterations of per-song adaptation, 0-5, hmm only (default: the engine's).

    The rules are the core's (:class:`lyricalign.api.AlignOptions`), so that the service refuses what
    ``lyricalign align`` refuses, with the same message."""
    from lyricalign.acoustic.adaptation import AdaptationOptions
    from lyricalign.api import AlignOptions

    if raw is None or raw == "":
        return AdaptationOptions().iterations
    try:
        iterations = int(raw)
    except ValueError as e:
        raise RequestError(400, f"adaptation must be an integer from 0 to 5, got {raw!r}") from e
    try:
        AlignOptions(method=method, adaptation=iterations)
    except LyricalignError as e:
        raise RequestError(400, str(e)) from e
    return iterations


def check_media_type(media_type: str | None) -> None:
    """Refuse uploads that declare a non-audio type (415); undeclared types are decoded and judged."""
    declared = (media_type or "").split(";")[0].strip().lower()
    if declared.startswith(ACCEPTED_MEDIA_PREFIXES) or declared in ACCEPTED_MEDIA_TYPES:
        return
    raise RequestError(415, f"unsupported audio media type {declared!r}: upload an audio or video file")


def decode_audio(source: bytes | Path, config: ServiceConfig) -> np.ndarray:
    """Upload -> ``(N,)`` float32 at 16 kHz; undecodable, silent or over-long audio -> 422."""
    limits = AudioLimits(max_duration=config.max_audio_seconds, reject_silent=True)
    try:
        return load_audio(source, limits)
    except LyricalignError as e:
        raise RequestError(422, str(e)) from e


def render(result: AlignmentResult, fmt: str) -> Rendered:
    """The result in ``fmt`` (validated by :func:`validate_params`), by the core's writer and with the
    format's media type; JSON on one line."""
    found = REGISTRY[fmt]
    return Rendered(found.render(result, RenderOptions(compact=True)), found.media_type)


class CTCPath:
    """The acoustic model and CTC engine of the ``ctc`` method, loaded once per worker.

    ``intra_op_threads`` (0: one per core) and ``max_batch`` come from :class:`ServiceConfig`
    (``model_threads``, ``batch_size``); ``docs/batching.md`` has the measurements behind them.
    """

    def __init__(self, model_path: Path, intra_op_threads: int = 0, max_batch: int = 4) -> None:
        from lyricalign.acoustic.ctc_model import AcousticModel
        from lyricalign.acoustic.ctc_runtime import RuntimeOptions

        # inter-op 1: the graph is a chain of ops; parallel branches would only add threads.
        options = RuntimeOptions(intra_op_threads=intra_op_threads, inter_op_threads=1, batch_size=max_batch)
        self.model: AcousticModel = AcousticModel(model_path, options)
        self.max_batch = max_batch
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The ``ctc`` engine over :attr:`model` (created on first use: it may need extra packages)."""
        if self._engine is None:
            from lyricalign.engines import create_engine

            try:
                self._engine = create_engine("ctc", model=self.model)
            except LyricalignError as e:
                raise RequestError(501, str(e)) from e
        return self._engine

    def require_trained(self, allow_untrained: bool) -> None:
        """Refuse (409) the ctc method when this server's model is an untrained placeholder.

        A randomly initialised export runs, but its alignments are noise: answering with them
        would look like a result. ``allow_untrained`` (``LYRICALIGN_ALLOW_UNTRAINED=1``) is for
        exercising the pipeline, e.g. in tests.
        """
        meta = self.model.metadata
        if not meta.trained and not allow_untrained:
            raise RequestError(409, f"method 'ctc' is not available: this server's acoustic model {meta.tag} is "
                                    f"untrained (a placeholder); use method 'hmm', or serve a trained model "
                                    f"(LYRICALIGN_MODEL_TAG)")

    def infer(self, windows: np.ndarray) -> np.ndarray:
        """``(B, L)`` float32 windows -> ``(B, F, C)`` log-probs, at most :attr:`max_batch` per ONNX call.

        The cap bounds memory: a 10-minute song is 46 windows, and the first convolution of a
        wav2vec2-base model outputs ~100 MB per 15 s window (512 channels x 48000 steps, float32).
        """
        if len(windows) <= self.max_batch:
            return self.model.infer_windows(windows)
        return np.concatenate([self.model.infer_windows(windows[i : i + self.max_batch])
                               for i in range(0, len(windows), self.max_batch)])

    async def align(self, audio: np.ndarray, lyrics: Lyrics, run_windows: WindowRunner) -> AlignmentResult:
        """Align through ``run_windows`` (the batching endpoint, or :meth:`infer` wrapped)."""
        engine = self.engine
        plan = await asyncio.to_thread(self.model.plan_windows, audio)
        window_log_probs = await run_windows(plan.windows)
        try:
            return await asyncio.to_thread(self._finish, engine, plan, window_log_probs, lyrics, duration_of(audio))
        except LyricalignError as e:
            raise RequestError(422, str(e)) from e

    def _finish(self, engine: Any, plan: Any, window_log_probs: np.ndarray, lyrics: Lyrics,
                duration: float) -> AlignmentResult:
        return engine.align_log_probs(self.model.stitch(plan, window_log_probs), lyrics, duration)


def service_info(config: ServiceConfig, model_tag: str, ctc: CTCPath | None, acoustic: Any) -> dict[str, Any]:
    """The ``/info`` document: what this server aligns with and what it accepts.

    ``model_tag`` is the BentoML tag of the acoustic checkpoint, ``acoustic`` its
    :class:`~lyricalign.acoustic.checkpoint.CheckpointInfo`.
    """
    ctc_model: dict[str, Any] | None = None
    if ctc is not None:
        meta = ctc.model.metadata
        ctc_model = {
            "name": meta.name,
            "version": meta.version,
            "languages": list(meta.languages),
            "units": len(meta.units),
            "trained": bool(meta.trained),
        }
    return {
        "version": __version__,
        "model_tag": model_tag,
        "model": {"name": acoustic.name, "version": acoustic.version, "tag": acoustic.tag, "source": acoustic.source,
                  "kind": acoustic.kind, "senones": acoustic.n_senones, "trained": True},
        "ctc_model": ctc_model,
        "methods": sorted(ENGINES),
        "default_method": DEFAULT_METHOD,
        "languages": sorted(SUPPORTED_LANGUAGES),
        "formats": list(FORMATS),
        "limits": {
            "max_upload_bytes": config.max_upload_bytes,
            "max_audio_seconds": config.max_audio_seconds,
            "max_lyrics_chars": config.max_lyrics_chars,
            "max_inflight": config.max_inflight,
            "engine_queue": config.engine_queue,
        },
        "batching": {"enabled": config.batching, "max_batch_size": config.batch_size,
                     "max_latency_ms": config.batch_latency_ms, "intra_op_threads": config.model_threads},
    }
