"""The evaluation report: per-song rows, per-language and corpus scores, table and JSON output.

Corpus and language scores are :class:`lyricalign.metrics.CorpusScores` (every song weighs the
same). JSON shape (:meth:`EvaluationReport.to_dict`): the corpus fields ``aae, medae, pco, pcs,
n_songs, n_words`` at the top, then ``method``, ``model``, ``dataset``, ``languages`` and
``songs``; :func:`read_report_json` reads it back (``lyricalign evaluate --compare``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import DatasetError
from ..metrics import CorpusScores, SongScores, aggregate

#: The scores of a group of songs (a language, or everything); the name this module used before.
GroupScores = CorpusScores


@dataclass(frozen=True)
class SongReport:
    name: str
    language: str
    n_words: int
    duration: float  # seconds of audio aligned
    mean_ae: float
    median_ae: float
    pco: float
    pcs: float
    wall_time: float  # seconds spent in engine.align (decoding and scoring excluded)
    rtf: float  # wall_time / duration
    peak_rss_mb: float  # highest resident set size sampled while aligning, MiB
    reference_onsets: tuple[float, ...] = field(repr=False, default=())  # file timeline, seconds
    predicted_onsets: tuple[float, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class EvaluationReport:
    dataset: str
    method: str
    model: str
    corpus: CorpusScores
    languages: dict[str, CorpusScores]
    songs: tuple[SongReport, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON shape: ``aae, medae, pco, pcs`` (corpus), ``songs``, ``languages``, ``method``, ``model``."""
        return {
            **{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self.corpus).items()},
            "method": self.method,
            "model": self.model,
            "dataset": self.dataset,
            "languages": {lang: asdict(scores) for lang, scores in self.languages.items()},
            "songs": [asdict(s) for s in self.songs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvaluationReport":
        corpus_keys = CorpusScores.__dataclass_fields__
        return cls(
            dataset=data.get("dataset", ""),
            method=data["method"],
            model=data.get("model", ""),
            corpus=CorpusScores(**{k: data[k] for k in corpus_keys}),
            languages={k: CorpusScores(**v) for k, v in data.get("languages", {}).items()},
            songs=tuple(
                SongReport(**{**s, "reference_onsets": tuple(s["reference_onsets"]), "predicted_onsets": tuple(s["predicted_onsets"])})
                for s in data["songs"]
            ),
        )


def build_report(dataset: str, method: str, model: str, songs: Sequence[SongReport]) -> EvaluationReport:
    """Per-language and corpus scores (every song weighs the same) from per-song rows."""
    languages = sorted({s.language for s in songs})
    return EvaluationReport(
        dataset=dataset, method=method, model=model, corpus=_group(songs),
        languages={lang: _group([s for s in songs if s.language == lang]) for lang in languages},
        songs=tuple(songs),
    )


def _group(songs: Sequence[SongReport]) -> CorpusScores:
    return aggregate([SongScores(s.mean_ae, s.median_ae, s.pco, s.pcs, s.n_words) for s in songs])


def format_table(report: EvaluationReport) -> str:
    """Fixed-width table: one row per song, one per language, then the corpus."""
    header = f"{'song':<36} {'lang':<4} {'words':>5} {'meanAE':>7} {'medAE':>7} {'PCO':>6} {'PCS':>6} {'time s':>7} {'RTF':>6} {'RSS MiB':>8}"
    lines = [f"method: {report.method}  model: {report.model}  dataset: {report.dataset}", header, "-" * len(header)]
    for s in report.songs:
        lines.append(
            f"{s.name[:36]:<36} {s.language:<4} {s.n_words:>5} {s.mean_ae:>7.3f} {s.median_ae:>7.3f} {s.pco:>6.3f} "
            f"{s.pcs:>6.3f} {s.wall_time:>7.2f} {s.rtf:>6.3f} {s.peak_rss_mb:>8.0f}"
        )
    lines.append("-" * len(header))
    groups = [(f"[{lang}] {g.n_songs} songs", lang, g) for lang, g in report.languages.items()]
    groups.append((f"ALL {report.corpus.n_songs} songs (AAE/MedAE)", "", report.corpus))
    for label, lang, g in groups:
        lines.append(f"{label[:36]:<36} {lang:<4} {g.n_words:>5} {g.aae:>7.3f} {g.medae:>7.3f} {g.pco:>6.3f} {g.pcs:>6.3f}")
    return "\n".join(lines) + "\n"


def write_report_json(report: EvaluationReport, path: str | os.PathLike) -> None:
    from ..fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")


def read_report_json(path: str | os.PathLike) -> EvaluationReport:
    try:
        return EvaluationReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError as e:
        raise DatasetError(f"{path}: no such report file") from e
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: not an evaluation report ({type(e).__name__}: {e})") from e
