"""``lyricalign train`` / ``export`` bad usage: one line ``lyricalign: error: ...``, exit 2, before any work.

Before: ``train`` printed Lightning's ``Seed set to 0`` twice (its own stderr handler plus the CLI's)
ahead of its one-line error, and ``train -o FILE`` / ``export -o DIR`` ended in an internal error
(exit 1) after building the model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow  # five CLI processes importing torch + Lightning: ~30 s

REPO = Path(__file__).resolve().parents[1]


def lyricalign(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "LYRICALIGN_HOME": str(cwd / "home")}
    return subprocess.run([sys.executable, "-m", "lyricalign.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lyricalign: error: "), proc.stderr
    return lines[0]


def test_train_errors_are_one_line(tmp_path: Path) -> None:
    line = _one_line(lyricalign("train", "missing", "-o", "out", cwd=tmp_path))
    assert line == "lyricalign: error: missing/train.jsonl: cannot read manifest (No such file or directory)"
    (tmp_path / "manifests").mkdir()
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    line = _one_line(lyricalign("train", "manifests", "-o", "a-file", cwd=tmp_path))
    assert line == "lyricalign: error: a-file: exists and is not a directory (an output folder is expected)"
    assert not (tmp_path / "out").exists()


def test_verbose_train_shows_lightnings_lines_once(tmp_path: Path) -> None:
    proc = lyricalign("-v", "train", "missing", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("Seed set to 0") == 1, proc.stderr


def test_export_refuses_an_unwritable_output_before_building_the_model(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    assert _one_line(lyricalign("export", "--config", "tiny", "-o", ".", cwd=tmp_path)) == (
        "lyricalign: error: .: is a directory")
    line = _one_line(lyricalign("export", "--config", "tiny", "-o", "a-file/model.onnx", cwd=tmp_path))
    assert line == f"lyricalign: error: a-file/model.onnx: {tmp_path.resolve() / 'a-file'} is not a directory"
