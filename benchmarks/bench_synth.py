"""Throughput of ``lyricalign data synth``: audio hours made, wall time, realtime factor.

    python benchmarks/bench_synth.py                 # ~1 hour of audio: 60 songs of ~1 minute
    python benchmarks/bench_synth.py --songs 4 --seconds 30 --out /tmp/synth --keep

Prints one ``key: value`` per line. The realtime factor is wall seconds per second of audio
(below 1 is faster than real time) with all workers together.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from lyricalign.data_pipeline.synth.generate import SynthOptions, synthesize_dataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of a song before the outro")
    parser.add_argument("--languages", default="en,es,fr,de,it,pt")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the output folder")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_synth_"))
    options = SynthOptions(
        out_dir=out, n_songs=args.songs, languages=tuple(args.languages.split(",")), song_seconds=args.seconds, workers=args.workers
    )
    started = time.perf_counter()
    summary = synthesize_dataset(options, progress=False)
    wall = time.perf_counter() - started
    audio_seconds = sum(sf.info(p).frames / sf.info(p).samplerate for p in (out / "audio").iterdir())
    segments = sum(len((out / f"{s}.jsonl").read_text().splitlines()) for s in ("train", "val", "test"))
    print(f"songs: {args.songs}")
    print(f"workers: {args.workers}")
    print(f"audio_hours: {audio_seconds / 3600:.3f}")
    print(f"sung_hours: {summary.to_dict()['total']['hours']:.3f}")
    print(f"segments: {segments}")
    print(f"wall_seconds: {wall:.1f}")
    print(f"realtime_factor: {wall / audio_seconds:.4f}")
    print(f"audio_seconds_per_wall_second: {audio_seconds / wall:.1f}")
    print(f"summary: {json.dumps(summary.to_dict()['total'])}")
    if not args.keep and args.out is None:
        shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
