"""Reader for the DALI v1.0 dataset (Meseguer-Brocal et al., ISMIR 2018).

A DALI folder holds one ``<dali_id>.gz`` per song: a gzip-compressed pickle of a
``DALI.Annotations.Annotations`` object (loaded with :mod:`.safe_pickle`, never with
plain ``pickle``), or the package's JSON export ``<name>.json`` = ``{"info": ..., "annotations": ...}``.

``annotations = {"type", "annot", "annot_param": {"fr", "offset"}}`` in one of two layouts:

- ``"horizontal"``: ``annot = {"notes", "words", "lines", "paragraphs"}``, each a list of
  ``{"text", "time": [start, end], "freq": [lo, hi], "index"}`` where ``index`` is the parent's
  position in the next level up (paragraphs have none).
- ``"vertical"``: ``annot = {"hierarchical": [paragraph, ...]}``; a paragraph's ``"text"`` is its
  list of lines, a line's its words, a word's its notes; only notes carry a text string. The
  upper levels' texts are rebuilt as DALI's ``unroll`` does: a word joins its notes' syllables
  without spaces, a line and a paragraph join their children with spaces.

Ground-truth corrections (``gt_v1.0_22-11-18.gz``: ``{dali_id: {"offset", "fr"}}``) are applied
exactly as DALI's ``Annotations.change_time`` / ``utilities_annot.change_time`` do: the time is
quantised to the beat grid of the file's own ``annot_param`` and re-timed on the corrected grid,
``beat = round((t - offset) * fr / 60)``, ``t' = beat * 60 / fr' + offset'`` (fr in beats per minute;
``round`` is numpy's half-to-even, as Python's).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Container, Iterator, Mapping

from lyricalign.errors import DatasetError, LyricsError
from lyricalign.text import normalize_language

from .safe_pickle import AnnotationsRecord, load_gzip_pickle

logger = logging.getLogger(__name__)

LEVELS = ("notes", "words", "lines", "paragraphs")  # bottom-up; each level's ``parent`` indexes the next


@dataclass(frozen=True)
class Segment:
    """One annotated item of a level; ``parent`` indexes the next level up (None for paragraphs)."""

    text: str
    start: float
    end: float
    freq: tuple[float, float]
    parent: int | None


@dataclass(frozen=True)
class TimeParam:
    """DALI's ``annot_param``: beat grid of the annotation (``fr`` in beats per minute, ``offset`` in seconds)."""

    fr: float
    offset: float


