"""Load test: start ``bentoml serve`` on 127.0.0.1 (free port), run Locust headless, print numbers, stop.

(To load-test a server that is already running, run Locust yourself: see ``locustfile.py``.)

    python -m lyricalign.loadtests.run --scenario hmm --users 4 --spawn-rate 2 --duration 60s --csv-dir /tmp/load

The server uses the current BENTOML_HOME, where the acoustic checkpoint of the default ``hmm`` method is
registered first if missing; the ``ctc`` and ``mixed`` scenarios also register a tiny *untrained* CTC model
(speed of the pipeline only, hence ``--allow-untrained``). Locust runs as its own process (it must
monkey-patch with gevent before anything else is imported). Everything started here is stopped here,
also on failure or Ctrl-C.
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

from .load_songs import write_song  # re-exported: benchmarks/bench_batching.py uses it
from lyricalign.devserver import bentoml_server, ensure_model, process_group

logger = logging.getLogger("loadtests")

REPO = Path(__file__).resolve().parents[1]
#: Locust options per scenario (the locustfile's --methods); ctc here is the tiny untrained model
#: (speed only), hence --allow-untrained.
SCENARIOS = {
    "ctc": ["--methods", "ctc", "--allow-untrained"],
    "hmm": ["--methods", "hmm"],
    "mixed": ["--methods", "ctc:3,hmm:1", "--allow-untrained"],
}

__all__ = ["LoadResult", "SCENARIOS", "main", "read_stats", "run", "write_song"]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


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
        songs = work / "songs"
        songs.mkdir()
        write_song(songs)
        with bentoml_server(env, csv_dir / "server.log", cwd=REPO) as server:
            prefix = csv_dir / scenario
            cmd = [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
                   "--host", server.url, "-u", str(users), "-r", str(spawn_rate), "-t", duration, "--csv", str(prefix),
                   "--only-summary", "--stop-timeout", "30", "--songs", str(songs), *SCENARIOS[scenario]]
            with process_group(cmd, env, csv_dir / "locust.log", cwd=REPO) as locust:
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
    sys.exit(main())
