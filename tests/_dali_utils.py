"""Builders of DALI v1.0 fixtures in the dataset's exact on-disk formats.

``dali_package()`` creates a throwaway ``DALI.Annotations`` module (same class name, module path and
``__init__`` as the real package) in ``sys.modules``, so ``pickle.dumps(obj, protocol=2)`` -- DALI's own
``write_in_gzip`` -- produces the bytes real DALI files have. It is used only to WRITE files; the
reader under test never imports it (the modules are removed from ``sys.modules`` afterwards).
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import pickle
import sys
import textwrap
import types
from pathlib import Path
from typing import Iterator, Sequence

ANNOTATIONS_SOURCE = textwrap.dedent(
    '''
    class Annotations(object):
        def __init__(self, i=u'None'):
            self.info = {'id': i, 'artist': u'None', 'title': u'None',
                         'audio': {'url': u'None', 'working': False, 'path': u'None'},
                         'metadata': {}, 'scores': {'NCC': 0.0, 'manual': 0.0},
                         'dataset_version': 0.0, 'ground-truth': False}
            self.annotations = {'type': u'None', 'annot': {},
                                'annot_param': {'fr': 0.0, 'offset': 0.0}}
            self.errors = None
    '''
)


@contextlib.contextmanager
def dali_package() -> Iterator[type]:
    """Yield a real ``DALI.Annotations.Annotations`` class importable under that name (what pickle needs)."""
    package = types.ModuleType("DALI")
    package.__path__ = []  # a package: ``import DALI.Annotations`` finds the submodule in sys.modules
    module = types.ModuleType("DALI.Annotations")
    exec(compile(ANNOTATIONS_SOURCE, "DALI/Annotations.py", "exec"), module.__dict__)  # noqa: S102 (our source)
    package.Annotations = module  # type: ignore[attr-defined]
    sys.modules.update({"DALI": package, "DALI.Annotations": module})
    try:
        yield module.Annotations
    finally:
        for name in ("DALI.Annotations", "DALI"):
            sys.modules.pop(name, None)


def horizontal_annot(
    lines: Sequence[Sequence[str]], start: float = 1.0, note: float = 0.5, paragraph_every: int = 2
) -> dict:
    """DALI horizontal levels for ``lines`` of words; "syl-la-bles" split into one note per syllable.

    Every note lasts ``note`` seconds with no gaps, so with ``note=0.5`` and ``fr=120`` (bpm) all
    times sit on DALI's beat grid. Returns ``{"notes", "words", "lines", "paragraphs"}``.
    """
    notes, words, out_lines, paragraphs = [], [], [], []
    t = start
    for line_no, line in enumerate(lines):
        if line_no % paragraph_every == 0:
            paragraphs.append({"text": "", "time": [t, t], "freq": [200.0, 400.0]})
        line_start = t
        for word in line:
            word_start = t
            for syllable in word.split("-"):
                notes.append({"text": syllable, "time": [t, t + note], "freq": [220.0, 220.0], "index": len(words)})
                t += note
            words.append({"text": word.replace("-", ""), "time": [word_start, t], "freq": [220.0, 220.0], "index": len(out_lines)})
        out_lines.append({"text": " ".join(w.replace("-", "") for w in line), "time": [line_start, t], "freq": [220.0, 220.0], "index": len(paragraphs) - 1})
        paragraphs[-1]["time"][1] = t
        paragraphs[-1]["text"] = (paragraphs[-1]["text"] + " " + out_lines[-1]["text"]).strip()
        t += note  # a rest between lines
    return {"notes": notes, "words": words, "lines": out_lines, "paragraphs": paragraphs}


def roll(annot: dict) -> dict:
    """DALI's ``extra.roll``: horizontal levels -> ``{"hierarchical": [paragraph...]}``."""
    tmp = copy.deepcopy(annot)

    def merge(lower: list, upper: list) -> list:
        for info in lower:
            i = info.pop("index")
            if not isinstance(upper[i]["text"], list):
                upper[i]["text"] = []
            upper[i]["text"].append(info)
        return upper

    output = merge(tmp["notes"], tmp["words"])
    output = merge(output, tmp["lines"])
    output = merge(output, tmp["paragraphs"])
    return {"hierarchical": output}


def make_song(
    cls: type,
    song_id: str,
    lines: Sequence[Sequence[str]],
    *,
    artist: str = "Some Artist",
    title: str = "Some Title",
    language: str = "english",
    ncc: float = 0.95,
    working: bool = True,
    url: str = "dQw4w9WgXcQ",
    vertical: bool = False,
    fr: float = 120.0,
    offset: float = 0.0,
    start: float = 1.0,
):
    """An ``Annotations`` instance filled as DALI's files are."""
    song = cls(song_id)
    song.info.update({"artist": artist, "title": title, "dataset_version": 1.0})
    song.info["audio"].update({"url": url, "working": working})
    song.info["metadata"] = {"album": "Album", "release_date": "2001", "genres": ["Pop"], "language": language}
    song.info["scores"]["NCC"] = ncc
    annot = horizontal_annot(lines, start=start)
    song.annotations = {
        "type": "vertical" if vertical else "horizontal",
        "annot": roll(annot) if vertical else annot,
        "annot_param": {"fr": fr, "offset": offset},
    }
    return song


def write_gzip(folder: Path, name: str, obj: object) -> Path:
    """DALI's ``utilities.write_in_gzip``: ``gzip(pickle.dumps(data, protocol=2))`` at ``<name>.gz``."""
    path = folder / f"{name}.gz"
    with gzip.open(path, "wb") as gz:
        gz.write(pickle.dumps(obj, protocol=2))
    return path


def write_json(folder: Path, name: str, song: object) -> Path:
    """DALI's ``Annotations.write_json``: ``{"info", "annotations"}`` at ``<name>.json``."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"info": song.info, "annotations": song.annotations}))
    return path


def write_metadata(path: Path, songs: Sequence[object]) -> Path:
    """A ``dali_v1_metadata.json``-shaped file for ``songs`` (``{id: info}``)."""
    path.write_text(json.dumps({s.info["id"]: s.info for s in songs}))
    return path
