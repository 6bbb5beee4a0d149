"""The BentoML service: ``POST /align``, ``GET|POST /info``, and the batching endpoint.

Run it with ``scripts/serve.sh`` (registers the default model if the store has none), or::

    bentoml serve service.service:LyricAlign --port 3000

It binds 127.0.0.1 unless asked otherwise (``--host``, ``BENTOML_HOST`` or ``LYRICALIGN_HOST``; the
container image sets ``LYRICALIGN_HOST=0.0.0.0``, as a container must).

This module only moves bytes: validation, decoding and alignment are :mod:`service.pipeline`
(shared with the gRPC gateway); limits come from :class:`.config.ServiceConfig`.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Optional

import bentoml
import numpy as np
from pydantic import Field, ValidationError
from pydantic.json_schema import SkipJsonSchema
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lyricalign.audio import duration_of
from lyricalign.engines import DEFAULT_METHOD
from lyricalign.language import AUTO
from lyricalign.language import preload as preload_language_detection
from lyricalign.fsutil import adopt_private_tempdir
from lyricalign.schema import AlignmentResult

from .acoustic_path import HMMPath
from .codec import decode_array, encode_array
from .config import ServiceConfig
from .engine_pool import EnginePool
from .middleware import AlignGuard, JSONErrors
from .pipeline import (
    CTCPath,
    RequestError,
    check_media_type,
    decode_audio,
    render,
    service_info,
    validate_params,
)

logger = logging.getLogger(__name__)

CONFIG = ServiceConfig.from_env()
MODEL_FILE = "model.onnx"  # name of the ONNX file inside the BentoML model directory
FORM_FIELDS = ("audio", "lyrics", "language", "method", "format", "adaptation", "keep_markers")
MAX_FORM_PARTS = 16  # parts parsed before the form is refused (then every one must be a known field)
SHOWN_NAME_CHARS = 40  # an unknown field's name is quoted up to this length in the error message
WORKER_TMP_PREFIX = "lyricalign-worker-"
UPLOAD_NAME = PurePosixPath("upload")  # stands for the audio part: the client's filename is never a path

AUDIO_SECONDS = bentoml.metrics.Counter(
    name="lyricalign_audio_seconds_aligned",
    documentation="Seconds of audio aligned successfully",
    labelnames=["method"],
)
WORD_CONFIDENCE = bentoml.metrics.Histogram(
    name="lyricalign_word_confidence",
    documentation="Confidence of every aligned (not interpolated) word",
    labelnames=["method"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
REJECTED = bentoml.metrics.Counter(
    name="lyricalign_requests_rejected",
    documentation="Align requests refused, by HTTP status",
    labelnames=["status"],
)


class AlignInput(bentoml.IODescriptor):
    """Multipart form of ``POST /align``; the fields mirror ``lyricalign align``'s options."""

    audio: Path = Field(description="the recording (wav, flac, mp3, ogg, m4a, opus, ...)")
    lyrics: str = Field(description="UTF-8 lyrics, one sung line per line, blank line between paragraphs "
                                    "(a text field, or a text file part: curl -F lyrics=@song.txt)")
    language: str = Field(default=AUTO, description="auto (detect from the lyrics), en, es, fr, de, it or pt "
                                                    "(or the language's name)")
    method: str = Field(default=DEFAULT_METHOD, description="ctc, hmm, dtw or uniform")
    format: str = Field(default="json", description="json, lrc, elrc, srt, vtt, ass or textgrid")
    adaptation: str = Field(default="", description="hmm: iterations of per-song acoustic adaptation, 0 (off) to 5; "
                                                    "empty: the default (1)")
    keep_markers: bool = Field(default=False, description="align section markers and stage directions "
                                                          "([Chorus], (x2)) as lyrics and show them in the display formats")
    # Set by from_http_request (never by clients): why the form is refused, and the audio part's bytes.
    rejection: SkipJsonSchema[Optional[str]] = None
    payload: SkipJsonSchema[Optional[bytes]] = None

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> "AlignInput":
        """Parse the form ourselves: BentoML's parser would fetch a URL given as ``audio`` text, write the
        upload to a temp file named after the client's filename (``/`` or a long name: 500), and answer a
        missing field with pydantic's raw output and a logged traceback."""
        try:
            form = await request.form(max_files=MAX_FORM_PARTS, max_fields=MAX_FORM_PARTS)
        except HTTPException as e:  # starlette's verdict on a malformed or oversized form
            return cls._refused(f"malformed multipart body: {e.detail}")
        except (KeyError, ValueError) as e:
            return cls._refused(f"malformed multipart body ({e!r})")
        unknown = _unknown_field_error(form.keys())
        if unknown:
            return cls._refused(unknown)
        repeated = sorted({k for k, _ in form.multi_items() if k in FORM_FIELDS and len(form.getlist(k)) > 1})
        if repeated:
            return cls._refused(f"field {repeated[0]!r} given more than once")
        audio = form.get("audio")
        if not isinstance(audio, UploadFile):
            return cls._refused("missing file part 'audio'" if audio is None else
                                "audio must be uploaded as a file part")
        try:
            check_media_type(audio.content_type)
        except RequestError as e:
            return cls._refused(f"415:{e.message}")
        fields = {k: _form_text(v) for k in FORM_FIELDS[1:] if isinstance(v := form.get(k), str)}
        lyrics_part = form.get("lyrics")
        if isinstance(lyrics_part, UploadFile):  # curl -F lyrics=@song.txt
            try:
                fields["lyrics"] = (await lyrics_part.read()).decode("utf-8-sig")
            except UnicodeDecodeError as e:
                return cls._refused(f"lyrics must be UTF-8 text (invalid byte at offset {e.start} of the lyrics file part)")
        if "lyrics" not in fields:
            return cls._refused("missing field 'lyrics': send the lyrics as a text field (-F lyrics=\"$(cat song.txt)\") "
                                "or a file part (-F lyrics=@song.txt)")
        try:
            return cls.model_validate({"audio": UPLOAD_NAME, "payload": await audio.read(), **fields})
        except ValidationError as e:
            first = e.errors()[0]
            return cls._refused(f"field {'.'.join(map(str, first['loc']))!r}: {first['msg']}")

    @classmethod
    def _refused(cls, rejection: str) -> "AlignInput":
        return cls.model_construct(audio=UPLOAD_NAME, lyrics="", rejection=rejection)


