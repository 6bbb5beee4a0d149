"""The one server launcher (:mod:`lyricalign.devserver`): a start that loses a port race starts again."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from _service_utils import bentoml_service

from lyricalign import devserver

pytestmark = pytest.mark.slow


def test_a_server_whose_port_was_taken_starts_again_on_another(tmp_path: Path, monkeypatch) -> None:
    with socket.socket() as taken:
        taken.bind((devserver.HOST, 0))
        taken.listen()
        busy = taken.getsockname()[1]
        choices = iter([busy])
        real_free_port = devserver.free_port
        monkeypatch.setattr(devserver, "free_port", lambda: next(choices, None) or real_free_port())
        with bentoml_service(tmp_path) as service:
            assert not service.url.endswith(f":{busy}")
            assert httpx.get(service.url + "/readyz", timeout=10).status_code == 200
        first = service.log.with_name(f"{service.log.stem}.attempt-1{service.log.suffix}")
        assert devserver.PORT_TAKEN in first.read_text(errors="replace")  # the first start's failure, kept
