"""Real servers for the service tests: ``bentoml serve`` and the gRPC gateway on 127.0.0.1; and
:class:`EchoApp`, the ASGI app the admission guard is tested in front of (in process).

Each runs as its own process group in a temporary BENTOML_HOME holding the tiny (untrained) model,
on a free port, and is stopped (SIGTERM, then SIGKILL) when the fixture ends, even on failure. The
launching itself is :mod:`lyricalign.devserver` (shared with loadtests/ and benchmarks/). Each server
gets its own TMPDIR, so a test can see every temporary file it leaves. The session's shared server
is the ``live_service`` fixture (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from lyricalign.devserver import bentoml_server, free_port, process_group

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 120.0

__all__ = ["free_port"]


@dataclass(frozen=True)
class RunningService:
    url: str
    bentoml_home: Path
    log: Path
    pid: int  # the ``bentoml serve`` process (its process group's leader)
    tmp: Path  # the server's TMPDIR


def register_tiny_model(bentoml_home: Path, work: Path) -> str:
    """A tiny random model exported and registered in ``bentoml_home``; returns its tag."""
    code = (
        "from _model_utils import make_tiny_onnx_model;"
        "from lyricalign.training.register import register_model;"
        f"print(register_model(make_tiny_onnx_model({str(work)!r})))"
    )
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home), "PYTHONPATH": tests_pythonpath()}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def tests_pythonpath() -> str:
    """PYTHONPATH for a subprocess that imports the tests' helper modules (``_model_utils``, ...):
    a fresh interpreter has no pytest to put tests/ on its path (pyproject.toml's ``pythonpath``)."""
    return os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))


def register_acoustic_checkpoint(bentoml_home: Path) -> str:
    """The session's acoustic checkpoint (``LYRICALIGN_ACOUSTIC``) registered in ``bentoml_home``."""
    code = (
        "import os; from pathlib import Path; from lyricalign.training.register import register_acoustic;"
        "print(register_acoustic(Path(os.environ['LYRICALIGN_ACOUSTIC'])))"
    )
    env = {**os.environ, "BENTOML_HOME": str(bentoml_home)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@contextmanager
def bentoml_service(work: Path, env_overrides: Mapping[str, str] | None = None) -> Iterator[RunningService]:
    """``bentoml serve service.service:LyricAlign`` on a free port with the acoustic checkpoint and the
    tiny (untrained) CTC model registered."""
    home = work / "bentoml"
    register_acoustic_checkpoint(home)
    tag = register_tiny_model(home, work)
    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "BENTOML_HOME": str(home), "LYRICALIGN_MODEL_TAG": tag, "TMPDIR": str(tmp),
           **(env_overrides or {})}
    with bentoml_server(env, work / "bentoml-serve.log", cwd=REPO) as server:
        yield RunningService(url=server.url, bentoml_home=home, log=server.log, pid=server.pid, tmp=tmp)


@contextmanager
def grpc_gateway(http_url: str, work: Path) -> Iterator[str]:
    """``python -m lyricalign.service.grpc_server`` in front of ``http_url``; yields its ``host:port``."""
    port = free_port()
    log = work / "grpc.log"
    cmd = [sys.executable, "-m", "lyricalign.service.grpc_server", "--port", str(port), "--http-url", http_url]
    with process_group(cmd, os.environ, log, cwd=REPO) as proc:
        target = f"127.0.0.1:{port}"
        _wait_grpc(proc, target, log)
        yield target


def _wait_grpc(proc: subprocess.Popen, target: str, log: Path) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + STARTUP_TIMEOUT
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gRPC gateway exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise RuntimeError(f"gRPC gateway not serving after {STARTUP_TIMEOUT} s:\n{log.read_text(errors='replace')}")


#: Small limits so the tests can reach every one of them quickly.
TEST_LIMITS = {
    "LYRICALIGN_MAX_UPLOAD_MB": "2",
    "LYRICALIGN_MAX_AUDIO_SECONDS": "30",
    "LYRICALIGN_MAX_LYRICS_CHARS": "2000",
    "LYRICALIGN_ENGINE_WORKERS": "1",
    "LYRICALIGN_ENGINE_QUEUE": "1",
    "LYRICALIGN_HMM_WORKERS": "1",
    "LYRICALIGN_HMM_QUEUE": "1",
    "LYRICALIGN_RETRY_AFTER_S": "3",
    "LYRICALIGN_ALLOW_UNTRAINED": "1",  # these tests exercise the ctc path with the tiny untrained model
    "LYRICALIGN_BODY_TIMEOUT_S": "3",
}


class EchoApp:
    """A real ASGI app that answers 200 with the body it received (after ``gate``, when one is set)."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.gate is not None:
            await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
