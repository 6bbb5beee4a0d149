"""Former home of the CTC acoustic model, now split along its seams in :mod:`lyricalign.acoustic`.

Re-exported for the modules not yet moved over (``lyricalign.engines.ctc``, ``lyricalign.service.pipeline``);
new code imports from :mod:`~lyricalign.acoustic.ctc_metadata`, :mod:`~lyricalign.acoustic.ctc_runtime`,
:mod:`~lyricalign.acoustic.ctc_windows` and :mod:`~lyricalign.acoustic.ctc_model`.
"""

from .acoustic.ctc_metadata import (
    BLANK,
    METADATA_KEY,
    SIDECAR_SUFFIX,
    WORD_DELIMITER,
    ModelMetadata,
    default_units,
    read_metadata,
    sidecar_path,
)
from .acoustic.ctc_model import INPUT_NAME, NORMALIZE_EPS, OUTPUT_NAME, AcousticModel, log_softmax, normalize_waveform
from .acoustic.ctc_runtime import RuntimeOptions, open_session
from .acoustic.ctc_windows import WindowGeometry, WindowPlan, plan_windows, stitch, window_geometry

__all__ = [
    "BLANK", "INPUT_NAME", "METADATA_KEY", "NORMALIZE_EPS", "OUTPUT_NAME", "SIDECAR_SUFFIX", "WORD_DELIMITER",
    "AcousticModel", "ModelMetadata", "RuntimeOptions", "WindowGeometry", "WindowPlan", "default_units",
    "log_softmax", "normalize_waveform", "open_session", "plan_windows", "read_metadata", "sidecar_path",
    "stitch", "window_geometry",
]
