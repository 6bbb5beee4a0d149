"""Run one engine over a dataset: align each item, time it, sample its peak memory, score it.

numpy, the audio decoder, the metrics and plotting load when an evaluation runs, not when the CLI
registers ``lyricalign evaluate``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import LyricalignError
from .datasets import Dataset, EvalItem
from .report import EvaluationReport, SongReport, build_report

if TYPE_CHECKING:
    from ..engines.base import Engine

logger = logging.getLogger("lyricalign.evaluation")  # one logger name for the package, as before the split

MEMORY_SAMPLE_SECONDS = 0.02
WARM_UP_SECONDS = 10.0


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
    ``progress``: as ``align --batch`` shows it (:class:`~lyricalign.progress.CountProgress`), a bar on
    a terminal, else a log line every ``LYRICALIGN_PROGRESS_INTERVAL`` seconds, not a bar's carriage
    returns in a log file.
    """
    from ..progress import CountProgress

    audio_of = _LastDecoded()
    if dataset.items:
        _warm_up(engine, dataset.items[0], audio_of)
    songs = []
    counter = CountProgress(len(dataset.items), unit="song", desc=f"evaluate {engine.name}") if progress else None
    with counter if counter is not None else contextlib.nullcontext():
        for item in dataset.items:
            songs.append(_evaluate_item(item, engine, plots_dir, audio_of))
            if counter is not None:
                counter.update("scored")
    return build_report(dataset.name, engine.name, engine.model_name, songs)


class _LastDecoded:
    """``(N,)`` audio of a file, decoded once for consecutive calls on the same file: a manifest's
    segments of one song come in a row, and each would otherwise decode the whole song again."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._audio: Any = None

    def __call__(self, path: Path) -> Any:
        from ..audio import AudioLimits, load_audio

        if path != self._path:
            self._path, self._audio = None, None  # free the previous song before decoding the next
            self._audio = load_audio(path, AudioLimits(max_duration=None))
            self._path = path
        return self._audio


def _warm_up(engine: "Engine", item: EvalItem, audio_of: _LastDecoded) -> None:
    """Align the first :data:`WARM_UP_SECONDS` of ``item`` against its first line, untimed."""
    from ..audio import SAMPLE_RATE
    from ..text import parse_lyrics

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
    from ..audio import SAMPLE_RATE
    from ..metrics import score_song
    from ..text import parse_lyrics

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
        from ..plots import plot_song

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


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in name)