def _unknown_field_error(names: Iterable[str]) -> str | None:
    """Why a form with these field names is refused, or None when every name is one of :data:`FORM_FIELDS`.

    A misspelt option (``langauge=fr``) must not be dropped silently: the request would run with the
    default and answer 200 with a result the client did not ask for. The message names each unknown
    field (with the closest accepted name, if one is close) and lists the accepted ones.
    """
    unknown = sorted(set(names) - set(FORM_FIELDS))
    if not unknown:
        return None
    shown = []
    for name in unknown:
        close = difflib.get_close_matches(name.lower(), FORM_FIELDS, n=1)
        quoted = repr(name if len(name) <= SHOWN_NAME_CHARS else name[:SHOWN_NAME_CHARS] + "...")
        shown.append(f"{quoted} (did you mean {close[0]!r}?)" if close else quoted)
    return (f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(shown)}; "
            f"the accepted fields are {', '.join(FORM_FIELDS)}")


def _form_text(raw: str) -> str:
    """A text form field; BentoML clients JSON-encode strings (``"hmm"``), curl sends them bare."""
    if raw.startswith('"'):
        try:
            decoded = json.loads(raw)
        except json.JSONDecodeError:
            return raw
        if isinstance(decoded, str):
            return decoded
    return raw


@bentoml.service(
    name="lyricalign",
    http={"host": CONFIG.host},
    workers=1,
    traffic={"timeout": 900},
    metrics={"enabled": True},
)
class LyricAlign:
    """Lyrics-to-audio alignment over HTTP.

    The acoustic checkpoint (``model_ref``, packaged by ``bentoml build``) is loaded once per worker;
    ``hmm`` songs align in a thread pool with their senone scoring batched across requests
    (:mod:`service.acoustic_path`); a CTC model is served only when ``LYRICALIGN_MODEL_TAG`` names one;
    the other engines run in a bounded process pool.
    """

    model_ref = bentoml.models.BentoModel(CONFIG.acoustic_tag)

    def __init__(self) -> None:
        # Everything this worker and its engine processes put in the temp dir (BentoML's request and
        # client folders, the engines' folders) lives in one folder of its own, swept after a kill -9.
        self.tmp = adopt_private_tempdir(WORKER_TMP_PREFIX)
        self.config = CONFIG
        self.model_tag = str(self.model_ref.tag)
        batch = self._batch_scores if CONFIG.batching else None
        self.hmm = HMMPath(Path(self.model_ref.path), CONFIG.hmm_workers, CONFIG.hmm_queue, CONFIG.retry_after_s,
                           threads=CONFIG.intra_op_threads, batch=batch)
        self.ctc = self._load_ctc(CONFIG.model_tag)
        self.pool = EnginePool(CONFIG.engine_workers, CONFIG.engine_queue, CONFIG.retry_after_s)
        preload_language_detection()  # language="auto" is the default: not on the first request's clock
        logger.info("loaded %s (%s); CTC model: %s; batching %s", self.model_tag, self.hmm.model_tag,
                    CONFIG.model_tag or "none", "on" if CONFIG.batching else "off")

    @staticmethod
    def _load_ctc(tag: str) -> CTCPath | None:
        if not tag:
            return None
        stored = bentoml.models.get(tag)
        return CTCPath(Path(stored.path_of(MODEL_FILE)), intra_op_threads=CONFIG.model_threads,
                       max_batch=CONFIG.batch_size)

    @bentoml.on_shutdown
    def stop_workers(self) -> None:
        self.pool.shutdown()
        self.hmm.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)  # atexit does not run: the worker ends on a signal

    @bentoml.api(route="/align", input_spec=AlignInput)
    async def align(
        self,
        audio: Path,
        lyrics: str,
        language: str = AUTO,
        method: str = DEFAULT_METHOD,
        format: str = "json",
        adaptation: str = "",
        keep_markers: bool = False,
        rejection: Optional[str] = None,
        payload: Optional[bytes] = None,
    ) -> dict:
        """Align ``lyrics`` to the uploaded ``audio``; returns the result in ``format`` (JSON by default)."""
        form = {"payload": payload or b"", "lyrics": lyrics, "language": language, "method": method,
                "format": format, "adaptation": adaptation, "keep_markers": keep_markers, "rejection": rejection}
        try:
            result, fmt = await self._align(form)
            rendered = render(result, fmt)
        except RequestError as e:
            REJECTED.labels(status=str(e.status)).inc()
            log = logger.warning if e.status >= 500 else logger.info  # a client's error: one line, no traceback
            log("refused /align with %d: %s", e.status, e.message)
            headers = {"Retry-After": str(e.retry_after)} if e.retry_after is not None else None
            return JSONResponse({"error": e.message}, status_code=e.status, headers=headers)  # type: ignore[return-value]
        self._observe(result)
        return Response(rendered.body, media_type=rendered.media_type,  # type: ignore[return-value]
                        headers=warning_headers(result.warnings))

    async def _align(self, form: dict[str, Any]) -> tuple[AlignmentResult, str]:
        rejection = form.get("rejection")
        if rejection:
            status, _, message = rejection.partition(":") if rejection[:3].isdigit() else ("400", "", rejection)
            raise RequestError(int(status), message)
        params = validate_params(form["lyrics"], form["language"], form["method"], form["format"], self.config,
                                 form.get("adaptation"), keep_markers=bool(form.get("keep_markers")))
        if params.method == "ctc":
            if self.ctc is None:
                raise RequestError(400, "this server has no CTC model (set LYRICALIGN_MODEL_TAG to a trained one); "
                                        "use method hmm")
            self.ctc.require_trained(self.config.allow_untrained)
            audio = await asyncio.to_thread(decode_audio, form["payload"], self.config)
            result = await self.ctc.align(audio, params.lyrics, self._run_windows)
        elif params.method == "hmm":
            with self.hmm.reserve():  # a full queue refuses before the audio is decoded
                audio = await asyncio.to_thread(decode_audio, form["payload"], self.config)
                result = await self.hmm.align(audio, params.lyrics, params.adaptation, reserved=True)
        else:
            with self.pool.reserve(params.method):
                audio = await asyncio.to_thread(decode_audio, form["payload"], self.config)
                result = await self.pool.align(params.method, audio, params.lyrics, reserved=True)
        for warning in result.warnings:
            logger.warning("%s", warning)
        return result, params.format

    async def _batch_scores(self, items: list[str]) -> list[str]:
        return await self.to_async.score_frames(items)  # type: ignore[attr-defined]

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=CONFIG.batch_size, max_latency_ms=CONFIG.batch_latency_ms)
    def score_frames(self, items: list[str]) -> list[str]:
        """Internal batching endpoint: encoded blocks of feature frames (with their senones and mean
        transform) -> encoded senone scores; blocks of concurrent requests share ONNX calls."""
        return self.hmm.score_batch(items)

    async def _run_windows(self, windows: np.ndarray) -> np.ndarray:
        """``(B, L)`` windows -> ``(B, F, C)`` log-probs, through the batcher unless it is disabled."""
        if not self.config.batching:
            return await asyncio.to_thread(self.ctc.infer, windows)
        encoded = await self.to_async.infer_windows([encode_array(w) for w in windows])  # type: ignore[attr-defined]
        if any(not item for item in encoded):
            raise RequestError(500, "acoustic model failed on a window")
        return np.stack([decode_array(item) for item in encoded])

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=CONFIG.batch_size, max_latency_ms=CONFIG.batch_latency_ms)
    def infer_windows(self, windows: list[str]) -> list[str]:
        """Internal batching endpoint: base64 ``.npy`` windows ``(L,)`` -> base64 log-probs ``(F, C)``.

        Items from any number of requests arrive together; an item that is not a float32 window of
        the model's length yields ``""`` instead of failing the whole batch.
        """
        if self.ctc is None:
            return ["" for _ in windows]
        arrays: list[np.ndarray | None] = []
        for item in windows:
            try:
                arrays.append(self._window(decode_array(item)))
            except ValueError:
                arrays.append(None)
        valid = [a for a in arrays if a is not None]
        if not valid:
            return ["" for _ in windows]
        log_probs = iter(self.ctc.infer(np.stack(valid)))
        return [encode_array(next(log_probs)) if a is not None else "" for a in arrays]

    def _window(self, array: np.ndarray) -> np.ndarray:
        expected = self.ctc.model.window_length
        if array.dtype != np.float32 or array.shape != (expected,):
            raise ValueError(f"expected a float32 window of {expected} samples, got {array.dtype} {array.shape}")
        return array

    def info(self) -> dict[str, Any]:
        """Model tag and metadata, languages, methods, formats and limits (served as ``GET /info``)."""
        return service_info(self.config, self.model_tag, self.ctc, self.hmm.default_engine.checkpoint.info)

    def _observe(self, result: AlignmentResult) -> None:
        AUDIO_SECONDS.labels(method=result.method).inc(result.duration)
        for word in result.words:
            if not word.interpolated and word.confidence is not None:  # None: the method has no confidences
                WORD_CONFIDENCE.labels(method=result.method).observe(word.confidence)


