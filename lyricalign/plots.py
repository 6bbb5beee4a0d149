"""Evaluation plots (matplotlib, Agg backend: no display needed).

- :func:`plot_song`: one song, its timeline wrapped into rows of :data:`ROW_SECONDS` or more (at
  most :data:`MAX_ROWS`), so a 3-minute song is about 1600 x 1100 px and its words stay legible.
  Each row: a grey log-mel spectrogram with the true word onsets (cyan, upper half, labelled with
  the word) and predicted ones (orange, lower half); the first word of each lyrics line is drawn
  full height, thicker, with its line number. Below it, each word's signed onset error on a
  symmetric log scale (linear within 1 s, compressed beyond, clipped at :data:`ERROR_CLIP_SECONDS`
  with clipped words as triangles on the edge), green inside the PCO window, red outside -- so one
  10 s outlier no longer flattens every other error to the zero line.
- :func:`plot_error_summary`: distribution of signed onset errors per method (one box per method
  and a histogram), from one or several evaluation reports.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .audio import SAMPLE_RATE
from .metrics import PCO_WINDOW as PCO_WINDOW_SECONDS

if TYPE_CHECKING:
    from .evaluation import EvaluationReport

N_MELS = 80
HOP_SECONDS = 0.02
ERROR_CLIP_SECONDS = 5.0  # the summary's x range and the per-song error lane's: larger errors pile up at the edges
HIST_BINS = 60
ROW_SECONDS = 45.0  # timeline per row of a song plot (longer songs get longer rows, not more than MAX_ROWS)
MAX_ROWS = 8
FIGURE_WIDTH_INCHES = 16.0
ROW_HEIGHT_INCHES = 2.6
HEADER_INCHES = 1.0  # title, summary and legend
LABEL_GAP_FRACTION = 0.006  # of a row's width (~9 px at 16 inches): the closest two word labels may be
DPI = 100
TRUE_COLOUR, PREDICTED_COLOUR = "#22d3ee", "#f97316"  # cyan / orange: distinct on grey and for most colour vision
GOOD_COLOUR, BAD_COLOUR = "#16a34a", "#dc2626"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_song(
    audio: np.ndarray,
    reference: Sequence[float],
    predicted: Sequence[float],
    path: str | os.PathLike,
    *,
    title: str = "",
    words: Sequence[str] | None = None,
    line_starts: Sequence[int] | None = None,
) -> Path:
    """Spectrogram of ``audio`` (``(N,)`` 16 kHz) with true and predicted onsets (seconds, one per
    word) and their errors; ``line_starts``: indices of the words that begin a lyrics line."""
    import librosa

    plt = _pyplot()
    hop = int(HOP_SECONDS * SAMPLE_RATE)
    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_fft=4 * hop, hop_length=hop, n_mels=N_MELS)
    db = librosa.power_to_db(mel, ref=np.max)
    duration = max(audio.shape[0] / SAMPLE_RATE, HOP_SECONDS)
    n = min(len(reference), len(predicted))
    ref, pred = np.asarray(reference[:n], float), np.asarray(predicted[:n], float)
    errors = pred - ref
    starts = set(line_starts or [])
    n_rows = min(MAX_ROWS, max(1, math.ceil(duration / ROW_SECONDS)))
    row_seconds = duration / n_rows
    fig = plt.figure(figsize=(FIGURE_WIDTH_INCHES, HEADER_INCHES + ROW_HEIGHT_INCHES * n_rows))
    grid = fig.add_gridspec(3 * n_rows, 1, height_ratios=[3, 1.5, 0.75] * n_rows, hspace=0.0,
                            top=1 - HEADER_INCHES / fig.get_figheight(), bottom=0.1 / fig.get_figheight(),
                            left=0.05, right=0.99)
    for row in range(n_rows):  # a third, empty slot per row keeps room for the lane's time labels
        spec, lane = fig.add_subplot(grid[3 * row]), fig.add_subplot(grid[3 * row + 1])
        lo, hi = row * row_seconds, (row + 1) * row_seconds
        _draw_spectrogram(spec, db, duration, lo, hi)
        _draw_onsets(spec, ref, pred, words, starts, lo, hi)
        _draw_errors(lane, ref, errors, starts, lo, hi)
        spec.set_xlim(lo, hi)
        lane.set_xlim(lo, hi)
        spec.set_xticks([])
        lane.tick_params(axis="x", labelsize=8)
        if row == n_rows - 1:
            lane.set_xlabel("time (s)", fontsize=8)
    aae = float(np.mean(np.abs(errors))) if n else float("nan")
    pco = float(np.mean(np.abs(errors) <= PCO_WINDOW_SECONDS)) if n else float("nan")
    clipped = int(np.sum(np.abs(errors) > ERROR_CLIP_SECONDS))
    summary = f"{n} words, mean |error| {aae:.2f} s, within {PCO_WINDOW_SECONDS:g} s: {pco:.0%}"
    if clipped:
        summary += f", {clipped} beyond +-{ERROR_CLIP_SECONDS:g} s (triangles)"
    height = fig.get_figheight()
    fig.text(0.05, 1 - 0.12 / height, title, fontsize=12, fontweight="bold", va="top")
    fig.text(0.05, 1 - 0.42 / height, summary, fontsize=9, va="top")
    _legend(fig, 1 - 0.7 / height)
    return _save(fig, plt, path)


def _draw_spectrogram(ax, db: np.ndarray, duration: float, lo: float, hi: float) -> None:
    first, last = int(lo / HOP_SECONDS), int(math.ceil(hi / HOP_SECONDS)) + 1
    ax.imshow(db[:, first:last], origin="lower", aspect="auto", cmap="gray", vmin=-80, vmax=0, alpha=0.85,
              extent=(first * HOP_SECONDS, min(last * HOP_SECONDS, duration), 0, N_MELS))
    ax.set_ylim(0, N_MELS)
    ax.set_yticks([])


def _draw_onsets(ax, ref: np.ndarray, pred: np.ndarray, words: Sequence[str] | None, starts: set[int],
                 lo: float, hi: float) -> None:
    """True onsets in the upper half (labelled), predicted ones in the lower half; line starts full height."""
    top, middle = N_MELS, N_MELS / 2
    is_start = np.zeros(len(ref), dtype=bool)
    is_start[[k for k in starts if k < len(ref)]] = True
    true_in, pred_in = (ref >= lo) & (ref < hi), (pred >= lo) & (pred < hi)
    ax.vlines(ref[true_in & ~is_start], middle, top, colors=TRUE_COLOUR, linewidth=0.7)
    ax.vlines(ref[true_in & is_start], 0, top, colors=TRUE_COLOUR, linewidth=1.6)
    ax.vlines(pred[pred_in & ~is_start], 0, middle, colors=PREDICTED_COLOUR, linewidth=0.7)
    ax.vlines(pred[pred_in & is_start], 0, top * 0.9, colors=PREDICTED_COLOUR, linewidth=1.6, linestyles="dashed")
    if words is None:
        return
    line_numbers = {k: number for number, k in enumerate(sorted(starts), 1)}
    min_gap = (hi - lo) * LABEL_GAP_FRACTION  # labels closer than this would overprint each other
    last = -np.inf
    for k in np.flatnonzero(true_in):
        if k >= len(words):
            break
        if not is_start[k] and ref[k] - last < min_gap:
            continue  # a crowded word keeps its tick, not its label; line starts are always labelled
        last = ref[k]
        label = f"L{line_numbers[k]} {words[k]}" if is_start[k] else words[k]
        ax.text(ref[k], top - 1, label, color="white", fontsize=7, rotation=90, va="top", ha="right",
                fontweight="bold" if is_start[k] else "normal")


def _draw_errors(ax, ref: np.ndarray, errors: np.ndarray, starts: set[int], lo: float, hi: float) -> None:
    """Signed error per word at its true onset: symlog scale, clipped, green within the PCO window."""
    ax.set_yscale("symlog", linthresh=1.0, linscale=1.0)
    ax.set_ylim(-ERROR_CLIP_SECONDS * 1.15, ERROR_CLIP_SECONDS * 1.15)
    ax.set_yticks([-5, -1, 0, 1, 5], ["-5", "-1", "0", "+1", "+5"], fontsize=7)
    ax.axhspan(-PCO_WINDOW_SECONDS, PCO_WINDOW_SECONDS, color=GOOD_COLOUR, alpha=0.15, linewidth=0)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylabel("error s", fontsize=8)
    visible = (ref >= lo) & (ref < hi)
    good = np.abs(errors) <= PCO_WINDOW_SECONDS
    clipped = np.abs(errors) > ERROR_CLIP_SECONDS
    shown = np.clip(errors, -ERROR_CLIP_SECONDS, ERROR_CLIP_SECONDS)
    line = np.array([k in starts for k in range(len(ref))], dtype=bool)
    for mask, colour in ((good, GOOD_COLOUR), (~good, BAD_COLOUR)):
        for is_line, size in ((False, 9), (True, 28)):
            sel = visible & mask & ~clipped & (line == is_line)
            ax.scatter(ref[sel], shown[sel], s=size, color=colour, edgecolors="none" if not is_line else "black",
                       linewidths=0.5, zorder=3)
    for sign, marker in ((1, "^"), (-1, "v")):
        sel = visible & clipped & (np.sign(errors) == sign)
        ax.scatter(ref[sel], shown[sel], s=30, marker=marker, color=BAD_COLOUR, zorder=3)


def _legend(fig, y: float) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=TRUE_COLOUR, linewidth=0.8, label="true word onset"),
        Line2D([], [], color=PREDICTED_COLOUR, linewidth=0.8, label="predicted word onset"),
        Line2D([], [], color="grey", linewidth=1.8, label="line start (thick; L<n> = lyrics line)"),
        Line2D([], [], marker="o", color=GOOD_COLOUR, linestyle="", label=f"|error| <= {PCO_WINDOW_SECONDS:g} s"),
        Line2D([], [], marker="o", color=BAD_COLOUR, linestyle="", label="larger error (symlog scale)"),
        Line2D([], [], marker="^", color=BAD_COLOUR, linestyle="", label=f"beyond +-{ERROR_CLIP_SECONDS:g} s"),
    ]
    fig.legend(handles=handles, loc="upper left", ncol=6, fontsize=8, frameon=False, bbox_to_anchor=(0.045, y))


def plot_error_summary(reports: Sequence["EvaluationReport"], path: str | os.PathLike) -> Path:
    """Signed onset errors (predicted - true, clipped to +-5 s) of each report's method."""
    plt = _pyplot()
    labels, errors = [], []
    for report in reports:
        e = np.concatenate(
            [np.asarray(s.predicted_onsets) - np.asarray(s.reference_onsets) for s in report.songs] or [np.zeros(0)]
        )
        labels.append(f"{report.method}\nAAE {report.corpus.aae:.2f} s, PCO {report.corpus.pco:.2f}")
        errors.append(np.clip(e, -ERROR_CLIP_SECONDS, ERROR_CLIP_SECONDS))
    fig, (box, hist) = plt.subplots(1, 2, figsize=(12, 1.5 + 1.2 * max(2, len(reports))))
    box.boxplot(errors, orientation="horizontal", showfliers=True, flierprops={"markersize": 2})
    box.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
    box.axvline(0, color="grey", linewidth=0.5)
    box.set_xlabel("onset error (s), predicted - true")
    bins = np.linspace(-ERROR_CLIP_SECONDS, ERROR_CLIP_SECONDS, HIST_BINS + 1)
    for label, e in zip(labels, errors):
        hist.hist(e, bins=bins, histtype="step", label=label.split("\n")[0])
    hist.axvspan(-0.3, 0.3, color="green", alpha=0.1, label="PCO window")
    hist.set_xlabel("onset error (s)")
    hist.set_ylabel("words")
    hist.legend(fontsize=8)
    fig.suptitle("word onset errors per method")
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig, plt, path: str | os.PathLike) -> Path:
    from .fsutil import atomic_open

    target = Path(path)
    with atomic_open(target, "wb") as handle:
        fig.savefig(handle, format="png", dpi=DPI)
    plt.close(fig)
    return target
