"""Replay hostile clients and faults against a real ``bentoml serve`` on 127.0.0.1, then count what is left.

    python benchmarks/reliability.py --duration 120 --clients 8 --method uniform

Phases, in order, against one server (fresh BENTOML_HOME and TMPDIR in a temporary folder, the tiny
untrained model registered there; ``LYRICALIGN_MAX_INFLIGHT=4`` as in issue 9, a short body timeout):

1. stalled uploads: twice as many sockets as in-flight slots send headers and a few body bytes,
   then nothing; genuine requests meanwhile must get 200, the stalled ones 408;
2. decode bombs: a two-hour silent FLAC (header tells) and a streamed one (header does not);
   both must be refused (422) with the worker's peak RSS (VmHWM) barely moving;
3. odd filenames (``../``, ``/``, 300 characters, NUL), truncated multipart, repeated fields: 4xx or 200;
4. load: ``--clients`` threads posting a 20 s song with ``--method`` for ``--duration`` seconds;
5. ``kill -9`` of the HTTP worker in the middle of an hmm request; the server must restart it and answer.

Then the server is stopped and the script prints requests by status, p50/p95 latency of the load
phase, the worker's RSS at start and end, and the processes and temporary files left behind
(every process ever seen under the server, still alive; files in the server's TMPDIR except
onnxruntime's ``.ses`` telemetry id). Exit status 1 if anything was left behind or any 5xx was seen
outside the kill phase. Not a timed test: it takes ``--duration`` plus about a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from lyricalign.devserver import alive, bentoml_server, descendants, ensure_model, rss_bytes, worker_pid

logger = logging.getLogger("reliability")

REPO = Path(__file__).resolve().parents[1]
MAX_INFLIGHT = 4
BODY_TIMEOUT_S = 5
SONG_WORDS = "the night is young and so are we\nsing along until the morning comes\n" * 3


@dataclass
class Tally:
    """Statuses per phase ("error" for a connection that got no answer), and load-phase latencies."""

    statuses: dict[str, Counter] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seen_pids: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, phase: str, status: int | str) -> None:
        with self.lock:
            self.statuses.setdefault(phase, Counter())[str(status)] += 1


def _wav(seconds: float, rate: int = 16000) -> bytes:
    """A sung-like test signal: 0.4 s tone bursts with pauses (so vocal activity has structure)."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = (np.sin(2 * np.pi * 1.2 * t) > 0).astype(np.float32)
    signal = 0.3 * envelope * np.sin(2 * np.pi * (200 + 40 * np.sin(2 * np.pi * 0.3 * t)) * t)
    buffer = io.BytesIO()
    sf.write(buffer, signal.astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


def _silent_flac(seconds: int, streamed: bool) -> bytes:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
           "-t", str(seconds), "-c:a", "flac", "-f", "flac"]
    if streamed:
        return subprocess.run([*cmd, "pipe:1"], capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*cmd, "-y", f"{tmp}/bomb.flac"], check=True)
        return Path(f"{tmp}/bomb.flac").read_bytes()


def _post(url: str, tally: Tally, phase: str, audio: bytes, filename: str = "song.wav", timeout: float = 300,
          **fields: str) -> httpx.Response | None:
    try:
        response = httpx.post(url + "/align", data={"lyrics": SONG_WORDS, "method": "uniform", **fields},
                              files={"audio": (filename, audio, "audio/wav")}, timeout=timeout)
    except httpx.HTTPError as e:
        logger.info("%s: no answer (%s)", phase, type(e).__name__)
        tally.add(phase, "error")
        return None
    tally.add(phase, response.status_code)
    return response


def _raw(url: str, tally: Tally, phase: str, body: bytes, content_type: str) -> None:
    try:
        response = httpx.post(url + "/align", content=body, headers={"content-type": content_type}, timeout=60)
        tally.add(phase, response.status_code)
    except httpx.HTTPError:
        tally.add(phase, "error")


def _multipart(fields: list[tuple[str, str]], audio: bytes, boundary: str = "rel1ability") -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
                 "Content-Type: audio/wav\r\n\r\n".encode() + audio + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def _watch_processes(server_pid: int, tally: Tally, stop: threading.Event) -> None:
    """Remember every process ever seen under the server (orphans are looked for among them)."""
    while not stop.wait(0.2):
        found = descendants(server_pid)
        with tally.lock:
            tally.seen_pids.update(found)


