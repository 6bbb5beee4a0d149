"""The README's examples run as written, on a generated song, against `scripts/serve.sh --grpc`.

Every fenced ``bash`` and ``python`` block of README.md is executed in a folder holding the files the
examples name (``song.mp3``, ``lyrics.txt``, ``song.txt``: a generated Spanish song with a section
marker) and ``.venv`` (this interpreter's environment), with these exceptions, each asserted so that
no other example can be skipped silently:

* ``bash scripts/setup.sh`` is not re-run: it made the environment this test runs in (CI runs it).
* the test command (``pytest``) is this suite.
* the ``--method ctc --model model.onnx`` line needs a trained acoustic model, which cannot be
  downloaded here (the README says so next to it).

``scripts/serve.sh --grpc`` is started as written except for its ports (free ones instead of 3000
and 50051, substituted in the examples too) and a temporary BentoML home, and stopped at the end.
The ``json`` block is compared with a real result: same keys and the same model name (any version).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from _service_utils import _wait_grpc

from lyricalign.devserver import free_port, process_group, wait_ready
from _synth_utils import make_synthetic_song, write_song

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
NEEDS_TRAINED_MODEL = "--method ctc"
LINES = [["hola", "mundo", "cómo", "estás"], ["la", "noche", "es", "larga", "sin", "ti"]]
LYRICS = "[Estribillo]\nhola mundo cómo estás\nla noche es larga sin ti\n"


def readme_blocks() -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in FENCE.findall(README.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("readme")
    write_song(make_synthetic_song(LINES, "es", seed=5), work / "song.mp3")
    for name in ("lyrics.txt", "song.txt"):
        (work / name).write_text(LYRICS, encoding="utf-8")
    (work / ".venv").symlink_to(Path(sys.prefix))
    (work / "songs").mkdir()  # the batch example's folder: songs/x.mp3 + songs/x.txt
    (work / "songs" / "x.mp3").write_bytes((work / "song.mp3").read_bytes())
    (work / "songs" / "x.txt").write_text(LYRICS, encoding="utf-8")
    (work / "list.csv").write_text("audio,lyrics,language\nsongs/x.mp3,songs/x.txt,es\n", encoding="utf-8")
    return work


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The README's serve command, on free ports; yields the README address -> actual address map."""
    (setup,) = [body for lang, body in readme_blocks() if "scripts/setup.sh" in body]
    command = setup.strip().split("&&")[-1].strip()
    assert command == "bash scripts/serve.sh --grpc", setup
    work = tmp_path_factory.mktemp("serve")
    http_port, grpc_port = free_port(), free_port()
    bindir = Path(sys.executable).parent
    env = {**os.environ, "BENTOML_HOME": str(work / "bentoml"), "LYRICALIGN_CACHE": str(work / "cache"),
           "PYTHON": sys.executable, "BENTOML": str(bindir / "bentoml")}
    cmd = ["bash", "-c", f"{command} --port {http_port} --grpc-port {grpc_port}"]
    log = work / "serve.log"
    with process_group(cmd, env, log) as proc:
        wait_ready(proc, f"http://127.0.0.1:{http_port}/readyz", log)
        _wait_grpc(proc, f"127.0.0.1:{grpc_port}", log)
        yield {"127.0.0.1:3000": f"127.0.0.1:{http_port}", "127.0.0.1:50051": f"127.0.0.1:{grpc_port}"}


def _substitute(text: str, addresses: dict[str, str]) -> str:
    for written, actual in addresses.items():
        text = text.replace(written, actual)
    return text


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-3000:]}"
    return proc


def test_every_bash_and_python_example_runs(workdir: Path, served: dict[str, str]) -> None:
    skipped: list[str] = []
    ran = 0
    for lang, body in readme_blocks():
        if lang == "bash":
            for line in filter(None, (ln.strip() for ln in body.splitlines())):
                if "scripts/setup.sh" in line or "pytest" in line or NEEDS_TRAINED_MODEL in line:
                    skipped.append(line)
                    continue
                proc = _run(["bash", "-euo", "pipefail", "-c", _substitute(line, served)], workdir)
                assert not proc.stdout.lstrip().startswith('{"error"'), (line, proc.stdout)
                ran += 1
        elif lang == "python":
            script = workdir / f"example{ran}.py"
            script.write_text(_substitute(body, served), encoding="utf-8")
            _run([sys.executable, str(script)], workdir)
            ran += 1
    assert ran >= 7  # 3 align commands, 2 curl calls, the API and the clients examples
    assert [s for s in skipped if "setup.sh" not in s and "pytest" not in s] == [
        line for line in skipped if NEEDS_TRAINED_MODEL in line] and len(skipped) == 3, skipped
    assert (workdir / "song.lrc").read_text(encoding="utf-8").count("[") >= 3
    ass = (workdir / "song.ass").read_text(encoding="utf-8")
    assert "\\k" in ass and "Estribillo" not in ass  # the marker stays out of the display formats


def test_json_example_matches_a_real_result(workdir: Path) -> None:
    (example,) = [json.loads(body) for lang, body in readme_blocks() if lang == "json"]
    proc = _run([str(workdir / ".venv" / "bin" / "lyricalign"), "align", "song.mp3", "lyrics.txt", "-o", "song.json"],
                workdir)
    real = json.loads((workdir / "song.json").read_text(encoding="utf-8"))
    assert proc.stderr == ""
    assert set(real) == set(example)
    assert set(real["words"][0]) == set(example["words"][0]) and set(real["lines"][0]) == set(example["lines"][0])
    # the model's name as in the README; its version is the checkpoint's content hash
    assert real["model"].split(":")[0] == example["model"].split(":")[0] and real["method"] == example["method"]
    assert real["language"] == example["language"] == "es"
    assert set(real["extras"]["language_detection"]) == set(example["extras"]["language_detection"])
