"""What one ``sphinx`` alignment works with: decoded segments, the per-call :class:`Run` state, the
partition of the lyrics into units, and the bytes and dictionary files pocketsphinx reads."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ...audio import SAMPLE_RATE
from .options import MAX_UNIT_WORDS

@dataclass(frozen=True)
class Segment:
    """One decoded dictionary entry: its index in the decode's entries, frames [start, end], acoustic score."""

    token: int
    start_frame: int
    end_frame: int
    ascore: int

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame + 1

    def shifted(self, token: int, frames: int) -> "Segment":
        return Segment(token, self.start_frame + frames, self.end_frame + frames, self.ascore)


@dataclass
class Run:
    """State of one ``align_words`` call: inputs, scratch folder, and what each decode cost."""

    pcm: bytes
    pronunciations: list[list[tuple[str, ...]]]
    line_of: list[int]
    folder: Path
    word_dict: Path
    passes: dict[str, dict] = field(default_factory=dict)
    max_cost: float = 0.0
    unaligned_units: int = 0
    _files: Iterator[int] = field(default_factory=itertools.count)

    def record(self, kind: str, cost: float, seconds: float, ok: bool) -> None:
        entry = self.passes.setdefault(kind, {"kind": kind, "decodes": 0, "failed": 0, "seconds": 0.0})
        entry["decodes"] += 1
        entry["failed"] += 0 if ok else 1
        entry["seconds"] = round(entry["seconds"] + seconds, 2)
        self.max_cost = max(self.max_cost, cost)

    def new_dict_path(self) -> Path:
        return self.folder / f"units{next(self._files)}.dict"


def partition(line_of: Sequence[int], max_units: int, max_words: int = MAX_UNIT_WORDS) -> list[tuple[int, int]]:
    """Split a token sequence into at most ``max_units`` contiguous ``[start, stop)`` ranges.

    Ranges follow line boundaries (``line_of[i]``: line of token ``i``): one per line, but a
    line longer than ``max_words`` is not a sung line (lyrics without line breaks), so each of
    its words is its own range; when that gives more than ``max_units`` ranges, runs of
    adjacent ranges merge into near-equal groups.
    """
    if max_units < 1:
        raise ValueError(f"max_units must be >= 1, got {max_units}")
    pieces: list[tuple[int, int]] = []
    for _, group in itertools.groupby(range(len(line_of)), key=line_of.__getitem__):
        indices = list(group)
        if len(indices) > max_words:
            pieces += [(i, i + 1) for i in indices]
        else:
            pieces.append((indices[0], indices[-1] + 1))
    if len(pieces) <= max_units:
        return pieces
    return [(pieces[int(g[0])][0], pieces[int(g[-1])][1]) for g in np.array_split(np.arange(len(pieces)), max_units)]


def entry_segments(segs: Iterator, keys: list[str]) -> Iterator[Segment]:
    """pocketsphinx segments -> indices into ``keys`` (fillers, silences and sentence marks dropped)."""
    index = {key: k for k, key in enumerate(keys)}
    for seg in segs:
        key = seg.word.split("(")[0]  # "w17(2)": alternative pronunciation of w17
        if key in index:
            yield Segment(token=index[key], start_frame=seg.start_frame, end_frame=seg.end_frame, ascore=seg.ascore)


def to_pcm16(audio: np.ndarray, padding: float) -> bytes:
    """``(N,)`` float32 in [-1, 1] -> little-endian int16 bytes with ``padding`` s of silence each side."""
    pad = np.zeros(int(round(padding * SAMPLE_RATE)), dtype=np.float32)
    samples = np.concatenate([pad, np.asarray(audio, dtype=np.float32).reshape(-1), pad])
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def write_dictionary(path: Path, entries: Sequence[tuple[str, Sequence[tuple[str, ...]]]]) -> None:
    """CMU-format dictionary: each key with its variants (``key``, ``key(2)``, ...)."""
    with open(path, "w", encoding="utf-8") as f:
        for key, variants in entries:
            for k, phones in enumerate(variants):
                f.write(f"{key if k == 0 else f'{key}({k + 1})'} {' '.join(phones)}\n")
