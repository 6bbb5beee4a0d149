"""How ONNX Runtime runs a CTC acoustic model: :class:`RuntimeOptions` and :func:`open_session`.

The options also say how long audio is windowed (:mod:`lyricalign.acoustic.ctc_windows`), since
window length is a runtime trade-off (memory, batching), not a property of the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import ModelError

_GRAPH_OPTIMIZATION = ("disable", "basic", "extended", "all")
_DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class RuntimeOptions:
    """How ONNX Runtime runs a model, and how long audio is windowed.

    ``intra_op_threads``/``inter_op_threads`` of 0 let ONNX Runtime choose. ``device``: ``"cpu"``,
    ``"cuda"`` (an error when onnxruntime-gpu is not installed) or ``"auto"`` (CUDA when available).
    ``window_seconds`` is the whole window, ``overlap_seconds`` the context discarded on *each*
    side of it, so every window advances by ``window_seconds - 2 * overlap_seconds``.
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    device: str = "cpu"
    graph_optimization: str = "all"
    window_seconds: float = 15.0
    overlap_seconds: float = 1.0
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise ValueError("thread counts must be >= 0 (0: let onnxruntime choose)")
        if self.device not in _DEVICES:
            raise ValueError(f"device must be one of {', '.join(_DEVICES)}, got {self.device!r}")
        if self.graph_optimization not in _GRAPH_OPTIMIZATION:
            raise ValueError(f"graph_optimization must be one of {', '.join(_GRAPH_OPTIMIZATION)}, got {self.graph_optimization!r}")
        if self.overlap_seconds <= 0:
            raise ValueError(f"overlap_seconds must be > 0 (window edges need context), got {self.overlap_seconds}")
        if self.window_seconds <= 2 * self.overlap_seconds:
            raise ValueError(
                f"window_seconds ({self.window_seconds}) must exceed twice overlap_seconds ({self.overlap_seconds})"
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def providers(self, available: Sequence[str]) -> list[str]:
        """ONNX Runtime execution providers for :attr:`device`, given the installed ones."""
        has_cuda = "CUDAExecutionProvider" in available
        if self.device == "cuda" and not has_cuda:
            raise ModelError("device 'cuda' requested but onnxruntime has no CUDA provider (install onnxruntime-gpu)")
        if self.device == "cpu" or not has_cuda:
            return ["CPUExecutionProvider"]
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def open_session(path: Path, options: RuntimeOptions) -> Any:
    """An ``onnxruntime.InferenceSession`` of ``path`` configured by ``options`` (threads, graph
    optimisation, providers); warnings silenced.

    Raises:
        ModelError: not a loadable ONNX model, or CUDA requested but unavailable.
    """
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = options.intra_op_threads
    session_options.inter_op_num_threads = options.inter_op_threads
    session_options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[options.graph_optimization]
    session_options.log_severity_level = 3  # errors only: ORT's warnings go to stderr otherwise
    providers = options.providers(ort.get_available_providers())
    try:
        return ort.InferenceSession(str(path), sess_options=session_options, providers=providers)
    except Exception as e:  # InvalidProtobuf, NoSuchFile, Fail...: all mean "not a usable model"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({reason})") from e
