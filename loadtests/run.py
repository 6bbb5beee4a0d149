"""Load test: start ``bentoml serve`` on 127.0.0.1 (free port), run Locust headless, print numbers, stop.

    python -m loadtests.run --scenario hmm --users 4 --spawn-rate 2 --duration 60s --csv-dir /tmp/load

Uses the current BENTOML_HOME's ``lyricalign-ctc`` model; with none, a tiny untrained one is exported
and registered first. Locust runs as its own process (it must monkey-patch with gevent before
anything else is imported). Everything started here is stopped here, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from lyricalign.audio import SAMPLE_RATE
from lyricalign.devserver import bentoml_server, ensure_model, process_group
from lyricalign.tts import synthesize_words

logger = logging.getLogger("loadtests")

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = {"ctc": ["--tags", "ctc"], "hmm": ["--tags", "hmm"], "mixed": []}
SONG_LINES = (["the", "night", "is", "young", "and", "so", "are", "we"], ["sing", "along", "until", "the", "morning"])


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def write_song(directory: Path, repeats: int = 2) -> tuple[Path, Path]:
    """A short song (espeak-ng lines over a quiet chord), ~10 s; returns (wav, lyrics) paths."""
    lines = [line for _ in range(repeats) for line in SONG_LINES]
    pause = np.zeros(int(0.4 * SAMPLE_RATE), np.float32)
    vocals = np.concatenate([pause] + [np.concatenate([synthesize_words(line, "en").audio, pause]) for line in lines])
    t = np.arange(vocals.size) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)).astype(np.float32)
    mix = 0.8 * vocals / max(float(np.abs(vocals).max()), 1e-9) + 0.05 * chord
    wav, lyrics = directory / "song.wav", directory / "song.txt"
    sf.write(wav, (0.9 * mix / np.abs(mix).max()).astype(np.float32), SAMPLE_RATE)
    lyrics.write_text("\n".join(" ".join(line) for line in lines) + "\n", encoding="utf-8")
    return wav, lyrics


def read_stats(csv_prefix: Path) -> LoadResult:
    with open(f"{csv_prefix}_stats.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return LoadResult(
        requests=int(row["Request Count"]), failures=int(row["Failure Count"]), rps=float(row["Requests/s"]),
        p50_ms=float(row["50%"]), p95_ms=float(row["95%"]), p99_ms=float(row["99%"]),
    )


def run(scenario: str, users: int, spawn_rate: float, duration: str, csv_dir: Path) -> LoadResult:
    csv_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="lyricalign-load-") as tmp:
        work = Path(tmp)
        ctc_tag = ensure_model(env, work, cwd=REPO, ctc=scenario != "hmm")
        if ctc_tag:  # the ctc requests run against a tiny untrained placeholder: pipeline load, not accuracy
            env.update(LYRICALIGN_MODEL_TAG=ctc_tag, LYRICALIGN_ALLOW_UNTRAINED="1")
        wav, lyrics = write_song(work)
        with bentoml_server(env, csv_dir / "server.log", cwd=REPO) as server:
            prefix = csv_dir / scenario
            locust_env = {**env, "LYRICALIGN_LOAD_AUDIO": str(wav), "LYRICALIGN_LOAD_LYRICS": str(lyrics)}
            cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"), "--headless",
                   "--host", server.url, "-u", str(users), "-r", str(spawn_rate), "-t", duration, "--csv", str(prefix),
                   "--only-summary", "--stop-timeout", "30", *SCENARIOS[scenario]]
            with process_group(cmd, locust_env, csv_dir / "locust.log", cwd=REPO) as locust:
                locust.wait()
            return read_stats(prefix)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load-test the lyricalign service with Locust.")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="hmm")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--spawn-rate", type=float, default=2.0)
    parser.add_argument("--duration", default="60s", help="Locust -t, e.g. 60s, 2m")
    parser.add_argument("--csv-dir", type=Path, default=Path("loadtest-results"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(args.scenario, args.users, args.spawn_rate, args.duration, args.csv_dir)
    print(f"scenario={args.scenario} users={args.users} requests={result.requests} failures={result.failures} "
          f"throughput={result.rps:.2f} req/s latency p50={result.p50_ms:.0f} ms p95={result.p95_ms:.0f} ms "
          f"p99={result.p99_ms:.0f} ms")
    return 0 if result.failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
