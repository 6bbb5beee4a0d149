"""Start and stop a real ``bentoml serve`` on 127.0.0.1 for tests, load tests and benchmarks.

Why here, in the core, and not in ``service/`` or ``tests/``: tests, ``loadtests/`` and ``benchmarks/``
all launch the server, and folders must not import each other, so the one launcher lives where all
of them may import it. It only *shells out* (``python -m bentoml serve <target>``): it imports
neither bentoml nor ``service``, needs nothing but the standard library, and the core gains no
dependency. The service target is a parameter (default :data:`SERVICE_TARGET`), a string.

Each server is its own process group (``start_new_session``), bound to 127.0.0.1 on a free port,
and stopped (SIGTERM to the group, then SIGKILL) when the context ends, also on failure. The
process-tree helpers (:func:`descendants`, :func:`rss_bytes`) let callers find the HTTP worker
and its engine processes, e.g. to ``kill -9`` one and check that nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

logger = logging.getLogger(__name__)

SERVICE_TARGET = "service.service:LyricAlign"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
START_ATTEMPTS = 3  # starts of a server that lost a port race ("Address already in use")
PORT_TAKEN = "Address already in use"


@dataclass(frozen=True)
class DevServer:
    """A running server: its URL, log file and the pid of its process-group leader."""

    url: str
    log: Path
    pid: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def bentoml_command(port: int, target: str = SERVICE_TARGET, host: str | None = HOST) -> list[str]:
    """``python -m bentoml serve TARGET [--host HOST] --port PORT`` with this interpreter."""
    cmd = [sys.executable, "-m", "bentoml", "serve", target]
    if host is not None:
        cmd += ["--host", host]
    return cmd + ["--port", str(port)]


@contextlib.contextmanager
def process_group(cmd: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
                  ) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` as a new session, output to ``log``; the whole group is stopped on exit."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to ``proc``'s process group, SIGKILL after :data:`STOP_TIMEOUT`."""
    if proc.poll() is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of a leader that already exited
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll ``url`` until it answers 200; raises RuntimeError with the log's tail if the server dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{_tail(log)}")


@contextlib.contextmanager
def bentoml_server(env: Mapping[str, str], log: Path, cwd: Path | None = None, port: int | None = None,
                   target: str = SERVICE_TARGET) -> Iterator[DevServer]:
    """``bentoml serve`` on 127.0.0.1 (``env`` carries BENTOML_HOME, LYRICALIGN_* limits); ready when yielded."""
    for attempt in range(1, START_ATTEMPTS + 1):
        chosen = port or free_port()
        url = f"http://{HOST}:{chosen}"
        with process_group(bentoml_command(chosen, target), env, log, cwd) as proc:
            try:
                wait_ready(proc, url + "/readyz", log)
            except RuntimeError:
                if attempt == START_ATTEMPTS or proc.poll() is None or PORT_TAKEN not in _tail(log):
                    raise
                # Another process took a port between our choice and the server's bind (its own
                # ports too: BentoML picks internal ZMQ ports at start): start again.
                failed = log.with_name(f"{log.stem}.attempt-{attempt}{log.suffix}")
                logger.info("server start lost a port race (log: %s); starting again", failed)
                log.replace(failed)
                continue
            yield DevServer(url=url, log=log, pid=proc.pid)
            return


def ensure_model(env: Mapping[str, str], work: Path, cwd: Path | None = None, ctc: bool = False) -> str | None:
    """Make ``env``'s BENTOML_HOME hold what ``bentoml serve`` needs: the acoustic checkpoint of the default
    ``hmm`` method (``lyricalign models install-acoustic --register``, a no-op when up to date) and, with
    ``ctc``, a tiny *untrained* ``lyricalign-ctc`` model, whose tag it returns (for LYRICALIGN_MODEL_TAG).
    """
    subprocess.run([sys.executable, "-m", "lyricalign.cli", "models", "install-acoustic", "--register"],
                   env=dict(env), check=True, cwd=cwd, capture_output=True)
    if not ctc:
        return None
    onnx = work / "tiny.onnx"
    subprocess.run([sys.executable, "-m", "lyricalign.cli", "export", "--config", "tiny", "-o", str(onnx)],
                   env=dict(env), check=True, cwd=cwd, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "lyricalign.training.register", str(onnx)], env=dict(env), check=True, cwd=cwd,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


# --- process tree -------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()  # [0] state, [1] ppid, [2] pgrp, ...


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def descendants(pid: int) -> list[int]:
    """Pids of every living process below ``pid`` (Linux ``/proc``), parents before children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def group_members(pgid: int) -> list[int]:
    """Living pids whose process group is ``pgid`` (a server's group outlives re-parenting)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def worker_pid(server_pid: int) -> int | None:
    """The BentoML HTTP worker below a ``bentoml serve`` process (``_bentoml_impl.worker.service``)."""
    for pid in descendants(server_pid):
        if "_bentoml_impl.worker.service" in cmdline(pid):
            return pid
    return None


def _tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
