"""Per-song plots: a readable size whatever the song's length, errors clipped rather than rescaled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lyricalign.audio import SAMPLE_RATE
from lyricalign.plots import ERROR_CLIP_SECONDS, MAX_ROWS, plot_song


def _png_size(path: Path) -> tuple[int, int]:
    import matplotlib.image

    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def _song(seconds: float, n_words: int, outlier: float) -> tuple[np.ndarray, list[float], list[float], list[str]]:
    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
    reference = list(np.linspace(2.0, seconds - 2.0, n_words))
    predicted = [r + e for r, e in zip(reference, rng.normal(0, 0.2, n_words))]
    predicted[n_words // 2] += outlier  # one far-off word must not flatten the others
    return audio, reference, predicted, [f"w{k}" for k in range(n_words)]


@pytest.mark.parametrize("seconds, rows", [(20.0, 1), (180.0, 4), pytest.param(1200.0, MAX_ROWS, marks=pytest.mark.slow)])
def test_song_plot_size_stays_readable(tmp_path: Path, seconds: float, rows: int) -> None:
    audio, reference, predicted, words = _song(seconds, int(seconds * 1.5), outlier=40.0)
    path = plot_song(audio, reference, predicted, tmp_path / "song.png", title="song", words=words if seconds < 600 else None,
                     line_starts=list(range(0, len(words), 6)))
    width, height = _png_size(path)
    assert width == 1600
    assert height == pytest.approx(100 + 260 * rows, abs=2)  # header + one 2.6-inch row per timeline slice


def test_error_lane_is_clipped_not_scaled_by_the_outlier(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    audio, reference, predicted, words = _song(30.0, 40, outlier=60.0)
    figures_before = set(plt.get_fignums())
    captured = {}
    original_close = plt.close

    def keep(fig):  # inspect the figure plot_song built before it is closed
        captured["fig"] = fig
        return original_close(fig)

    plt.close = keep
    try:
        plot_song(audio, reference, predicted, tmp_path / "song.png", words=words)
    finally:
        plt.close = original_close
    assert set(plt.get_fignums()) == figures_before  # closed: no figure leaks across songs
    lane = captured["fig"].axes[1]
    low, high = lane.get_ylim()
    assert high < 1.2 * ERROR_CLIP_SECONDS and low > -1.2 * ERROR_CLIP_SECONDS
    assert lane.get_yscale() == "symlog"
    texts = " ".join(t.get_text() for t in captured["fig"].texts)
    assert "1 beyond +-5 s" in texts and "40 words" in texts
