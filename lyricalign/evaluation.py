"""Evaluation harness: align every song of an annotated dataset and score word onsets.

Datasets (see :func:`load_dataset`):

- **JamendoLyrics layout**: ``JamendoLyrics.csv`` (``Filepath``, ``Language`` columns),
  ``mp3/<Filepath>``, ``lyrics/<song>.txt``, optionally ``lyrics/<song>.words.txt`` and
  ``annotations/words/<song>.csv`` (``word_start,word_end,line_end``). The annotated words are
  the whitespace tokens of ``<song>.txt``, one CSV row each, in order (checked).
- **JSONL manifest** (DALI-style, written by the data pipeline): one record per line with
  ``audio`` (path, relative to the manifest's folder or absolute), ``text``, ``language``,
  ``song_id``, ``words: [{"text", "start", "end"}]`` (seconds in the audio file's timeline, one
  per whitespace token of ``text``) and optional segment bounds ``start``/``end`` (seconds in
  that file; absent: the whole file). Items are the segments, or with ``unit="song"`` the
  segments of a song merged (they must share one audio file).

:func:`evaluate` runs one engine over the items and returns an :class:`EvaluationReport`; the
``lyricalign evaluate`` subcommand (:func:`register`) prints it as a table and writes JSON.

Only the stdlib is imported at module level (the CLI imports this module to register the
subcommand); numpy, the engines, metrics and plotting load when an evaluation runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import resource
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .errors import DatasetError, LyricalignError, LyricsError
from .text import normalize_language

if TYPE_CHECKING:
    from .engines.base import Engine

logger = logging.getLogger(__name__)

JAMENDO_CSV = "JamendoLyrics.csv"
JAMENDO_AUDIO_DIR = "mp3"
JAMENDO_LYRICS_DIR = "lyrics"
JAMENDO_WORDS_DIR = os.path.join("annotations", "words")
MANIFEST_SUFFIX = ".jsonl"
MEMORY_SAMPLE_SECONDS = 0.02
UNITS = ("segment", "song")
WARM_UP_SECONDS = 10.0


# --- datasets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalItem:
    """One thing to align and score: a song, or a segment of one."""

    name: str
    audio_path: Path
    lyrics_text: str
    language: str  # ISO 639-1
    reference: tuple[tuple[float, float], ...]  # (start, end) seconds per whitespace token, file timeline
    start: float = 0.0  # segment bounds in the audio file (seconds); end None: to the end of the file
    end: float | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    items: tuple[EvalItem, ...]

    def select(self, names: Sequence[str] | None) -> "Dataset":
        """Only the items named in ``names`` (by name or audio file name); all when None/empty."""
        if not names:
            return self
        wanted = set(names)
        chosen = tuple(i for i in self.items if i.name in wanted or i.audio_path.name in wanted)
        found = {i.name for i in chosen} | {i.audio_path.name for i in chosen}
        missing = sorted(wanted - found)
        if missing:
            raise DatasetError(f"{self.name}: no song named {', '.join(missing)} (have: {', '.join(i.name for i in self.items)})")
        return Dataset(name=self.name, items=chosen)


def load_dataset(path: str | os.PathLike, unit: str = "segment") -> Dataset:
    """A JamendoLyrics folder, a ``.jsonl`` manifest, or a folder holding exactly one manifest."""
    root = Path(path)
    if root.is_file() and root.suffix == MANIFEST_SUFFIX:
        return read_manifest(root, unit=unit)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder or {MANIFEST_SUFFIX} manifest")
    if (root / JAMENDO_CSV).is_file():
        return read_jamendo(root)
    manifests = sorted(root.glob(f"*{MANIFEST_SUFFIX}"))
    if len(manifests) == 1:
        return read_manifest(manifests[0], unit=unit)
    raise DatasetError(f"{root / JAMENDO_CSV}: missing (not a JamendoLyrics folder, and no single {MANIFEST_SUFFIX} manifest)")


def read_jamendo(root: Path) -> Dataset:
    """Read a JamendoLyrics-layout folder, checking that annotations match the lyrics 1:1."""
    table = root / JAMENDO_CSV
    rows = _read_csv(table, required=("Filepath", "Language"))
    items = tuple(_jamendo_item(root, table, n, row) for n, row in enumerate(rows, start=2))
    if not items:
        raise DatasetError(f"{table}: no songs listed")
    return Dataset(name=root.name, items=items)


def _jamendo_item(root: Path, table: Path, row_number: int, row: dict[str, str]) -> EvalItem:
    filepath = row["Filepath"].strip()
    if not filepath:
        raise DatasetError(f"{table}: row {row_number} has an empty Filepath")
    name = Path(filepath).stem
    language = _language(row["Language"], f"{table}: row {row_number}")
    audio = root / JAMENDO_AUDIO_DIR / filepath
    if not audio.is_file():
        raise DatasetError(f"{audio}: audio file missing")
    lyrics_path = root / JAMENDO_LYRICS_DIR / f"{name}.txt"
    lyrics_text = _read_text(lyrics_path)
    tokens = lyrics_text.split()
    words_path = root / JAMENDO_LYRICS_DIR / f"{name}.words.txt"
    if words_path.is_file():
        listed = _read_text(words_path).split()
        if listed != tokens:
            raise DatasetError(
                f"{words_path}: {len(listed)} words do not match the {len(tokens)} whitespace tokens of {lyrics_path.name}"
            )
    annotation = root / JAMENDO_WORDS_DIR / f"{name}.csv"
    reference = tuple(
        (_seconds(r["word_start"], annotation, n), _seconds(r["word_end"], annotation, n))
        for n, r in enumerate(_read_csv(annotation, required=("word_start", "word_end")), start=2)
    )
    if len(reference) != len(tokens):
        raise DatasetError(
            f"{annotation}: {len(reference)} annotated words but {lyrics_path} has {len(tokens)} words"
        )
    _check_onsets(reference, annotation)
    return EvalItem(name=name, audio_path=audio, lyrics_text=lyrics_text, language=language, reference=reference)


def read_manifest(path: Path, unit: str = "segment") -> Dataset:
    """Read a DALI-style JSONL manifest; ``unit="song"`` merges each song's segments."""
    if unit not in UNITS:
        raise DatasetError(f"unknown evaluation unit {unit!r} (choose from: {', '.join(UNITS)})")
    segments = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read manifest ({e})") from e
    for n, line in enumerate(lines, start=1):
        if line.strip():
            segments.append(_manifest_item(path, n, line))
    if not segments:
        raise DatasetError(f"{path}: manifest has no records")
    items = tuple(item for _, item in segments) if unit == "segment" else _merge_songs(path, segments)
    return Dataset(name=path.stem, items=items)


