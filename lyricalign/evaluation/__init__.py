"""Evaluation harness: align every song of an annotated dataset and score word onsets.

- :mod:`.datasets` -- JamendoLyrics folders and JSONL manifests -> :class:`Dataset` of
  :class:`EvalItem` (audio, lyrics, true word times);
- :mod:`.runner` -- :func:`evaluate`: one engine over the items, timed, with peak memory;
- :mod:`.report` -- :class:`EvaluationReport` (per song, per language, corpus), table and JSON;
- :mod:`.cli` -- ``lyricalign evaluate`` (:func:`register`, loaded by :mod:`lyricalign.cli`);
- :mod:`.__main__` -- ``python -m lyricalign.evaluation ARGS`` = ``lyricalign -v evaluate ARGS``
  (not re-exported: it imports :mod:`lyricalign.cli`, which loads this package).

The names below are re-exported lazily (PEP 562): the CLI imports this package on every command
to register ``evaluate``, and the report and runner pull in numpy and mir_eval, which ``lyricalign
align --help`` should not pay for. ``from lyricalign.evaluation import load_dataset, evaluate``
works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule that defines it
_EXPORTS = {
    "Dataset": "datasets",
    "EvalItem": "datasets",
    "UNITS": "datasets",
    "load_dataset": "datasets",
    "read_jamendo": "datasets",
    "read_manifest": "datasets",
    "EvaluationReport": "report",
    "GroupScores": "report",
    "SongReport": "report",
    "build_report": "report",
    "format_table": "report",
    "read_report_json": "report",
    "write_report_json": "report",
    "PeakMemorySampler": "runner",
    "evaluate": "runner",
    "register": "cli",
    "run_evaluate": "cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
