"""Progress reporting: the core's (stage, fraction) callbacks, and what a non-interactive run prints."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lyricalign.align.ctc_viterbi import PROGRESS_EVERY_FRAMES, forced_align
from lyricalign.acoustic.ctc_model import AcousticModel
from lyricalign.acoustic.ctc_runtime import RuntimeOptions
from lyricalign.progress import CountProgress, Stages, progress_callback, report_progress

from _song_files import write_song_files

REPO = Path(__file__).resolve().parents[1]


def collect() -> tuple[list[tuple[str, float]], object]:
    seen: list[tuple[str, float]] = []
    return seen, lambda stage, fraction: seen.append((stage, fraction))


def test_reports_go_to_the_installed_callback_only() -> None:
    seen, callback = collect()
    report_progress("outside", 0.5)
    with progress_callback(callback):
        report_progress("inside", 1.7)  # clamped to [0, 1]
        with progress_callback(None):
            report_progress("silenced", 0.5)
    report_progress("after", 0.5)
    assert seen == [("inside", 1.0)]


def test_viterbi_reports_its_progress_through_the_frames() -> None:
    rng = np.random.default_rng(0)
    n_frames = 6 * PROGRESS_EVERY_FRAMES
    log_probs = np.log(rng.dirichlet(np.ones(5), size=n_frames)).astype(np.float32)
    seen, callback = collect()
    with progress_callback(callback):
        forced_align(log_probs, [1, 2, 3, 4] * 20, blank=0)
    fractions = [f for stage, f in seen if stage == "viterbi"]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len(fractions) >= 6 and fractions == sorted(fractions)


def test_acoustic_model_reports_each_window_batch(tiny_model: Path) -> None:
    model = AcousticModel(tiny_model, RuntimeOptions(window_seconds=4.0, overlap_seconds=0.5, batch_size=1))
    audio = (0.1 * np.sin(np.arange(16_000 * 12) / 20)).astype(np.float32)
    seen, callback = collect()
    with progress_callback(callback):
        model.log_probs(audio)
    fractions = [f for stage, f in seen if stage == "acoustic model"]
    assert len(fractions) == len(model.plan_windows(audio).windows) + 1
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_stages_log_periodic_lines_with_the_reported_sub_stage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lyricalign.progress")
    with Stages(["audio", "align"], enabled=False, interval=0.05) as stages, progress_callback(stages):
        stages.next()
        report_progress("viterbi", 0.25)
        time.sleep(0.3)
        report_progress("viterbi", 0.5)
        time.sleep(0.3)
    lines = [r.getMessage() for r in caplog.records if r.name == "lyricalign.progress"]
    assert len(lines) >= 3
    assert any(line.startswith("[2/2] align: viterbi 25%") for line in lines)
    assert any(line.startswith("[2/2] align: viterbi 50% (~") for line in lines)


def test_count_progress_logs_rate_and_eta(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lyricalign.progress")
    with CountProgress(4, enabled=False, interval=10) as progress:
        progress.update("skipped")
        time.sleep(0.05)
        progress.update("aligned")
    (line,) = [r.getMessage() for r in caplog.records]  # the final tally only: shorter than the interval
    assert re.match(r"batch: 2/4 songs, 1 aligned, 1 skipped, [\d.]+ songs/min, ETA \d+s, \d+s elapsed$", line), line


@pytest.mark.slow
def test_a_non_interactive_run_prints_periodic_progress_lines(tmp_path: Path) -> None:
    """stderr is a pipe here (not a TTY): progress comes as log lines, at the default verbosity."""
    lines = [["the", "night", "is", "young", "and", "so", "are", "we"], ["sing", "along", "until", "the", "morning"]] * 3
    write_song_files(tmp_path, [("song", lines, 3, ".wav")])
    audio = tmp_path / "song.wav"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LYRICALIGN_PROGRESS_INTERVAL": "0.2"}
    proc = subprocess.run(
        [sys.executable, "-m", "lyricalign.cli", "align", str(audio), str(tmp_path / "song.txt"), "--method", "dtw",
         "-o", str(tmp_path / "out.json")], capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    progress = [line for line in proc.stderr.splitlines() if line.startswith("INFO lyricalign.progress: ")]
    assert len(progress) >= 3, proc.stderr
    elapsed = [float(re.search(r"(\d+)s elapsed$", line).group(1)) for line in progress]
    assert elapsed == sorted(elapsed)
    assert any(re.search(r"\[4/5\] align: (synthesis|features|dtw|activity) \d+%", line) for line in progress), progress
    assert not [line for line in proc.stderr.splitlines() if line not in progress], proc.stderr
