"""Property-based fuzzing of the live service from its own OpenAPI spec: no 5xx, and every answer as documented.

Runs the schemathesis CLI (``st run``) as a subprocess against the session's ``bentoml serve`` with
the response conformance checks (status code documented, body valid against the documented schema,
content type documented) besides ``not_a_server_error``; any violation fails the run. It also counts
the cases schemathesis reports and the requests the server actually logged, so the test fails if
fewer than ``MIN_CASES`` were generated or if any logged response was a 5xx.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

MIN_CASES = 1000
MIN_REQUESTS = 500
MAX_EXAMPLES = 1000  # per operation and phase; 894 cases at 800 here, so ~1,100 at 1000
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"
CASES_LINE = re.compile(r"(\d+) generated, (\d+) passed")
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


@pytest.mark.slow
def test_fuzzed_requests_get_documented_answers(live_service, tmp_path: Path) -> None:  # noqa: ANN001
    before = len(_access_log(live_service.log))
    st = Path(sys.executable).with_name("st")
    proc = subprocess.run(
        [str(st), "run", f"{live_service.url}/docs.json", "--checks", CHECKS,
         "--max-examples", str(MAX_EXAMPLES), "--workers", "2", "--seed", "1", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )
    logged = _settled_log(live_service.log)[before:]
    server_errors = [entry for entry in logged if entry[2] >= 500]
    assert proc.returncode == 0, proc.stdout[-6000:]
    cases = CASES_LINE.search(proc.stdout)
    assert cases is not None and int(cases[1]) >= MIN_CASES and cases[1] == cases[2], proc.stdout[-2000:]
    assert not server_errors, server_errors[:10]
    assert len(logged) >= MIN_REQUESTS, f"only {len(logged)} requests were made"
    assert httpx.get(live_service.url + "/readyz").status_code == 200
