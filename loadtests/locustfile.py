"""Locust scenarios for ``POST /align``: short songs with ctc, with hmm, or a mix (run.py picks one).

Run through ``loadtests/run.py`` (starts the server, passes the song via environment variables)::

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:3000 --tags ctc -u 4 -r 2 -t 60s

A 503 (load shed, with Retry-After) is reported as a failure named ``shed``: under the intended load
there should be none; above it they show how much was refused instead of queued.
"""

from __future__ import annotations

import os
from pathlib import Path

from locust import HttpUser, between, tag, task

AUDIO = Path(os.environ["LYRICALIGN_LOAD_AUDIO"]).read_bytes()
LYRICS = Path(os.environ["LYRICALIGN_LOAD_LYRICS"]).read_text(encoding="utf-8")


class SongUser(HttpUser):
    """One client aligning the same short song again and again (ctc 3 : hmm 1 when mixed)."""

    wait_time = between(0.1, 0.5)

    @tag("ctc")
    @task(3)
    def align_ctc(self) -> None:
        self._align("ctc")

    @tag("hmm")
    @task(1)
    def align_hmm(self) -> None:
        self._align("hmm")

    def _align(self, method: str) -> None:
        files = {"audio": ("song.wav", AUDIO, "audio/wav")}
        data = {"lyrics": LYRICS, "method": method}
        with self.client.post("/align", files=files, data=data, name=f"/align [{method}]", catch_response=True) as r:
            if r.status_code == 503:
                r.failure(f"shed (Retry-After {r.headers.get('retry-after')})")
            elif r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
            elif len(r.json()["words"]) != len(LYRICS.split()):
                r.failure("wrong number of words")