@dataclass(frozen=True)
class SongInfo:
    """The fields of a DALI ``info`` dict (also the shape of ``dali_v1_metadata.json`` entries)."""

    id: str
    artist: str
    title: str
    language: str  # ISO 639-1 when lyricalign supports it ("en"), else DALI's lower-case name ("japanese")
    url: str  # YouTube video id
    working: bool
    ncc: float
    ground_truth: bool

    @classmethod
    def from_dict(cls, info: Mapping[str, Any]) -> "SongInfo":
        try:
            audio = info.get("audio") or {}
            scores = info.get("scores") or {}
            metadata = info.get("metadata") or {}
            return cls(
                id=str(info["id"]),
                artist=str(info.get("artist", "")),
                title=str(info.get("title", "")),
                language=language_code(str(metadata.get("language", ""))),
                url=str(audio.get("url", "")),
                working=bool(audio.get("working", False)),
                ncc=float(scores.get("NCC", 0.0)),
                ground_truth=bool(info.get("ground-truth", False)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DatasetError(f"malformed DALI info record ({e!r})") from e


@dataclass(frozen=True)
class DaliSong:
    info: SongInfo
    notes: tuple[Segment, ...]
    words: tuple[Segment, ...]
    lines: tuple[Segment, ...]
    paragraphs: tuple[Segment, ...]
    time_param: TimeParam

    def level(self, name: str) -> tuple[Segment, ...]:
        return getattr(self, name)

    def words_of_line(self, line: int) -> list[Segment]:
        return [w for w in self.words if w.parent == line]


@dataclass(frozen=True)
class DaliFilter:
    """Which songs to keep. ``None`` / empty means "no constraint" for that field."""

    languages: frozenset[str] = frozenset()  # ISO codes or DALI names, compared after :func:`language_code`
    min_ncc: float | None = None
    working_only: bool = False
    ground_truth_only: bool = False
    ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "languages", frozenset(language_code(x) for x in self.languages))
        if self.min_ncc is not None and not -1.0 <= self.min_ncc <= 1.0:
            raise ValueError(f"min_ncc must be in [-1, 1], got {self.min_ncc}")

    def accepts(self, info: SongInfo, ground_truth_ids: Container[str] = ()) -> bool:
        if self.ids and info.id not in self.ids:
            return False
        if self.languages and info.language not in self.languages:
            return False
        if self.min_ncc is not None and info.ncc < self.min_ncc:
            return False
        if self.working_only and not info.working:
            return False
        if self.ground_truth_only and not (info.ground_truth or info.id in ground_truth_ids):
            return False
        return True


def language_code(name: str) -> str:
    """``"english"`` -> ``"en"``; languages lyricalign cannot normalise keep DALI's lower-case name."""
    name = name.strip().lower()
    try:
        return normalize_language(name)
    except LyricsError:
        return name


# --- time corrections -----------------------------------------------------------------------


def change_time(time: float, old: TimeParam, new: TimeParam) -> float:
    """DALI's re-timing of one annotation time from grid ``old`` to grid ``new`` (module docstring)."""
    beat = round((time - old.offset) * old.fr / 60.0)
    return beat * 60.0 / new.fr + new.offset


def retime(song: DaliSong, new: TimeParam) -> DaliSong:
    """The song with every level's times moved to the corrected beat grid ``new``."""
    old = song.time_param
    if old.fr <= 0 or new.fr <= 0:
        raise DatasetError(f"{song.info.id}: frame rate must be positive (annotation {old.fr}, correction {new.fr})")

    def moved(level: tuple[Segment, ...]) -> tuple[Segment, ...]:
        return tuple(
            Segment(s.text, change_time(s.start, old, new), change_time(s.end, old, new), s.freq, s.parent) for s in level
        )

    return DaliSong(
        info=song.info,
        notes=moved(song.notes),
        words=moved(song.words),
        lines=moved(song.lines),
        paragraphs=moved(song.paragraphs),
        time_param=new,
    )


def load_ground_truth(path: str | Path) -> dict[str, TimeParam]:
    """Read DALI's ground-truth file: ``{dali_id: TimeParam(fr, offset)}``."""
    path = Path(path)
    data = load_gzip_pickle(path)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a dict of corrections, found {type(data).__name__}")
    try:
        return {str(k): TimeParam(fr=float(v["fr"]), offset=float(v["offset"])) for k, v in data.items()}
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{path}: malformed correction entry ({e!r})") from e


# --- reading --------------------------------------------------------------------------------


def read_song(path: str | Path) -> DaliSong:
    """Read one annotation file: ``<id>.gz`` (DALI pickle) or ``<id>.json`` (DALI's JSON export)."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            info, annotations = data["info"], data["annotations"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DatasetError(f"{path}: not a DALI JSON export ({e!r})") from e
    else:
        record = load_gzip_pickle(path)
        if not isinstance(record, AnnotationsRecord):
            raise DatasetError(f"{path}: expected a DALI Annotations object, found {type(record).__name__}")
        info, annotations = getattr(record, "info", None), getattr(record, "annotations", None)
    try:
        return _song_from(info, annotations)
    except DatasetError as e:
        raise DatasetError(f"{path}: {e}") from e


def _song_from(info: Any, annotations: Any) -> DaliSong:
    if not isinstance(info, dict) or not isinstance(annotations, dict):
        raise DatasetError("info and annotations must be dicts")
    try:
        kind, annot, param = annotations["type"], annotations["annot"], annotations["annot_param"]
        time_param = TimeParam(fr=float(param["fr"]), offset=float(param["offset"]))
        if kind == "horizontal":
            levels = {name: tuple(_segment(item, name) for item in annot[name]) for name in LEVELS}
        elif kind == "vertical":
            levels = _unroll(annot["hierarchical"])
        else:
            raise DatasetError(f"unknown annotation type {kind!r}")
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise DatasetError(f"malformed annotations ({e!r})") from e
    _check_parents(levels)
    return DaliSong(info=SongInfo.from_dict(info), time_param=time_param, **levels)


def _segment(item: Mapping[str, Any], level: str, parent: int | None = None, text: str | None = None) -> Segment:
    start, end = item["time"]
    lo, hi = item["freq"]
    if parent is None and level != "paragraphs":
        parent = int(item["index"])
    return Segment(
        text=str(item["text"] if text is None else text), start=float(start), end=float(end), freq=(float(lo), float(hi)), parent=parent
    )


def _unroll(paragraphs: list) -> dict[str, tuple[Segment, ...]]:
    """Vertical (nested) annotations -> the four horizontal levels with parent indices."""
    out: dict[str, list[Segment]] = {name: [] for name in LEVELS}
    for p_item in paragraphs:
        p_index = len(out["paragraphs"])
        line_texts = []
        for l_item in p_item["text"]:
            l_index = len(out["lines"])
            word_texts = []
            for w_item in l_item["text"]:
                w_index = len(out["words"])
                syllables = [str(n["text"]) for n in w_item["text"]]
                out["notes"].extend(_segment(n, "notes", parent=w_index) for n in w_item["text"])
                word_texts.append("".join(syllables))
                out["words"].append(_segment(w_item, "words", parent=l_index, text=word_texts[-1]))
            line_texts.append(" ".join(word_texts))
            out["lines"].append(_segment(l_item, "lines", parent=p_index, text=line_texts[-1]))
        out["paragraphs"].append(_segment(p_item, "paragraphs", text=" ".join(line_texts)))
    return {name: tuple(items) for name, items in out.items()}


def _check_parents(levels: Mapping[str, tuple[Segment, ...]]) -> None:
    for child, parent in zip(LEVELS, LEVELS[1:]):
        n_parents = len(levels[parent])
        for i, seg in enumerate(levels[child]):
            if seg.parent is None or not 0 <= seg.parent < n_parents:
                raise DatasetError(f"{child}[{i}] points at {parent}[{seg.parent}], which does not exist")


def annotation_files(folder: str | Path) -> list[Path]:
    """The ``*.gz`` and ``*.json`` annotation files of a DALI folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a directory")
    return sorted(p for p in folder.iterdir() if p.suffix in (".gz", ".json") and p.is_file())


@dataclass
class ReadReport:
    """What :func:`iter_songs` skipped and why (filled while iterating)."""

    read: int = 0
    filtered: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # file name -> error message
    corrected: int = 0


def iter_songs(
    folder: str | Path,
    filters: DaliFilter = DaliFilter(),
    ground_truth: Mapping[str, TimeParam] | None = None,
    report: ReadReport | None = None,
) -> Iterator[DaliSong]:
    """Songs of a DALI folder that pass ``filters``, with ground-truth corrections applied.

    A song listed in ``ground_truth`` is re-timed (:func:`retime`) and marked ``ground_truth``,
    as DALI's ``update_with_ground_truth`` does. Unreadable files are skipped with a warning and
    recorded in ``report.failed``; a refused pickle is never partially used.
    """
    ground_truth = ground_truth or {}
    report = report if report is not None else ReadReport()
    for path in annotation_files(folder):
        if path.suffix == ".json" and path.with_suffix(".gz").exists():
            continue  # the same song in both forms: the pickle is the original
        if filters.ids and path.suffix == ".gz" and path.stem not in filters.ids:  # DALI names pickles by id
            report.filtered += 1
            continue
        try:
            song = read_song(path)
        except DatasetError as e:
            logger.warning("skipping %s", e)
            report.failed[path.name] = str(e)
            continue
        report.read += 1
        correction = ground_truth.get(song.info.id)
        if correction is not None:
            song = retime(song, correction)
            song = DaliSong(**{**song.__dict__, "info": _with_ground_truth(song.info)})
            report.corrected += 1
        if not filters.accepts(song.info, ground_truth):
            report.filtered += 1
            continue
        yield song


def _with_ground_truth(info: SongInfo) -> SongInfo:
    return SongInfo(**{**info.__dict__, "ground_truth": True})


def load_metadata(path: str | Path) -> list[SongInfo]:
    """Read ``dali_v1_metadata.json`` (``{dali_id: info}``) as :class:`SongInfo` records."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not a readable JSON file ({e})") from e
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected an object of DALI id -> info")
    try:
        return [SongInfo.from_dict({"id": key, **value}) for key, value in data.items()]
    except DatasetError as e:
        raise DatasetError(f"{path}: {e}") from e
    except TypeError as e:
        raise DatasetError(f"{path}: malformed entry ({e})") from e
