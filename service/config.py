"""Service settings: every limit in one frozen dataclass, read once from ``LYRICALIGN_*`` env vars.

Both servers (BentoML HTTP and the gRPC gateway) read the same variables, so a limit is set once
for a deployment::

    LYRICALIGN_MAX_UPLOAD_MB=50 bentoml serve service.service:LyricAlign
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Mapping

from lyricalign.audio import DEFAULT_MAX_DURATION, MAX_DURATION_CEILING

ENV_PREFIX = "LYRICALIGN_"
DEFAULT_ACOUSTIC_TAG = "lyricalign-acoustic:latest"
MIB = 1024 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and pool sizes of the alignment service (validated on creation).

    Attributes:
        acoustic_tag: BentoML model store tag of the acoustic checkpoint the default ``hmm`` method
            aligns with (``lyricalign models install-acoustic`` registers it; ``bentoml build`` packages it).
        model_tag: BentoML model store tag of a *trained* CTC model (ONNX + metadata) for the ``ctc``
            method; empty (default): the server has no CTC model and refuses ``ctc`` requests (400).
        max_upload_mb: largest accepted request body for ``/align``, in MiB (413 above).
        max_audio_seconds: longest decoded audio accepted (422 above); the CLI's default too
            (:data:`lyricalign.audio.DEFAULT_MAX_DURATION`).
        max_lyrics_chars: longest lyrics text accepted (400 above).
        max_inflight: ``/align`` requests processed at once per worker; more get 503 + Retry-After.
        engine_workers: processes running the other engines (sphinx, dtw, uniform); a sphinx process
            holds up to ~1.1 GB, so this is their memory knob.
        engine_queue: jobs of those engines admitted at once (running + waiting); more get 503.
        hmm_workers: threads aligning ``hmm`` requests in the server process (about 300 MB each for a
            10-minute song); hmm_queue: ``hmm`` songs admitted at once (running + waiting), more get 503.
        batching: send model windows through BentoML's adaptive batcher, one ONNX call at a time for
            all requests (False: each request runs its own windows, concurrently with the others).
            Off by default: on a 2-core CPU batching buys nothing (``docs/batching.md``); it is the
            path for a GPU or many cores, where one large call beats several small ones.
        batch_size: most windows in one ONNX call: the batcher's ``max_batch_size``, and the chunk size
            of a request's windows when batching is off (bounds the memory of a long song).
        batch_latency_ms: BentoML's latency budget of a queued window: the batcher refuses (503) the
            windows it predicts cannot be done in time, so it is sized for a full queue of long songs
            with a wav2vec2-base model on 2 cores (~1 s per window) and stays under the 900 s
            request timeout; the batcher does not wait this long to fill a batch.
        intra_op_threads: ONNX Runtime threads of one model call; 0 (default) picks by ``batching``
            (:attr:`model_threads`).
        retry_after_s: the ``Retry-After`` value sent with 503 responses.
        allow_untrained: answer ``ctc`` requests with an untrained (placeholder) model instead of
            refusing them with 409; for exercising the pipeline in tests, never for users.
        body_timeout_s: longest wait for the next chunk of a request body (nginx's
            ``client_body_timeout``); a stalled upload then gets 408 and its connection is freed.
        min_body_rate: slowest accepted average upload rate, bytes/s, judged once the body has been
            read for ``body_timeout_s`` (a trickle of a few bytes per timeout cannot hold a reader
            for ever); 408 below it.
        host: address ``bentoml serve`` binds when no ``--host`` is given (the container sets
            ``0.0.0.0``; everything else stays on the loopback interface).
    """

    acoustic_tag: str = DEFAULT_ACOUSTIC_TAG
    model_tag: str = ""
    max_upload_mb: float = 50.0
    max_audio_seconds: float = DEFAULT_MAX_DURATION
    max_lyrics_chars: int = 20_000
    max_inflight: int = 16
    engine_workers: int = 1
    engine_queue: int = 4
    hmm_workers: int = 2
    hmm_queue: int = 4
    batching: bool = False
    batch_size: int = 4
    batch_latency_ms: int = 300_000
    intra_op_threads: int = 0
    retry_after_s: int = 5
    allow_untrained: bool = False
    body_timeout_s: float = 20.0
    min_body_rate: int = 16 * 1024
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if not self.acoustic_tag.strip():
            raise ValueError("acoustic_tag must not be empty")
        for name in ("max_upload_mb", "max_audio_seconds", "max_lyrics_chars", "max_inflight", "engine_workers",
                     "engine_queue", "hmm_workers", "hmm_queue", "batch_latency_ms", "retry_after_s",
                     "body_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.max_audio_seconds <= MAX_DURATION_CEILING:  # also refuses nan and inf
            raise ValueError(f"max_audio_seconds must be at most {MAX_DURATION_CEILING:g}, got {self.max_audio_seconds}")
        if self.min_body_rate < 0:
            raise ValueError(f"min_body_rate must be >= 0 (0: no minimum), got {self.min_body_rate}")
        if self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0 (0: automatic), got {self.intra_op_threads}")
        if self.batch_size < 2:  # BentoML rejects max_batch_size=1 for a batchable API
            raise ValueError(f"batch_size must be at least 2, got {self.batch_size}")
        if self.hmm_queue < self.hmm_workers:
            raise ValueError(f"hmm_queue ({self.hmm_queue}) must be >= hmm_workers ({self.hmm_workers})")
        if self.engine_queue < self.engine_workers:
            raise ValueError(f"engine_queue ({self.engine_queue}) must be >= engine_workers ({self.engine_workers})")

    @property
    def model_threads(self) -> int:
        """Intra-op threads per model call (0: ONNX Runtime's default, one per core).

        Unset, it is 1 without batching: concurrent requests each run their own call, so they are
        the parallelism, and two-thread calls side by side contend (measured: 0.27 vs 0.15 req/s
        on 2 cores); and one per core with batching, where a single call at a time must use them all.
        """
        if self.intra_op_threads:
            return self.intra_op_threads
        return 0 if self.batching else 1

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MIB)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ServiceConfig":
        """Defaults overridden by ``LYRICALIGN_<FIELD NAME IN UPPER CASE>`` variables."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            kind = type(f.default)
            try:
                values[f.name] = _parse_bool(raw) if kind is bool else kind(raw)
            except ValueError as e:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from e
        return cls(**values)  # type: ignore[arg-type]


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)