def _manifest_item(path: Path, line_number: int, line: str) -> tuple[str, EvalItem]:
    where = f"{path}:{line_number}"
    try:
        record = json.loads(line)
        audio = Path(record["audio"])
        text, song_id = str(record["text"]), str(record["song_id"])
        language = _language(str(record["language"]), where)
        reference = tuple((float(w["start"]), float(w["end"])) for w in record["words"])
        start = float(record.get("start", 0.0))
        end = None if record.get("end") is None else float(record["end"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{where}: malformed record ({type(e).__name__}: {e})") from e
    audio = audio if audio.is_absolute() else path.parent / audio
    if not audio.is_file():
        raise DatasetError(f"{where}: audio file missing: {audio}")
    if len(reference) != len(text.split()):
        raise DatasetError(f"{where}: {len(reference)} annotated words but the text has {len(text.split())} words")
    _check_onsets(reference, Path(where))
    if reference and (reference[0][0] < start or (end is not None and reference[-1][0] > end)):
        raise DatasetError(f"{where}: word times lie outside the segment [{start}, {end}]")
    name = f"{song_id}@{start:.2f}" if "start" in record else song_id
    item = EvalItem(name=name, audio_path=audio, lyrics_text=text, language=language, reference=reference, start=start, end=end)
    return song_id, item


def _merge_songs(path: Path, segments: list[tuple[str, EvalItem]]) -> tuple[EvalItem, ...]:
    by_song: dict[str, list[EvalItem]] = {}
    for song_id, item in segments:
        by_song.setdefault(song_id, []).append(item)
    merged = []
    for song_id, parts in by_song.items():
        parts.sort(key=lambda i: i.start)
        if len({p.audio_path for p in parts}) != 1:
            raise DatasetError(f"{path}: song {song_id} spans several audio files; evaluate it per segment")
        reference = tuple(span for p in parts for span in p.reference)
        _check_onsets(reference, path)
        merged.append(
            EvalItem(
                name=song_id, audio_path=parts[0].audio_path, lyrics_text="\n".join(p.lyrics_text for p in parts),
                language=parts[0].language, reference=reference,
            )
        )
    return tuple(merged)


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetError(f"{path}: file missing")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read CSV ({e})") from e


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(f"{path}: file missing")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from e


def _seconds(value: str | None, path: Path, row_number: int) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise DatasetError(f"{path}: row {row_number}: not a time in seconds: {value!r}") from e
    if not math.isfinite(seconds) or seconds < 0:
        raise DatasetError(f"{path}: row {row_number}: not a time in seconds: {value!r}")
    return seconds


def _check_onsets(reference: Sequence[tuple[float, float]], source: Path) -> None:
    for k in range(1, len(reference)):
        if reference[k][0] < reference[k - 1][0]:
            raise DatasetError(f"{source}: word {k + 1} starts before word {k} ({reference[k][0]} < {reference[k - 1][0]})")


def _language(value: str, where: str) -> str:
    try:
        return normalize_language(value)
    except LyricsError as e:
        raise DatasetError(f"{where}: {e}") from e


# --- evaluation -------------------------------------------------------------------------------


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
class GroupScores:
    """Corpus-convention scores over a group of songs (a language, or everything).

    The fields of :class:`lyricalign.metrics.CorpusScores`, redefined because this module imports
    only the stdlib at import time (metrics needs numpy and mir_eval).
    """

    aae: float
    medae: float
    pco: float
    pcs: float
    n_songs: int
    n_words: int


@dataclass(frozen=True)
class EvaluationReport:
    dataset: str
    method: str
    model: str
    corpus: GroupScores
    languages: dict[str, GroupScores]
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
        corpus_keys = GroupScores.__dataclass_fields__
        return cls(
            dataset=data.get("dataset", ""),
            method=data["method"],
            model=data.get("model", ""),
            corpus=GroupScores(**{k: data[k] for k in corpus_keys}),
            languages={k: GroupScores(**v) for k, v in data.get("languages", {}).items()},
            songs=tuple(
                SongReport(**{**s, "reference_onsets": tuple(s["reference_onsets"]), "predicted_onsets": tuple(s["predicted_onsets"])})
                for s in data["songs"]
            ),
        )


class PeakMemorySampler:
    """Highest resident set size while the ``with`` block runs, sampled by a thread.

    ``ru_maxrss`` is a process-lifetime high-water mark, so after the first big song it no longer
    moves; sampling ``/proc/self/statm`` every :data:`MEMORY_SAMPLE_SECONDS` sees each song's own
    peak (short spikes between samples can be missed). Without ``/proc`` it falls back to
    ``ru_maxrss``.
    """

    def __init__(self, interval: float = MEMORY_SAMPLE_SECONDS) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak_bytes = 0

    def __enter__(self) -> "PeakMemorySampler":
        self.peak_bytes = _rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, _rss_bytes())

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_bytes = max(self.peak_bytes, _rss_bytes())


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def evaluate(
    dataset: Dataset, engine: "Engine", *, progress: bool = True, plots_dir: str | os.PathLike | None = None
) -> EvaluationReport:
    """Align every item of ``dataset`` with ``engine`` (created once by the caller) and score it.

    ``plots_dir``: also write one spectrogram PNG per song with predicted and true onsets.
    Before timing anything the engine aligns a short excerpt once (:func:`_warm_up`), so that
    one-off costs (lazy imports, numba compilation, model loading) do not land on the first song.
    """
    from tqdm import tqdm

    audio_of = _LastDecoded()
    if dataset.items:
        _warm_up(engine, dataset.items[0], audio_of)
    songs = []
    bar = tqdm(dataset.items, desc=f"evaluate {engine.name}", unit="song", file=sys.stderr, disable=not progress)
    for item in bar:
        bar.set_postfix_str(item.name[:30])
        songs.append(_evaluate_item(item, engine, plots_dir, audio_of))
    return build_report(dataset.name, engine.name, engine.model_name, songs)


class _LastDecoded:
    """``(N,)`` audio of a file, decoded once for consecutive calls on the same file: a manifest's
    segments of one song come in a row, and each would otherwise decode the whole song again."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._audio: Any = None

    def __call__(self, path: Path) -> Any:
        from .audio import AudioLimits, load_audio

        if path != self._path:
            self._path, self._audio = None, None  # free the previous song before decoding the next
            self._audio = load_audio(path, AudioLimits(max_duration=None))
            self._path = path
        return self._audio


def _warm_up(engine: "Engine", item: EvalItem, audio_of: _LastDecoded) -> None:
    """Align the first :data:`WARM_UP_SECONDS` of ``item`` against its first line, untimed."""
    from .audio import SAMPLE_RATE
    from .text import parse_lyrics

    first_line = next((line for line in item.lyrics_text.splitlines() if line.strip()), "")
    try:
        audio = audio_of(item.audio_path)
        start = int(item.start * SAMPLE_RATE)
        engine.align(audio[start : start + int(WARM_UP_SECONDS * SAMPLE_RATE)], parse_lyrics(first_line, item.language))
    except LyricalignError as e:  # the real run reports problems with this item
        logger.warning("warm-up on %s failed: %s", item.name, e)


def _evaluate_item(
    item: EvalItem, engine: "Engine", plots_dir: str | os.PathLike | None, audio_of: _LastDecoded
) -> SongReport:
    from .audio import SAMPLE_RATE
    from .metrics import score_song
    from .text import parse_lyrics

    audio = audio_of(item.audio_path)
    first = int(item.start * SAMPLE_RATE)
    last = audio.shape[0] if item.end is None else int(item.end * SAMPLE_RATE)
    segment = audio[first:last]
    lyrics = parse_lyrics(item.lyrics_text, item.language)
    with PeakMemorySampler() as memory:
        began = time.perf_counter()
        result = engine.align(segment, lyrics)
        wall = time.perf_counter() - began
    reference = [start for start, _ in item.reference]
    predicted = [item.start + w.start for w in result.words]
    scores = score_song(reference, predicted)
    duration = segment.shape[0] / SAMPLE_RATE
    if plots_dir is not None:
        from .plots import plot_song

        plot_song(segment, [r - item.start for r in reference], [p - item.start for p in predicted],
                  Path(plots_dir) / f"{_safe_name(item.name)}.{engine.name}.png",
                  title=f"{item.name} ({engine.name})", words=[w.text for w in lyrics.words],
                  line_starts=[line.first_word for line in lyrics.lines])
    return SongReport(
        name=item.name, language=item.language, n_words=scores.n_words, duration=duration,
        mean_ae=scores.mean_ae, median_ae=scores.median_ae, pco=scores.pco, pcs=scores.pcs,
        wall_time=wall, rtf=wall / max(duration, 1e-9), peak_rss_mb=memory.peak_bytes / 2**20,
        reference_onsets=tuple(round(r, 3) for r in reference), predicted_onsets=tuple(round(p, 3) for p in predicted),
    )


def build_report(dataset: str, method: str, model: str, songs: Sequence[SongReport]) -> EvaluationReport:
    """Per-language and corpus scores (every song weighs the same) from per-song rows."""
    languages = sorted({s.language for s in songs})
    return EvaluationReport(
        dataset=dataset, method=method, model=model, corpus=_group(songs),
        languages={lang: _group([s for s in songs if s.language == lang]) for lang in languages},
        songs=tuple(songs),
    )


def _group(songs: Sequence[SongReport]) -> GroupScores:
    from .metrics import SongScores, aggregate

    return GroupScores(**asdict(aggregate([SongScores(s.mean_ae, s.median_ae, s.pco, s.pcs, s.n_words) for s in songs])))


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in name)


# --- report output ----------------------------------------------------------------------------


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
    from .fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")


def read_report_json(path: str | os.PathLike) -> EvaluationReport:
    try:
        return EvaluationReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: not an evaluation report ({type(e).__name__}: {e})") from e


# --- CLI --------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lyricalign evaluate``."""
    p = subparsers.add_parser(
        "evaluate", help="score a method on an annotated dataset (AAE, MedAE, PCO, PCS)",
        description="Align every song of DATASET (a JamendoLyrics folder or a JSONL manifest) and score word onsets.",
    )
    p.add_argument("dataset", metavar="DATASET_DIR", help="JamendoLyrics-layout folder, or a DALI-style .jsonl manifest")
    p.add_argument("-m", "--method", default="hmm", help="method, or comma-separated methods to compare (default: hmm)")
    p.add_argument("--model", default=None, help="acoustic model for ctc (ONNX file or installed model name)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the report as JSON (with several methods: OUT.<method>.json)")
    p.add_argument("--plots", default=None, metavar="DIR", help="write per-song onset plots and an error-distribution summary")
    p.add_argument("--compare", nargs="+", default=[], metavar="REPORT", help="earlier --json reports to add to the summary plot")
    p.add_argument("--songs", nargs="+", default=None, metavar="NAME", help="evaluate only these songs")
    p.add_argument("--unit", choices=UNITS, default="segment", help="manifests: score per segment or per song")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from .engines import create_engine

    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    if not methods:
        raise LyricalignError("--method: no method given")
    dataset = load_dataset(args.dataset, unit=args.unit).select(args.songs)
    previous = [read_report_json(p) for p in args.compare]
    reports = []
    for method in methods:
        options = {"model": args.model} if args.model else {}
        engine = create_engine(method, **options)
        report = evaluate(dataset, engine, plots_dir=args.plots)
        sys.stdout.write(format_table(report))
        if args.json:
            write_report_json(report, _json_path(args.json, method, several=len(methods) > 1))
        reports.append(report)
    if args.plots:
        from .plots import plot_error_summary

        summary = plot_error_summary(previous + reports, Path(args.plots) / "summary.png")
        logger.info("wrote %s", summary)
    return 0


def _json_path(out: str, method: str, several: bool) -> Path:
    path = Path(out)
    return path.with_name(f"{path.stem}.{method}{path.suffix or '.json'}") if several else path


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m lyricalign.evaluation ARGS``: ``lyricalign -v evaluate ARGS`` (same parser and exit codes)."""
    from .cli import main as lyricalign_main

    return lyricalign_main(["-v", "evaluate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
