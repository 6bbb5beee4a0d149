"""Build a wav2vec2 CTC model (pretrained or from a config) and export it to ONNX with a parity check.

The exported file is self-describing: its :class:`~lyricalign.acoustic.ctc_metadata.ModelMetadata` is embedded as
JSON in the ONNX ``metadata_props`` (key ``"lyricalign"``), so inference needs only onnxruntime.
Before the file is written, ONNX Runtime's output is compared with PyTorch's on random audio of two
lengths at batch 2, and the frame count is checked against the declared ``frame_stride``; a failing
model is never written (the output appears atomically, or not at all).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import numpy as np
import torch

from lyricalign.acoustic.ctc_metadata import METADATA_KEY, ModelMetadata, default_units
from lyricalign.acoustic.ctc_model import INPUT_NAME, OUTPUT_NAME
from lyricalign.audio import SAMPLE_RATE
from lyricalign.errors import ModelError
from lyricalign.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from transformers import Wav2Vec2ForCTC

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 17
PARITY_TOLERANCE = 1e-3  # max |ORT - torch| on logits; the legacy exporter measures ~1e-6
PARITY_SECONDS = (1.0, 1.6)  # two lengths, both whole numbers of 320-sample frames
PARITY_BATCH = 2
PARITY_SEED = 1234
HUB_PROBE_TIMEOUT_S = 3.0  # a TCP connection to the hub before loading a model it would download

#: A wav2vec2 small enough to train and run on a CPU in seconds: the standard conv stack (total
#: stride 320 samples = 20 ms), layer norms in the feature extractor (no group norm, whose
#: statistics span the whole input and would make windowed inference differ from whole-file),
#: a short positional convolution and two transformer layers.
TINY_CONFIG: dict[str, Any] = {
    "hidden_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 96,
    "conv_dim": [32] * 7,
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "hidden_dropout": 0.0,
    "attention_dropout": 0.0,
    "activation_dropout": 0.0,
    "feat_proj_dropout": 0.0,
    "final_dropout": 0.0,
    "layerdrop": 0.0,
    "mask_time_prob": 0.0,
    "ctc_loss_reduction": "mean",
    "ctc_zero_infinity": True,
}
CONFIG_PRESETS: dict[str, dict[str, Any]] = {"tiny": TINY_CONFIG}


@dataclass(frozen=True)
class ParityReport:
    """ONNX Runtime vs PyTorch on the same random audio; ``problems`` is empty when they agree."""

    checked: bool
    lengths: tuple[int, ...] = ()  # samples per test input
    frames: tuple[int, ...] = ()  # frames ONNX Runtime returned for each length
    max_abs_diff: float = 0.0  # over all outputs, logits
    tolerance: float = PARITY_TOLERANCE
    frame_stride: int = 0  # declared in the metadata
    measured_stride: float = 0.0  # samples per extra frame between the two lengths
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.checked:
            return "parity: not checked"
        verdict = "ok" if self.passed else "FAILED: " + "; ".join(self.problems)
        shapes = ", ".join(f"{n} samples -> {f} frames" for n, f in zip(self.lengths, self.frames))
        return (
            f"parity: max |onnxruntime - torch| = {self.max_abs_diff:.2e} (tolerance {self.tolerance:.0e}); "
            f"{shapes}; stride {self.measured_stride:g} (declared {self.frame_stride}): {verdict}"
        )


def build_model(
    pretrained: str | None = None,
    config: str | Mapping[str, Any] | None = None,
    units: tuple[str, ...] | None = None,
    seed: int | None = 0,
) -> "Wav2Vec2ForCTC":
    """A ``Wav2Vec2ForCTC`` in eval mode.

    ``pretrained``: a checkpoint folder or hub name (``from_pretrained``; a folder never touches the
    network). Otherwise ``config``: ``"tiny"`` (:data:`TINY_CONFIG`), a config JSON path or a dict
    of ``Wav2Vec2Config`` fields, randomly initialised (``seed`` makes it reproducible) with one
    output class per unit of ``units`` (default :func:`~lyricalign.acoustic.ctc_metadata.default_units`).
    """
    from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

    if pretrained is not None:
        if config is not None:
            raise ModelError("give either a pretrained checkpoint or a config, not both")
        return _load_pretrained(pretrained).eval()
    units = units or default_units()
    fields = _config_fields(config if config is not None else "tiny")
    fields.update(vocab_size=len(units), pad_token_id=0)
    try:
        model_config = Wav2Vec2Config(**fields)
    except (TypeError, ValueError) as e:
        raise ModelError(f"invalid wav2vec2 config: {e}") from e
    if seed is not None:
        torch.manual_seed(seed)
    return Wav2Vec2ForCTC(model_config).eval()


def _load_pretrained(name: str) -> "Wav2Vec2ForCTC":
    """``from_pretrained`` of a folder (never the network) or a hub name.

    With the hub unreachable (no network, an air-gapped cluster, ``HF_HUB_OFFLINE``) only the local
    cache is read: a model not in it fails at once with one message, not after half a minute of the
    hub client's retries and their warnings (measured: 35 s, ten warning lines).
    """
    from transformers import Wav2Vec2ForCTC

    local = Path(name).is_dir()
    offline = not local and not _hub_reachable()
    try:
        with _quiet_hub_client():
            return Wav2Vec2ForCTC.from_pretrained(name, local_files_only=local or offline)
    except (OSError, ValueError) as e:
        where = "not in the Hugging Face cache, and the hub is unreachable" if offline else f"{e}"
        raise ModelError(f"cannot load pretrained model {name!r}: {where}") from e


def _hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether the Hugging Face endpoint (``HF_ENDPOINT``), or the proxy configured for it (``HTTPS_PROXY``...),
    accepts a TCP connection; False when offline mode (``HF_HUB_OFFLINE``) is set."""
    import socket
    from urllib.parse import urlsplit
    from urllib.request import getproxies, proxy_bypass

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlsplit(constants.ENDPOINT)
    proxy = getproxies().get(url.scheme)
    if proxy and not proxy_bypass(url.hostname or ""):
        url = urlsplit(proxy if "//" in proxy else f"http://{proxy}")  # behind a proxy, the proxy is the way out
    try:
        with socket.create_connection((url.hostname or "", url.port or (443 if url.scheme == "https" else 80)),
                                      timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_hub_client() -> Iterator[None]:
    """The hub client's retry warnings off while a model loads (a failure ends in one ModelError)."""
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub_logger.setLevel(level)


def _config_fields(config: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    if config in CONFIG_PRESETS:
        return dict(CONFIG_PRESETS[config])
    path = Path(config)
    if not path.is_file():
        raise ModelError(f"config {config!r} is neither a preset ({', '.join(CONFIG_PRESETS)}) nor a file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: cannot read config ({e})") from e
    if not isinstance(data, dict):
        raise ModelError(f"{path}: config must be a JSON object")
    return data


def pretrained_metadata(pretrained: str, name: str, version: str) -> ModelMetadata:
    """Metadata of a checkpoint: its tokenizer's vocabulary, blank and delimiter; trained=True."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    local = Path(pretrained).is_dir()
    try:
        tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(pretrained, local_files_only=local)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load the tokenizer of {pretrained!r} (needed for its vocabulary): {e}") from e
    try:
        do_normalize = bool(Wav2Vec2FeatureExtractor.from_pretrained(pretrained, local_files_only=local).do_normalize)
    except (OSError, ValueError):
        logger.warning("%s has no feature extractor config; assuming normalised input", pretrained)
        do_normalize = True
    vocab = tokenizer.get_vocab()
    units = tuple(sorted(vocab, key=vocab.__getitem__))
    return ModelMetadata(
        name=name,
        version=version,
        units=units,
        blank_id=vocab[tokenizer.pad_token],
        word_delimiter=tokenizer.word_delimiter_token if tokenizer.word_delimiter_token in vocab else None,
        trained=True,
        normalize=do_normalize,
        extra={"source": pretrained},
    )


def model_frame_stride(model: torch.nn.Module) -> int:
    """Samples per output frame: the product of the conv feature extractor's strides."""
    return int(np.prod(model.config.conv_stride))


def config_metadata(
    model: torch.nn.Module, name: str, version: str, units: tuple[str, ...] | None = None, trained: bool = False
) -> ModelMetadata:
    """Metadata of a model built from a config: ``units`` (default vocabulary), blank 0, ``|``, its stride."""
    return ModelMetadata(
        name=name,
        version=version,
        units=units or default_units(),
        frame_stride=model_frame_stride(model),
        trained=trained,
        extra={
            "architecture": "wav2vec2",
            "hidden_size": model.config.hidden_size,
            "num_hidden_layers": model.config.num_hidden_layers,
        },
    )


def export_onnx(
    model: torch.nn.Module,
    out_path: str | Path,
    metadata: ModelMetadata,
    opset: int = DEFAULT_OPSET,
    check_parity: bool = True,
) -> ParityReport:
    """Export ``model`` ((B, L) waveform -> (B, F, C) logits) to ``out_path`` with ``metadata`` embedded.

    Batch and time axes are dynamic. The file is written only after the parity check passes.

    Raises:
        ModelError: export failed, or ONNX Runtime disagrees with PyTorch or with the metadata.
    """
    import onnx

    out_path = Path(out_path)
    model = model.eval()
    n_classes = model.config.vocab_size
    if n_classes != len(metadata.units):
        raise ModelError(f"model has {n_classes} output classes but the metadata lists {len(metadata.units)} units")
    started = time.perf_counter()
    proto = onnx.load_from_string(_torch_export(model, opset))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    proto.producer_name = "lyricalign"
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    logger.info("exported %s in %.2f s (%.1f MB)", metadata.tag, time.perf_counter() - started, len(data) / 1e6)
    report = parity_check(model, data, metadata) if check_parity else ParityReport(checked=False)
    if not report.passed:
        raise ModelError(f"{out_path}: not written, {report.summary()}")
    atomic_write_bytes(out_path, data)
    return report


def _torch_export(model: torch.nn.Module, opset: int) -> bytes:
    buffer = io.BytesIO()
    dummy = torch.zeros(1, SAMPLE_RATE)
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy (TorchScript) exporter is deprecated in favour of dynamo, which is slower and
        # less reliable on wav2vec2's dynamic shapes; its deprecation warning is not actionable here.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        try:
            torch.onnx.export(
                model,
                (dummy,),
                buffer,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch", 1: "samples"}, OUTPUT_NAME: {0: "batch", 1: "frames"}},
                opset_version=opset,
                dynamo=False,
            )
        except Exception as e:  # torch.onnx raises many types (OnnxExporterError, RuntimeError, ...)
            raise ModelError(f"ONNX export failed: {e}") from e
    return buffer.getvalue()


def parity_check(model: torch.nn.Module, onnx_bytes: bytes, metadata: ModelMetadata) -> ParityReport:
    """Run ONNX Runtime and PyTorch on the same random ``(2, N)`` audio for two ``N``; compare.

    Checks: outputs agree within :data:`PARITY_TOLERANCE`; the class count matches the units; and
    the extra frames between the two lengths match ``metadata.frame_stride`` (a wrong stride would
    put every timestamp in the wrong place).
    """
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(PARITY_SEED)
    lengths = tuple(int(round(s * SAMPLE_RATE)) for s in PARITY_SECONDS)
    frames: list[int] = []
    max_diff = 0.0
    problems: list[str] = []
    for n in lengths:
        audio = (0.1 * rng.standard_normal((PARITY_BATCH, n))).astype(np.float32)
        (ort_out,) = session.run([OUTPUT_NAME], {INPUT_NAME: audio})
        with torch.no_grad():
            torch_out = model(torch.from_numpy(audio)).logits.numpy()
        if ort_out.shape != torch_out.shape:
            problems.append(f"onnxruntime output {ort_out.shape} != torch output {torch_out.shape} for {n} samples")
            continue
        frames.append(int(ort_out.shape[1]))
        max_diff = max(max_diff, float(np.abs(ort_out - torch_out).max()))
        if ort_out.shape[2] != len(metadata.units):
            problems.append(f"model outputs {ort_out.shape[2]} classes, metadata lists {len(metadata.units)} units")
    measured = (lengths[1] - lengths[0]) / (frames[1] - frames[0]) if len(frames) == 2 and frames[1] != frames[0] else 0.0
    if max_diff > PARITY_TOLERANCE:
        problems.append(f"max abs difference {max_diff:.2e} exceeds {PARITY_TOLERANCE:.0e}")
    if measured != metadata.frame_stride:
        problems.append(f"metadata frame_stride {metadata.frame_stride} but the model advances one frame every {measured:g} samples")
    return ParityReport(
        checked=True,
        lengths=lengths,
        frames=tuple(frames),
        max_abs_diff=max_diff,
        frame_stride=metadata.frame_stride,
        measured_stride=measured,
        problems=tuple(dict.fromkeys(problems)),
    )
