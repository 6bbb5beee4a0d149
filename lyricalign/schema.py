"""Typed result records: the contract between engines, writers, evaluation and the service.

Times are seconds from the start of the audio, rounded to the millisecond (by
:func:`lyricalign.timing.assemble_result`, and again in :meth:`AlignmentResult.to_dict`).
``Word.line`` is the index into ``AlignmentResult.lines``. JSON shape (see :meth:`AlignmentResult.to_dict`)::

    {"words": [{"text", "start", "end", "confidence", "line", "interpolated", "marker"}],
     "lines": [{"text", "start", "end", "paragraph", "marker"}],
     "duration", "model", "language", "method", "extras"?}

``extras`` (optional) holds diagnostics: ``language_detection`` (``{"language", "confidence", "unsure",
"unsupported"?, "unsupported_confidence"?}``) when the language was detected, ``warnings`` (a list of
sentences) when something about the result should not be trusted blindly, and engine diagnostics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One whitespace-separated token of the input lyrics, with its original text."""

    text: str
    start: float
    end: float
    confidence: float | None  # in [0, 1]; 0 for interpolated words; None: the method has none (dtw, uniform)
    line: int
    interpolated: bool = False  # True when nothing in the token was alignable and times were interpolated
    marker: bool = False  # part of a section marker / stage direction line: interpolated, never aligned


@dataclass(frozen=True)
class Line:
    """One non-blank input line; ``start``/``end`` span its words."""

    text: str
    start: float
    end: float
    paragraph: int = 0
    marker: bool = False  # a section marker / stage direction line: left out of the display formats


@dataclass(frozen=True)
class AlignmentResult:
    words: tuple[Word, ...]
    lines: tuple[Line, ...]
    duration: float  # seconds of audio aligned
    model: str  # the engine's model identity, e.g. "pocketsphinx-en-us" or an ONNX model's name@version
    language: str
    method: str = ""
    extras: dict[str, Any] = field(default_factory=dict, compare=False)  # engine diagnostics, JSON-safe

    def to_dict(self) -> dict[str, Any]:
        return {
            "words": [_rounded(asdict(w)) for w in self.words],
            "lines": [_rounded(asdict(ln)) for ln in self.lines],
            "duration": round(self.duration, 3),
            "model": self.model,
            "language": self.language,
            "method": self.method,
            **({"extras": self.extras} if self.extras else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AlignmentResult":
        return cls(
            words=tuple(Word(**w) for w in data["words"]),
            lines=tuple(Line(**ln) for ln in data["lines"]),
            duration=float(data["duration"]),
            model=data.get("model", ""),
            language=data.get("language", ""),
            method=data.get("method", ""),
            extras=data.get("extras", {}),
        )

    def words_of_line(self, index: int) -> tuple[Word, ...]:
        return tuple(w for w in self.words if w.line == index)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Sentences about what should not be trusted blindly (also in ``extras["warnings"]``)."""
        return tuple(self.extras.get("warnings", ()))


def _rounded(record: dict[str, Any]) -> dict[str, Any]:
    """Millisecond precision for times, 4 digits for confidences: stable, compact JSON."""
    out = dict(record)
    for key in ("start", "end"):
        out[key] = round(float(out[key]), 3)
    if out.get("confidence") is not None:
        out["confidence"] = round(float(out["confidence"]), 4)
    return out
