"""End-to-end time of `lyricalign align` (a fresh process per song, as a user runs it).

Prints, per method and song: audio seconds, wall seconds, real-time factor and peak RSS of the
process. Every method listed runs in the same invocation, so the rows compare on equal terms.

    python benchmarks/bench_align.py --dataset ../shared/data/jamendo-dev --methods uniform,hmm --model /tmp/tiny.onnx
"""

from __future__ import annotations

import argparse
import csv
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import soundfile as sf

logger = logging.getLogger("bench_align")
LANGUAGE_CODES = {"English": "en", "Spanish": "es", "French": "fr", "German": "de", "Italian": "it", "Portuguese": "pt"}


@dataclass(frozen=True)
class Run:
    method: str
    song: str
    audio_seconds: float
    wall_seconds: float
    peak_rss_mb: float
    words: int
    ok: bool


def measure(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall time and peak RSS (sampled every 20 ms) of one command."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.02)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    return wall, peak / 2**20, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_song(dataset: Path, row: dict, method: str, model: str | None, workdir: Path) -> Run:
    audio = dataset / "mp3" / row["Filepath"]
    lyrics = dataset / "lyrics" / (Path(row["Filepath"]).stem + ".txt")
    out = workdir / f"{method}-{audio.stem}.json"
    cmd = [sys.executable, "-m", "lyricalign.cli", "align", str(audio), str(lyrics), "--method", method,
           "--language", LANGUAGE_CODES.get(row["Language"], "en"), "-o", str(out)]
    if method == "ctc" and model:
        cmd += ["--model", model, "--allow-untrained"]  # the tiny test model measures the pipeline, not accuracy
    wall, peak, proc = measure(cmd)
    if proc.returncode != 0:
        logger.error("%s on %s failed: %s", method, audio.name, proc.stderr.strip())
    import json

    words = len(json.loads(out.read_text())["words"]) if out.exists() else 0
    return Run(method, audio.stem, sf.info(audio).duration, wall, peak, words, proc.returncode == 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/jamendo-dev")
    parser.add_argument("--methods", default="uniform,ctc,hmm")
    parser.add_argument("--model", default=None, help="ONNX model for the ctc rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with open(args.dataset / "JamendoLyrics.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            if method == "ctc" and not args.model:
                logger.warning("skipping ctc: pass --model")
                continue
            for row in rows:
                runs.append(run_song(args.dataset, row, method, args.model, Path(tmp)))
    print("| method | song | audio s | wall s | RTF | peak RSS MB | words | ok |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in runs:
        print(f"| {r.method} | {r.song} | {r.audio_seconds:.1f} | {r.wall_seconds:.2f} | "
              f"{r.wall_seconds / r.audio_seconds:.3f} | {r.peak_rss_mb:.0f} | {r.words} | {r.ok} |")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
