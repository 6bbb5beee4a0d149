"""Adaptive batching and transport cost of the ctc path, measured on a real ``bentoml serve``.

1. Serialisation: one request's windows ``(W, L)`` sent as a JSON list of floats (BentoML's
   in-process path for a numpy argument) versus base64 ``.npy`` (what the service sends).
2. Throughput: N concurrent ``/align`` ctc requests with batching on, versus off
   (``LYRICALIGN_BATCHING=0``: each request runs its own windows; BentoML rejects max_batch_size=1).

    python benchmarks/bench_batching.py --requests 16 --concurrency 8 [--model tiny.onnx]

Uses a fresh BENTOML_HOME in a temp dir; the model is the tiny untrained one unless --model is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from _service_utils import bentoml_service  # noqa: E402

from loadtests.run import write_song  # noqa: E402
from lyricalign.audio import SAMPLE_RATE  # noqa: E402
from service.codec import decode_array, encode_array  # noqa: E402

WINDOW_SAMPLES = 15 * SAMPLE_RATE  # lyricalign.model.RuntimeOptions.window_seconds


def bench_serialisation(n_windows: int, repeats: int = 3) -> None:
    windows = np.random.default_rng(0).standard_normal((n_windows, WINDOW_SAMPLES)).astype(np.float32)
    for name, encode, decode in (
        ("json list", lambda a: json.dumps(a.tolist()), lambda s: np.asarray(json.loads(s), dtype=np.float32)),
        ("base64 npy", lambda a: json.dumps([encode_array(w) for w in a]),
         lambda s: np.stack([decode_array(x) for x in json.loads(s)])),
    ):
        start = time.perf_counter()
        for _ in range(repeats):
            text = encode(windows)
            decode(text)
        per_call = (time.perf_counter() - start) / repeats
        print(f"serialise {n_windows} x 15 s windows as {name:10s}: {per_call * 1000:8.1f} ms round trip, "
              f"{len(text) / 1e6:6.1f} MB")


def bench_throughput(url: str, wav: bytes, lyrics: str, requests: int, concurrency: int) -> tuple[float, float]:
    def one(_: int) -> float:
        start = time.perf_counter()
        r = httpx.post(url + "/align", data={"lyrics": lyrics, "method": "ctc"},
                       files={"audio": ("song.wav", wav, "audio/wav")}, timeout=600)
        r.raise_for_status()
        return time.perf_counter() - start

    one(0)  # warm-up
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - start), float(np.median(latencies))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=4, help="song repeats (~10 s each)")
    args = parser.parse_args()
    bench_serialisation(n_windows=4)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wav_path, lyrics_path = write_song(work, repeats=args.repeats)
        wav, lyrics = wav_path.read_bytes(), lyrics_path.read_text()
        print(f"song: {len(wav) / 2 / SAMPLE_RATE:.1f} s, {len(lyrics.split())} words; "
              f"{args.requests} requests, {args.concurrency} concurrent")
        for batching in ("1", "0"):
            with ExitStack() as stack:
                run = work / f"batching-{batching}"
                run.mkdir()
                service = stack.enter_context(bentoml_service(run, {"LYRICALIGN_BATCHING": batching}))
                rps, p50 = bench_throughput(service.url, wav, lyrics, args.requests, args.concurrency)
                print(f"batching={'on ' if batching == '1' else 'off'}: {rps:.2f} req/s, median latency {p50:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
