"""End-to-end time of `lyricalign align` (a fresh process per song, as a user runs it).

Prints, per method and song: audio seconds, wall seconds, real-time factor and peak RSS of the
process, and the engine's own stage times (``extras.seconds``: features, scoring, search, ...).
Every method listed runs in the same invocation, so the rows compare on equal terms. ``hmm-adapt0``
is the hmm engine with ``--adaptation 0``; ``--auto-language`` leaves ``--language`` out (detection).

    python benchmarks/bench_align.py --methods hmm,hmm-adapt0,sphinx       # the dev songs
    python benchmarks/bench_align.py --methods hmm --long-minutes 10,20 --songs-only-long
                                      # a dev song looped to 10 and 20 minutes (lyrics repeated)
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

logger = logging.getLogger("bench_align")


@dataclass(frozen=True)
class Run:
    method: str
    song: str
    audio_seconds: float
    wall_seconds: float
    peak_rss_mb: float
    words: int
    ok: bool
    stages: str = ""


#: Runs a command in a fresh, small process and reports its wall time and the kernel's peak RSS (wait4's ru_maxrss)
#: on stderr's last line. A process's peak carries over an exec, so the command must not be forked from this driver,
#: whose own peak (the looped songs' audio) would be the floor of every measurement.
LAUNCHER = """import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\nMEASURED {time.perf_counter() - start} {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall time and peak RSS (MB) of one command, as the launcher above measures them."""
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *cmd], capture_output=True, text=True)
    err, _, measured = proc.stderr.rstrip("\n").rpartition("\nMEASURED ")
    wall, peak = measured.split()
    peak_mb = int(peak) / (2**20 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux
    return float(wall), peak_mb, subprocess.CompletedProcess(cmd, proc.returncode, proc.stdout, err)


def run_song(item, method: str, model: str | None, workdir: Path, extra: list[str], auto_language: bool = False) -> Run:
    out = workdir / f"{method}-{item.name}.json"
    lyrics = workdir / f"{item.name}.txt"
    lyrics.write_text(item.lyrics_text, encoding="utf-8")
    engine, _, variant = method.partition("-")
    cmd = [sys.executable, "-m", "lyricalign.cli", "align", str(item.audio_path), str(lyrics), "--method", engine,
           "-o", str(out), *extra]
    if variant.startswith("adapt"):
        cmd += ["--adaptation", variant.removeprefix("adapt")]
    if not auto_language:
        cmd += ["--language", item.language]
    if method == "ctc" and model:
        cmd += ["--model", model, "--allow-untrained"]  # the tiny test model measures the pipeline, not accuracy
    wall, peak, proc = measure(cmd)
    if proc.returncode != 0:
        logger.error("%s on %s failed: %s", method, item.name, proc.stderr.strip())
    import json

    result = json.loads(out.read_text()) if out.exists() else {"words": []}
    seconds = (result.get("extras") or {}).get("seconds") or {}
    stages = " ".join(f"{k} {v:.2f}" for k, v in seconds.items())
    return Run(method, item.name, sf.info(item.audio_path).duration, wall, peak, len(result["words"]),
               proc.returncode == 0, stages)


def looped(item, minutes: float, workdir: Path):
    """``item``'s audio repeated to at least ``minutes`` (16 kHz wav) with its lyrics repeated as often."""
    from dataclasses import replace

    import numpy as np

    from lyricalign.audio import SAMPLE_RATE, load_audio

    audio = load_audio(item.audio_path)
    copies = int(np.ceil(minutes * 60 * SAMPLE_RATE / len(audio)))
    path = workdir / f"{item.audio_path.stem}-x{copies}.wav"
    sf.write(path, np.tile(audio, copies), SAMPLE_RATE)
    text = "\n\n".join([item.lyrics_text.strip()] * copies)
    return replace(item, name=f"{item.name} x{copies} ({copies * len(audio) / SAMPLE_RATE / 60:.1f} min)",
                   audio_path=path, lyrics_text=text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "jamendo-dev")
    parser.add_argument("--methods", default="hmm,sphinx")
    parser.add_argument("--model", default=None, help="ONNX model for the ctc rows")
    parser.add_argument("--long-minutes", default="", help="also align the first song looped to these lengths, e.g. 10,20")
    parser.add_argument("--songs-only-long", action="store_true", help="only the looped songs")
    parser.add_argument("--max-duration", default="1500", help="passed to lyricalign align (seconds)")
    parser.add_argument("--auto-language", action="store_true", help="no --language: the CLI's default detection")
    parser.add_argument("--repeats", type=int, default=1, help="runs per method and song (rows: each run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from lyricalign.evaluation import load_dataset

    items = list(load_dataset(args.dataset).items)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        long_items = [looped(items[0], float(m), work) for m in args.long_minutes.split(",") if m.strip()]
        chosen = long_items if args.songs_only_long else items + long_items
        for method in args.methods.split(","):
            if method == "ctc" and not args.model:
                logger.warning("skipping ctc: pass --model")
                continue
            for item in chosen:
                for _ in range(args.repeats):
                    runs.append(run_song(item, method, args.model, work, ["--max-duration", args.max_duration],
                                         args.auto_language))
                    logger.info("%s %s: %.2f s, %.0f MB", method, item.name, runs[-1].wall_seconds,
                                runs[-1].peak_rss_mb)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC")
    print("| method | song | audio s | wall s | RTF | peak RSS MB | words | ok | engine stages (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    for r in runs:
        print(f"| {r.method} | {r.song} | {r.audio_seconds:.1f} | {r.wall_seconds:.2f} | "
              f"{r.wall_seconds / r.audio_seconds:.3f} | {r.peak_rss_mb:.0f} | {r.words} | {r.ok} | {r.stages} |")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
