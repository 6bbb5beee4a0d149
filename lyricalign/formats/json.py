"""JSON: the full result (:meth:`AlignmentResult.to_dict`, times to the millisecond), and its reader."""

from __future__ import annotations

import json

from ..schema import AlignmentResult
from .base import Format, FormatError, RenderOptions


def render_json(result: AlignmentResult, options: RenderOptions) -> str:
    """Indented with a final newline (files, the CLI), or one line (``options.compact``: HTTP bodies)."""
    data = result.to_dict()
    if options.compact:
        return json.dumps(data, ensure_ascii=False, allow_nan=False)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def read_json(text: str) -> AlignmentResult:
    """The result a ``json`` rendering describes."""
    try:
        return AlignmentResult.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as e:
        raise FormatError(f"not a lyricalign JSON result: {e}") from e


JSON = Format("json", (".json",), "application/json", "the full result: words, lines, language, model, extras",
              render_json, read_json)
