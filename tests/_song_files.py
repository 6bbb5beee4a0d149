"""Generated songs written as audio + lyrics files by a separate Python process.

Why a subprocess: libespeak-ng keeps internal state across calls in one process, so synthesising in
the pytest process changes what later in-process syntheses produce by a few milliseconds (enough
to break tests/test_tts.py's reproducibility check). Tests that only need files on disk make them here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

_CODE = """
import json, sys
from pathlib import Path
from _synth_utils import make_synthetic_song, write_song
for name, lines, seed, suffix, language in json.loads(sys.argv[2]):
    song = make_synthetic_song(lines, language, seed=seed)
    write_song(song, Path(sys.argv[1]) / (name + suffix))
    (Path(sys.argv[1]) / (name + ".txt")).write_text(song.lyrics_text, encoding="utf-8")
"""


def write_song_files(folder: Path, songs: list[tuple[str, list[list[str]], int, str]], language: str = "en") -> None:
    """``folder/<name><suffix>`` and ``folder/<name>.txt`` for each ``(name, lines, seed, suffix)``."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = [[name, lines, seed, suffix, language] for name, lines, seed, suffix in songs]
    # A fresh interpreter: tests/ on its path for _synth_utils (pytest's ``pythonpath`` does not reach it).
    paths = [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    subprocess.run([sys.executable, "-c", _CODE, str(folder), json.dumps(specs)],
                   check=True, env=env, timeout=300)