#: The response header that carries a result's warnings, whatever the format: an LRC or SRT body has
#: nowhere to say "the lyrics look Dutch" (a JSON body also has them in ``extras.warnings``).
WARNINGS_HEADER = "X-Lyricalign-Warnings"


def warning_headers(warnings: tuple[str, ...]) -> dict[str, str] | None:
    """``{WARNINGS_HEADER: JSON array}`` (ASCII-escaped: a header value is Latin-1, one line), or None."""
    return {WARNINGS_HEADER: json.dumps(list(warnings))} if warnings else None


async def _get_info(request: Request) -> Response:
    service = bentoml.get_current_service()
    if service is None:
        return JSONResponse({"error": "service is starting"}, status_code=503)
    return Response(json.dumps(service.info()), media_type="application/json")


LyricAlign.add_asgi_middleware(JSONErrors)  # first: the outer one, so every plain-text 404/405 is seen
LyricAlign.add_asgi_middleware(
    AlignGuard,
    max_upload_bytes=CONFIG.max_upload_bytes,
    max_inflight=CONFIG.max_inflight,
    retry_after_s=CONFIG.retry_after_s,
    body_timeout_s=CONFIG.body_timeout_s,
    min_body_rate=CONFIG.min_body_rate,
)
# PassiveMount at "/" only claims the paths its routes match, so this adds exactly GET /info.
LyricAlign.mount_asgi_app(Starlette(routes=[Route("/info", _get_info, methods=["GET"])]), path="/")
