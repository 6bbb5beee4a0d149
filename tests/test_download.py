"""Downloads through yt-dlp from a local HTTP server: parallel, reported failures, resumable after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lyricalign.data_pipeline.download import DownloadItem, DownloadOptions, download_all
from lyricalign.audio import AudioLimits, load_audio

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DURATIONS = {f"song{i}": 2.0 + 0.5 * i for i in range(6)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m http.server`` on 127.0.0.1 serving ``root``; its access log goes to ``log``."""

    def __init__(self, root: Path, log: Path) -> None:
        self.log = log
        self._log_handle = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
            cwd=root, stdout=subprocess.PIPE, stderr=self._log_handle, text=True,
        )
        line = self.proc.stdout.readline()
        self.port = int(re.search(r"port (\d+)", line).group(1))

    def gets(self, offset: int = 0) -> list[str]:
        text = self.log.read_text()[offset:]
        return re.findall(r'"GET /([^ ]+) HTTP', text)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._log_handle.close()


def _make_files(root: Path, durations: dict[str, float]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, (name, seconds) in enumerate(durations.items()):
        t = np.arange(int(seconds * 44100)) / 44100
        stereo = np.stack([np.sin(2 * np.pi * (220 + 20 * i) * t)] * 2, axis=1) * 0.3
        sf.write(root / f"{name}.wav", stereo.astype(np.float32), 44100, subtype="PCM_16")


@pytest.fixture()
def server(tmp_path):
    _make_files(tmp_path / "www", DURATIONS)
    srv = Server(tmp_path / "www", tmp_path / "access.log")
    yield srv
    srv.close()


def _check_complete(out: Path, durations: dict[str, float]) -> None:
    for name, seconds in durations.items():
        info = sf.info(out / f"{name}.flac")
        assert (info.samplerate, info.channels) == (16000, 1)
        audio = load_audio(out / f"{name}.flac", AudioLimits(max_duration=None))
        assert abs(audio.shape[0] - seconds * 16000) <= 16, name


def test_parallel_download_reports_failures_and_skips_on_rerun(tmp_path, server):
    closed_port = _free_port()
    items = [DownloadItem(name, name) for name in DURATIONS]
    items += [
        DownloadItem("missing", "missing"),  # 404
        DownloadItem("unreachable", f"http://127.0.0.1:{closed_port}/x.wav"),
        DownloadItem("youtube", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),  # no network here
    ]
    options = DownloadOptions(
        out_dir=tmp_path / "out", url_template=f"http://127.0.0.1:{server.port}/{{id}}.wav",
        workers=2, retries=1, backoff=0.05, socket_timeout=3,
    )
    started = time.monotonic()
    summary = download_all(items, options)
    assert (summary.downloaded, summary.skipped, summary.failed) == (6, 0, 3)
    assert time.monotonic() - started < 60
    _check_complete(options.out_dir, DURATIONS)
    errors = {r["id"]: r for r in map(json.loads, summary.errors.read_text().splitlines())}
    assert set(errors) == {"missing", "unreachable", "youtube"}
    assert "404" in errors["missing"]["message"] and errors["missing"]["attempts"] == 1  # permanent: no retry
    assert "refused" in errors["unreachable"]["message"] and errors["unreachable"]["attempts"] == 2
    assert errors["youtube"]["error"] == "DownloadError" and errors["youtube"]["url"].startswith("https://www.youtube.com/")
    assert not (options.out_dir / "missing.flac").exists()

    log_offset = len(server.log.read_text())
    again = download_all(items, options)
    assert (again.downloaded, again.skipped, again.failed) == (0, 6, 3)
    assert not any(g.startswith("song") for g in server.gets(log_offset))


def test_a_run_leaves_no_partial_folder(tmp_path, server):
    """The per-item temporary folder ``.partial/`` is removed at the end of a run (it was left empty),
    after a success, a permanent failure and a killed run's leftovers cleared at the start."""
    out = tmp_path / "out"
    (out / ".partial" / "song1.killed").mkdir(parents=True)
    (out / ".partial" / "song1.killed" / "source.wav.part").write_bytes(b"RIFF")
    options = DownloadOptions(out_dir=out, url_template=f"http://127.0.0.1:{server.port}/{{id}}.wav", retries=0)
    summary = download_all([DownloadItem("song0", "song0"), DownloadItem("missing", "missing")], options)
    assert (summary.downloaded, summary.failed) == (1, 1)
    assert sorted(p.name for p in out.iterdir()) == ["archive.jsonl", "errors.jsonl", "song0.flac"]
    assert download_all([DownloadItem("song0", "song0")], options).skipped == 1  # a run with nothing to fetch
    assert sorted(p.name for p in out.iterdir()) == ["archive.jsonl", "errors.jsonl", "song0.flac"]


def test_partial_folder_with_files_is_kept(tmp_path):
    """Only an empty ``.partial/`` is removed: files still in it are never deleted at the end of a run."""
    from lyricalign.data_pipeline.download import _remove_if_empty

    folder = tmp_path / ".partial"
    (folder / "song0.abc").mkdir(parents=True)
    (folder / "song0.abc" / "source.wav.part").write_bytes(b"RIFF")
    _remove_if_empty(folder)
    assert (folder / "song0.abc" / "source.wav.part").read_bytes() == b"RIFF"
    (folder / "song0.abc" / "source.wav.part").unlink()
    (folder / "song0.abc").rmdir()
    _remove_if_empty(folder)
    assert not folder.exists()
    _remove_if_empty(folder)  # already gone: nothing to do


def test_corrupt_existing_file_is_downloaded_again(tmp_path, server):
    options = DownloadOptions(out_dir=tmp_path / "out", url_template=f"http://127.0.0.1:{server.port}/{{id}}.wav", retries=0)
    items = [DownloadItem("song1", "song1")]
    assert download_all(items, options).downloaded == 1
    path = options.out_dir / "song1.flac"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated behind our back
    assert download_all(items, options).downloaded == 1
    _check_complete(options.out_dir, {"song1": DURATIONS["song1"]})


def test_sigkill_midway_then_resume(tmp_path):
    durations = {f"track{i:02d}": 4.0 for i in range(8)}
    _make_files(tmp_path / "www", durations)
    srv = Server(tmp_path / "www", tmp_path / "access.log")
    out = tmp_path / "out"
    (tmp_path / "items.txt").write_text("".join(f"{name}\n" for name in durations))
    cmd = [
        sys.executable, "-m", "lyricalign.data_pipeline", "download", str(out), "--list", str(tmp_path / "items.txt"),
        "--url-template", f"http://127.0.0.1:{srv.port}/{{id}}.wav", "-j", "2", "--retries", "0",
    ]
    try:
        first = subprocess.Popen([*cmd, "--rate-limit", "400000"], cwd=ROOT, start_new_session=True)
        archive = out / "archive.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not archive.exists() or len(archive.read_text().splitlines()) < 2):
            time.sleep(0.02)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert (out / ".partial").is_dir()  # a killed run never reaches its end: the next run clears it
        done_first = [json.loads(x)["id"] for x in archive.read_text().splitlines()]
        assert 2 <= len(done_first) < len(durations), "the first run must be killed midway"
        for path in out.glob("*.flac"):  # whatever is under a final name is complete
            assert path.stem in done_first or sf.info(path).frames == 4 * 16000
        log_offset = len(srv.log.read_text())

        second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert f"skipped {len(done_first)}" in second.stdout
        _check_complete(out, durations)
        assert not any(g.removesuffix(".wav") in done_first for g in srv.gets(log_offset))
        assert sorted(json.loads(x)["id"] for x in archive.read_text().splitlines()) == sorted(durations)
        assert not (out / ".partial").exists()  # the completed run removed it, empty
    finally:
        srv.close()


def test_cli_exit_status_3_when_some_songs_failed(tmp_path, server, capsys):
    from lyricalign.data_pipeline.__main__ import main

    (tmp_path / "items.txt").write_text("song0\nmissing\n")
    argv = ["download", str(tmp_path / "out"), "--list", str(tmp_path / "items.txt"), "--retries", "0",
            "--url-template", f"http://127.0.0.1:{server.port}/{{id}}.wav"]
    assert main(argv) == 3
    assert capsys.readouterr().out.splitlines()[0] == "downloaded 1, skipped 0 (already complete), failed 1"
    (tmp_path / "items.txt").write_text("song0\n")
    assert main(argv) == 0


def test_corrupt_downloaded_file_is_not_retried(tmp_path, server):
    """Issue 9.10: a file that downloads whole but does not decode failed as if transient (retried)."""
    (tmp_path / "www" / "corrupt.wav").write_bytes(b"RIFF" + os.urandom(20_000))
    options = DownloadOptions(out_dir=tmp_path / "out", url_template=f"http://127.0.0.1:{server.port}/{{id}}.wav",
                              retries=3, backoff=0.05)
    summary = download_all([DownloadItem("corrupt", "corrupt")], options)
    assert summary.failed == 1
    (error,) = map(json.loads, summary.errors.read_text().splitlines())
    assert error["error"] == "AudioError" and error["attempts"] == 1, error
