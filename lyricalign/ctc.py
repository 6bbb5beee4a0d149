"""Former home of the CTC Viterbi kernel, now :mod:`lyricalign.align.ctc_viterbi`.

Re-exported for ``lyricalign.engines.ctc`` until it imports the new module (the engine is
``lyricalign.engines.ctc``; this file is not).
"""

from .align.ctc_viterbi import (
    EMISSION_CHUNK_FRAMES,
    TokenSpan,
    append_wildcard,
    ctc_viterbi_reference,
    forced_align,
    min_frames,
    path_log_prob,
    token_spans,
)

__all__ = [
    "EMISSION_CHUNK_FRAMES",
    "TokenSpan",
    "append_wildcard",
    "ctc_viterbi_reference",
    "forced_align",
    "min_frames",
    "path_log_prob",
    "token_spans",
]
