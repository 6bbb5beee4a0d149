"""Property-based fuzzing of the live service from its own OpenAPI spec: no request may get a 5xx.

Runs the schemathesis CLI (``st run``) as a subprocess against the session's ``bentoml serve``
and counts the requests the server actually logged, so the test fails if fewer than
``MIN_REQUESTS`` were made or if any response was a 5xx.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _service_utils import live_service  # noqa: E402,F401  (fixture)

MIN_REQUESTS = 500
MAX_EXAMPLES = 600  # per operation and phase; 454 requests at 400 here, so ~650 at 600
ACCESS_LINE = re.compile(r"\(scheme=http,method=(\w+),path=(\S+?),.*?\(status=(\d{3})")


def _access_log(log: Path) -> list[tuple[str, str, int]]:
    return [(m[1], m[2], int(m[3])) for m in ACCESS_LINE.finditer(log.read_text(errors="replace"))]


def _settled_log(log: Path, quiet_s: float = 2.0, timeout_s: float = 30.0) -> list[tuple[str, str, int]]:
    """The access log once the server's (buffered) log output has stopped growing."""
    deadline = time.monotonic() + timeout_s
    entries = _access_log(log)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        latest = _access_log(log)
        if len(latest) == len(entries):
            break
        entries = latest
    return entries


def test_fuzzed_requests_never_get_a_server_error(live_service, tmp_path: Path) -> None:  # noqa: ANN001
    before = len(_access_log(live_service.log))
    st = Path(sys.executable).with_name("st")
    proc = subprocess.run(
        [str(st), "run", f"{live_service.url}/docs.json", "--checks", "not_a_server_error",
         "--max-examples", str(MAX_EXAMPLES), "--workers", "2", "--seed", "1", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    logged = _settled_log(live_service.log)[before:]
    server_errors = [entry for entry in logged if entry[2] >= 500]
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert not server_errors, server_errors[:10]
    assert len(logged) >= MIN_REQUESTS, f"only {len(logged)} requests were made"
    assert httpx.get(live_service.url + "/readyz").status_code == 200
