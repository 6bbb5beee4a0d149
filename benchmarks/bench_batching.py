"""Adaptive batching of the ctc path: what it costs and what it buys, measured (prints numbers).

Three measurements, one subcommand each::

    python benchmarks/bench_batching.py serialise --windows 4
    python benchmarks/bench_batching.py raw --model base.onnx --batch-sizes 1 2 4 8 --threads 1 2 --streams 1 2
    python benchmarks/bench_batching.py service --model base.onnx --concurrency 1 2 4 --batching on off --method ctc
    python benchmarks/bench_batching.py service --method hmm --concurrency 1 2 4 \
        --audio ../shared/data/jamendo-dev/mp3/Fantasma_-_Los_Rombos.mp3 \
        --lyrics ../shared/data/jamendo-dev/lyrics/Fantasma_-_Los_Rombos.txt --language es

* ``serialise``: one request's windows ``(W, L)`` as a JSON list of floats (BentoML's in-process
  path for a numpy argument) versus base64 ``.npy`` (what the service sends).
* ``raw``: :meth:`AcousticModel.infer_windows` on random 15 s windows, no server: seconds per
  window at each batch size, ONNX Runtime intra-op thread count, and number of concurrent callers
  (``--streams``: threads sharing one session, each with its own batch, i.e. batching off).
* ``service``: a real ``bentoml serve`` (fresh BENTOML_HOME in a temp dir) with batching on, then
  off (``LYRICALIGN_BATCHING=0``: each request runs its own windows), and closed-loop clients at
  each concurrency: req/s and p50/p95 latency of ``POST /align`` with ``method=ctc``.

Models: ``--model PATH`` (an export, e.g. ``lyricalign export --config base.json -o base.onnx``;
``docs/batching.md`` has the configs); without it the tiny untrained one. Weights do not matter
for speed, so randomly initialised exports of realistic sizes are what these numbers are about.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
from lyricalign.loadtests.run import write_song  # noqa: E402
from lyricalign.audio import SAMPLE_RATE  # noqa: E402
from lyricalign.acoustic.ctc_model import AcousticModel, RuntimeOptions  # noqa: E402
from lyricalign.devserver import bentoml_server, ensure_model  # noqa: E402
from lyricalign.service.codec import decode_array, encode_array  # noqa: E402

logger = logging.getLogger("bench_batching")

MIN_SECONDS = 6.0  # each raw measurement runs at least this long (and at least MIN_CALLS calls)
MIN_CALLS = 2
BENCH_MODEL_NAME = "lyricalign-bench"  # store name of a --model export, apart from the tiny test model


# --- serialisation -----------------------------------------------------------------------------

def bench_serialise(n_windows: int, window_samples: int, repeats: int = 3) -> None:
    windows = np.random.default_rng(0).standard_normal((n_windows, window_samples)).astype(np.float32)
    seconds = window_samples / SAMPLE_RATE
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
        print(f"serialise {n_windows} x {seconds:g} s windows as {name:10s}: {per_call * 1000:8.1f} ms round trip, "
              f"{len(text) / 1e6:6.1f} MB")


# --- raw ONNX Runtime --------------------------------------------------------------------------

@dataclass(frozen=True)
class RawResult:
    threads: int
    streams: int
    batch: int
    windows: int
    elapsed: float

    @property
    def seconds_per_window(self) -> float:
        return self.elapsed / self.windows


def bench_raw(model: AcousticModel, batch: int, streams: int) -> RawResult:
    """``streams`` threads each calling ``infer_windows`` on ``(batch, L)`` until MIN_SECONDS pass."""
    windows = np.random.default_rng(0).standard_normal((batch, model.window_length)).astype(np.float32)
    with ThreadPoolExecutor(streams) as pool:  # warm-up: ORT plans memory per new input shape
        list(pool.map(lambda _: model.infer_windows(windows), range(streams)))
    counts = [0] * streams
    start = time.perf_counter()

    def loop(i: int) -> None:
        while counts[i] < MIN_CALLS or time.perf_counter() - start < MIN_SECONDS:
            model.infer_windows(windows)
            counts[i] += 1

    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(loop, range(streams)))
    elapsed = time.perf_counter() - start
    return RawResult(model.options.intra_op_threads, streams, batch, sum(counts) * batch, elapsed)


def run_raw(args: argparse.Namespace) -> None:
    print(f"model {args.model.name}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print("| intra-op threads | callers | batch | s/window | windows/s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for threads in args.threads:
        model = AcousticModel(args.model, RuntimeOptions(intra_op_threads=threads, inter_op_threads=1))
        for streams in args.streams:
            for batch in args.batch_sizes:
                r = bench_raw(model, batch, streams)
                print(f"| {r.threads} | {r.streams} | {r.batch} | {r.seconds_per_window:.3f} | "
                      f"{1 / r.seconds_per_window:.2f} |", flush=True)


# --- the service -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceResult:
    concurrency: int
    latencies: tuple[float, ...]
    failures: int
    elapsed: float

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


def register(model: Path, bentoml_home: Path) -> str:
    """``model`` registered in ``bentoml_home`` (a subprocess: BentoML reads its home once); its tag."""
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home)}
    out = subprocess.run([sys.executable, "-m", "lyricalign.training.register", str(model), "--name", BENCH_MODEL_NAME],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def bench_service(url: str, wav: bytes, lyrics: str, concurrency: int, requests: int,
                  method: str = "hmm", language: str = "en") -> ServiceResult:
    """``concurrency`` closed-loop clients sending ``requests`` ``method`` requests in all."""

    def one(_: int) -> float | None:
        start = time.perf_counter()
        r = httpx.post(url + "/align", data={"lyrics": lyrics, "method": method, "language": language},
                       files={"audio": ("song.wav", wav, "audio/wav")}, timeout=900)
        if r.status_code != 200:
            logger.warning("HTTP %d: %s", r.status_code, r.text[:200])
            return None
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - start
    latencies = tuple(x for x in outcomes if x is not None)
    return ServiceResult(concurrency, latencies, len(outcomes) - len(latencies), elapsed)


def run_service(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.audio:
            wav_path, lyrics_path = args.audio, args.lyrics
        else:
            wav_path, lyrics_path = write_song(work, repeats=args.repeats)
        wav, lyrics = wav_path.read_bytes(), lyrics_path.read_text()
        song_seconds = sf.info(str(wav_path)).duration
        model = args.model.name if args.model else "tiny" if args.method == "ctc" else "lyricalign-acoustic"
        print(f"method {args.method}, model {model}; song {song_seconds:.1f} s, {len(lyrics.split())} words; "
              f"{args.requests_per_client} requests per client; extra env {args.env or '-'}; "
              f"load average {os.getloadavg()[0]:.2f}")
        print("| batching | clients | req/s | p50 s | p95 s | failed |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for batching in args.batching:
            run = work / f"batching-{batching}"
            run.mkdir()
            env = {**os.environ, "BENTOML_HOME": str(run / "bentoml"),
                   "LYRICALIGN_BATCHING": "1" if batching == "on" else "0", **dict(args.env)}
            tiny = ensure_model(env, run, cwd=REPO, ctc=args.method == "ctc" and not args.model)
            if args.model:
                env["LYRICALIGN_MODEL_TAG"] = register(args.model, run / "bentoml")
            elif tiny:  # the tiny untrained model: speed only
                env.update(LYRICALIGN_MODEL_TAG=tiny, LYRICALIGN_ALLOW_UNTRAINED="1")
            with bentoml_server(env, run / "bentoml-serve.log", cwd=REPO) as service:
                bench_service(service.url, wav, lyrics, 1, 1, args.method, args.language)  # warm-up
                for concurrency in args.concurrency:
                    r = bench_service(service.url, wav, lyrics, concurrency, concurrency * args.requests_per_client,
                                      args.method, args.language)
                    print(f"| {batching} | {r.concurrency} | {r.rps:.3f} | {r.percentile(50):.2f} | "
                          f"{r.percentile(95):.2f} | {r.failures} |", flush=True)


# --- command line ------------------------------------------------------------------------------

def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.startswith("LYRICALIGN_"):
        raise argparse.ArgumentTypeError(f"expected LYRICALIGN_NAME=VALUE, got {text!r}")
    return key, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serialise", help="JSON floats vs base64 .npy for one request's windows")
    p.add_argument("--windows", type=int, default=4)
    p = sub.add_parser("raw", help="ONNX Runtime seconds per window by batch size and threads")
    p.add_argument("--model", type=Path, required=True, help="an exported .onnx model")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts")
    p.add_argument("--streams", type=int, nargs="+", default=[1], help="concurrent callers of one session")
    p = sub.add_parser("service", help="bentoml serve with batching on and off")
    p.add_argument("--model", type=Path, help="an exported .onnx model (default: the tiny untrained one)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--requests-per-client", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9, help="song repeats (~3.3 s each; 9: ~30 s, 3 windows)")
    p.add_argument("--batching", nargs="+", choices=("on", "off"), default=["on", "off"])
    p.add_argument("--env", type=_env_pair, action="append", default=[],
                   help="extra service setting, e.g. LYRICALIGN_INTRA_OP_THREADS=1 (repeatable)")
    p.add_argument("--method", default="hmm", choices=("hmm", "ctc"), help="hmm: senone scoring blocks are batched")
    p.add_argument("--audio", type=Path, default=None, help="a real song instead of the generated one")
    p.add_argument("--lyrics", type=Path, default=None, help="its lyrics (with --audio)")
    p.add_argument("--language", default="en")
    args = parser.parse_args()
    if (args.audio is None) != (args.lyrics is None):
        parser.error("--audio and --lyrics go together")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    if args.command == "serialise":
        bench_serialise(args.windows, _window_samples())
    elif args.command == "raw":
        run_raw(args)
    else:
        run_service(args)
    return 0


def _window_samples() -> int:
    """L of the default runtime options at 16 kHz, 320-sample frames (what the service sends)."""
    from lyricalign.audio import MODEL_FRAME_STRIDE
    from lyricalign.acoustic.ctc_windows import window_geometry

    return window_geometry(RuntimeOptions(), MODEL_FRAME_STRIDE).length


if __name__ == "__main__":
    raise SystemExit(main())