def _hwm(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def phase_stalls(url: str, tally: Tally) -> None:
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    for _ in range(2 * MAX_INFLIGHT):
        sock = socket.create_connection((host, int(port)), timeout=BODY_TIMEOUT_S * 4)
        sock.sendall(f"POST /align HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                     "Content-Length: 100000\r\n\r\n--x\r\nConte".encode())
        sockets.append(sock)
    time.sleep(0.5)
    for _ in range(5):
        _post(url, tally, "genuine during stalls", _wav(5.0))
    for sock in sockets:
        try:
            reply = sock.recv(64)
            tally.add("stalled uploads", int(reply.split()[1]) if reply.startswith(b"HTTP/") else "error")
        except OSError:
            tally.add("stalled uploads", "error")
        finally:
            sock.close()


def phase_bombs(url: str, tally: Tally, server_pid: int) -> tuple[int, int]:
    worker = worker_pid(server_pid) or server_pid
    before = _hwm(worker)
    for streamed in (False, True):
        bomb = _silent_flac(7200, streamed)
        logger.info("decode bomb: %.1f MB FLAC of 2 h (%s)", len(bomb) / 1e6, "streamed" if streamed else "header")
        _post(url, tally, "decode bombs", bomb, filename="bomb.flac")
    return before, _hwm(worker)


def phase_odd_requests(url: str, tally: Tally) -> None:
    wav = _wav(3.0)
    for name in ("../../etc/passwd", "a/b/c.wav", "x" * 300 + ".wav", "nul\x00.wav", "con:.wav", ""):
        _post(url, tally, "odd filenames", wav, filename=name)
    whole = _multipart([("lyrics", "hola mundo"), ("method", "uniform"), ("language", "es")], wav)
    _raw(url, tally, "truncated multipart", whole[: whole.rindex(b"--rel1ability--")],
         "multipart/form-data; boundary=rel1ability")
    _raw(url, tally, "truncated multipart", whole[: len(whole) // 2], "multipart/form-data; boundary=rel1ability")
    for repeated in (("lyrics", "again"), ("language", "en"), ("method", "hmm")):
        body = _multipart([("lyrics", "hola mundo"), ("method", "uniform"), ("language", "es"), repeated], wav)
        _raw(url, tally, "repeated fields", body, "multipart/form-data; boundary=rel1ability")


def phase_load(url: str, tally: Tally, clients: int, duration: float, method: str) -> None:
    song = _wav(20.0)
    deadline = time.monotonic() + duration

    def client() -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            response = _post(url, tally, "load", song, method=method)
            if response is not None and response.status_code == 200:
                with tally.lock:
                    tally.latencies.append(time.monotonic() - started)
            elif response is not None and response.status_code == 503:
                time.sleep(float(response.headers.get("retry-after", "1")) / 5)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def phase_kill(url: str, tally: Tally, server_pid: int) -> int:
    """kill -9 of the worker during an hmm request; returns the new worker's pid once it answers."""
    worker = worker_pid(server_pid)
    assert worker is not None, "no HTTP worker found"
    request = threading.Thread(target=_post, args=(url, tally, "killed mid-request", _wav(60.0)),
                               kwargs={"method": "hmm", "timeout": 120})
    request.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not descendants(worker):
        time.sleep(0.1)
    time.sleep(1.0)
    engines = descendants(worker)
    logger.info("kill -9 worker %d (engine processes %s)", worker, engines)
    os.kill(worker, 9)
    request.join()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        new = worker_pid(server_pid)
        if new not in (None, worker):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
        time.sleep(0.3)
    time.sleep(2.0)
    tally.add("engine processes alive 2 s after the kill", sum(alive(p) for p in engines))
    _post(url, tally, "after restart", _wav(5.0))
    return worker_pid(server_pid) or 0


def run(args: argparse.Namespace) -> int:
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="lyricalign-reliability-") as tmp:
        work = Path(tmp)
        server_tmp = work / "tmp"
        server_tmp.mkdir()
        env = {**os.environ, "BENTOML_HOME": str(work / "bentoml"), "TMPDIR": str(server_tmp),
               "LYRICALIGN_MAX_INFLIGHT": str(MAX_INFLIGHT), "LYRICALIGN_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        ensure_model({k: v for k, v in env.items() if k != "TMPDIR"}, work, cwd=REPO)  # torch's files elsewhere
        stop = threading.Event()
        with bentoml_server(env, work / "server.log", cwd=REPO) as server:
            watcher = threading.Thread(target=_watch_processes, args=(server.pid, tally, stop), daemon=True)
            watcher.start()
            _post(server.url, tally, "warm-up", _wav(5.0), method=args.method)
            start_worker = worker_pid(server.pid) or 0
            rss_start = rss_bytes(start_worker)
            logger.info("phase 1: stalled uploads")
            phase_stalls(server.url, tally)
            logger.info("phase 2: decode bombs")
            hwm_before, hwm_after = phase_bombs(server.url, tally, server.pid)
            logger.info("phase 3: odd filenames, truncated multipart, repeated fields")
            phase_odd_requests(server.url, tally)
            logger.info("phase 4: %d clients for %.0f s (%s)", args.clients, args.duration, args.method)
            phase_load(server.url, tally, args.clients, args.duration, args.method)
            rss_end = rss_bytes(start_worker)
            logger.info("phase 5: kill -9 of the worker mid-request")
            new_worker = phase_kill(server.url, tally, server.pid)
            rss_new = rss_bytes(new_worker)
            stop.set()
            watcher.join()
            tally.seen_pids.update(descendants(server.pid))
        time.sleep(1.0)
        orphans = sorted(p for p in tally.seen_pids if alive(p))
        left = sorted(str(p.relative_to(server_tmp)) for p in server_tmp.rglob("*") if p.name != ".ses")
    return report(tally, args, rss_start, rss_end, rss_new, hwm_before, hwm_after, orphans, left)


def report(tally: Tally, args: argparse.Namespace, rss_start: int, rss_end: int, rss_new: int, hwm_before: int,
           hwm_after: int, orphans: list[int], left: list[str]) -> int:
    mb = 1024 * 1024
    print(f"reliability: {args.clients} clients x {args.duration:.0f} s, method {args.method}, "
          f"max in flight {MAX_INFLIGHT}, body timeout {BODY_TIMEOUT_S} s")
    print("requests by status:")
    server_errors = 0
    for phase, counts in tally.statuses.items():
        print(f"  {phase:<42} " + ", ".join(f"{status}: {n}" for status, n in sorted(counts.items())))
        if phase not in ("killed mid-request",) and not phase.startswith("engine processes"):
            server_errors += sum(n for status, n in counts.items() if status.startswith("5") and status != "503")
    latencies = np.array(tally.latencies)
    if latencies.size:
        print(f"load: {latencies.size} alignments in {args.duration:.0f} s ({latencies.size / args.duration:.2f}/s), "
              f"latency p50 {np.percentile(latencies, 50):.2f} s, p95 {np.percentile(latencies, 95):.2f} s")
    print(f"worker RSS: start {rss_start / mb:.0f} MB, end of load {rss_end / mb:.0f} MB, "
          f"restarted worker {rss_new / mb:.0f} MB")
    print(f"worker peak RSS (VmHWM) around the decode bombs: {hwm_before / mb:.0f} MB -> {hwm_after / mb:.0f} MB")
    print(f"orphaned processes: {len(orphans)} {orphans if orphans else ''}")
    print(f"temporary files left: {len(left)} {left[:10] if left else ''}")
    alive_engines = tally.statuses.get("engine processes alive 2 s after the kill", Counter())
    bad = bool(orphans or left or server_errors or any(k != "0" for k in alive_engines))
    print("verdict:", "FAIL" if bad else "ok (nothing left behind, no 5xx other than 503 outside the kill)")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of the load phase (default 120)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the load phase (default 8)")
    parser.add_argument("--method", default="uniform", choices=["uniform", "dtw", "hmm", "ctc"],
                        help="method of the load phase (default uniform; hmm is slow on 2 cores)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
