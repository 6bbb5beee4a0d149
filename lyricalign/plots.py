"""Evaluation plots (matplotlib, Agg backend: no display needed).

- :func:`plot_song`: log-mel spectrogram of one song with true (white) and predicted (red) word
  onsets, plus a lane below showing each word's onset error.
- :func:`plot_error_summary`: distribution of signed onset errors per method (one box per method
  and a histogram), from one or several evaluation reports.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .audio import SAMPLE_RATE

if TYPE_CHECKING:
    from .evaluation import EvaluationReport

N_MELS = 80
HOP_SECONDS = 0.02
ERROR_CLIP_SECONDS = 5.0  # the summary's x range: larger errors pile up at the edges
HIST_BINS = 60


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
) -> Path:
    """Spectrogram of ``audio`` (``(N,)`` 16 kHz) with true and predicted onsets (seconds)."""
    import librosa

    plt = _pyplot()
    hop = int(HOP_SECONDS * SAMPLE_RATE)
    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_fft=4 * hop, hop_length=hop, n_mels=N_MELS)
    db = librosa.power_to_db(mel, ref=np.max)
    duration = audio.shape[0] / SAMPLE_RATE
    width = min(60.0, max(10.0, duration / 4))
    fig, (ax, lane) = plt.subplots(2, 1, figsize=(width, 5), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    ax.imshow(db, origin="lower", aspect="auto", extent=(0, duration, 0, N_MELS), cmap="magma")
    ax.vlines(reference, 0, N_MELS, colors="white", linewidth=0.8, label="true onset")
    ax.vlines(predicted, 0, N_MELS * 0.6, colors="red", linewidth=0.8, label="predicted onset")
    if words is not None:
        for onset, word in zip(reference, words):
            ax.text(onset, N_MELS - 2, word, color="white", fontsize=6, rotation=90, va="top")
    ax.set_ylabel("mel band")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7)
    errors = np.asarray(predicted) - np.asarray(reference)
    lane.axhline(0, color="grey", linewidth=0.5)
    lane.plot(reference, errors, "o", markersize=2, color="red")
    lane.set_ylabel("error s")
    lane.set_xlabel("time (s)")
    lane.set_xlim(0, duration)
    fig.tight_layout()
    return _save(fig, plt, path)


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
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
    return target
