"""Load test: start ``bentoml serve`` on 127.0.0.1 (free port), run Locust headless, print numbers, stop.

(To load-test a server that is already running, run Locust yourself: see ``locustfile.py``.)

    python -m loadtests.run --scenario ctc --users 4 --spawn-rate 2 --duration 60s --csv-dir /tmp/load

Uses the current BENTOML_HOME's ``lyricalign-ctc`` model; with none, a tiny untrained one is exported
and registered first. Locust runs as its own process (it must monkey-patch with gevent before
anything else is imported). Everything started here is stopped here, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadtests.load_songs import write_song  # re-exported: benchmarks/bench_batching.py uses it

logger = logging.getLogger("loadtests")

REPO = Path(__file__).resolve().parents[1]
#: Locust options per scenario (the locustfile's --methods); ctc here is the tiny untrained model
#: (speed only), hence --allow-untrained.
SCENARIOS = {
    "ctc": ["--methods", "ctc", "--allow-untrained"],
    "hmm": ["--methods", "hmm"],
    "mixed": ["--methods", "ctc:3,hmm:1", "--allow-untrained"],
}
STARTUP_TIMEOUT = 120.0


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def ensure_model(env: dict[str, str], work: Path) -> None:
    bentoml = [sys.executable, "-m", "bentoml"]
    if subprocess.run([*bentoml, "models", "get", "lyricalign-ctc:latest"], env=env, capture_output=True).returncode == 0:
        return
    onnx = work / "tiny.onnx"
    lyricalign = Path(sys.executable).with_name("lyricalign")  # the console script of this environment
    subprocess.run([str(lyricalign), "export", "--config", "tiny", "-o", str(onnx)],
                   env=env, check=True, cwd=REPO)
    subprocess.run([sys.executable, "-m", "training.register", str(onnx)], env=env, check=True, cwd=REPO)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_ready(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {STARTUP_TIMEOUT:.0f} s")


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
        ensure_model(env, work)
        (work / "songs").mkdir()
        write_song(work / "songs")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_log = open(csv_dir / "server.log", "wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "service.service:LyricAlign", "--host", "127.0.0.1", "--port",
             str(port)], cwd=REPO, env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_ready(server, url)
            prefix = csv_dir / scenario
            songs = work / "songs"
            cmd = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py"), "--headless",
                   "--host", url, "-u", str(users), "-r", str(spawn_rate), "-t", duration, "--csv", str(prefix),
                   "--only-summary", "--stop-timeout", "30", "--songs", str(songs), *SCENARIOS[scenario]]
            locust = subprocess.Popen(cmd, cwd=REPO, env=env, start_new_session=True)
            try:
                locust.wait()
            finally:
                stop(locust)
            return read_stats(prefix)
        finally:
            stop(server)
            server_log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load-test the lyricalign service with Locust.")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="ctc")
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
