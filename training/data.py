"""Training segments from the data pipeline's JSONL manifests, as padded CTC batches.

A manifest folder holds ``train.jsonl`` / ``val.jsonl`` / ``test.jsonl``; each record is one
segment ``{"audio", "start", "end", "text", ...}`` whose ``text`` is already the spoken form
(record and reader: :mod:`lyricalign.manifest`). Relative audio paths are relative to the manifest file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf
import torch

from lyricalign.audio import SAMPLE_RATE, resample
from lyricalign.errors import DatasetError
from lyricalign.manifest import audio_path, read_records
from lyricalign.acoustic.ctc_model import normalize_waveform
from lyricalign.text import Vocabulary

logger = logging.getLogger(__name__)

IGNORE_LABEL = -100  # transformers' CTC loss ignores these label positions
#: Manifest fields training needs beyond ``audio`` and ``text``.
TRAINING_FIELDS = ("start", "end")


@dataclass(frozen=True)
class Segment:
    audio: Path
    start: float  # seconds
    end: float
    text: str  # spoken form


def read_manifest(path: str | Path, max_seconds: float | None = None) -> list[Segment]:
    """Segments of one JSONL manifest (:mod:`lyricalign.manifest`); longer than ``max_seconds`` are skipped (logged)."""
    segments, too_long = [], 0
    for _, record in read_records(path, required=TRAINING_FIELDS):
        segment = Segment(audio=audio_path(record, path), start=record.start, end=record.end, text=record.text)
        if max_seconds is not None and segment.end - segment.start > max_seconds:
            too_long += 1
            continue
        segments.append(segment)
    if too_long:
        logger.info("%s: skipped %d segments longer than %.0f s", path, too_long, max_seconds)
    return segments


class SegmentDataset(torch.utils.data.Dataset):
    """``(waveform (N,) float32 normalised, labels (S,) int64)`` per segment."""

    def __init__(self, segments: Sequence[Segment], vocabulary: Vocabulary, normalize: bool = True) -> None:
        self.segments = list(segments)
        self.vocabulary = vocabulary
        self.normalize = normalize

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        segment = self.segments[index]
        audio = read_segment(segment)
        labels = self.vocabulary.encode(segment.text)
        if not labels:
            raise DatasetError(f"{segment.audio}: segment {segment.start:.2f}-{segment.end:.2f} s has no encodable text")
        if self.normalize:
            audio = normalize_waveform(audio)
        return torch.from_numpy(audio), torch.tensor(labels, dtype=torch.long)


def read_segment(segment: Segment) -> np.ndarray:
    """Samples ``[start, end)`` of the segment's file, mono, at 16 kHz."""
    try:
        info = sf.info(segment.audio)
        data, rate = sf.read(
            segment.audio,
            start=int(segment.start * info.samplerate),
            stop=int(segment.end * info.samplerate),
            dtype="float32",
            always_2d=True,
        )
    except (sf.LibsndfileError, RuntimeError) as e:
        raise DatasetError(f"{segment.audio}: cannot read audio ({e})") from e
    return resample(data.mean(axis=1), rate, SAMPLE_RATE)


def collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Zero-pad waveforms (with an attention mask) and pad labels with :data:`IGNORE_LABEL`."""
    waves, labels = zip(*batch)
    max_samples = max(w.shape[0] for w in waves)
    max_labels = max(y.shape[0] for y in labels)
    input_values = torch.zeros(len(batch), max_samples)
    attention_mask = torch.zeros(len(batch), max_samples, dtype=torch.long)
    padded_labels = torch.full((len(batch), max_labels), IGNORE_LABEL, dtype=torch.long)
    for i, (wave, label) in enumerate(batch):
        input_values[i, : wave.shape[0]] = wave
        attention_mask[i, : wave.shape[0]] = 1
        padded_labels[i, : label.shape[0]] = label
    return {"input_values": input_values, "attention_mask": attention_mask, "labels": padded_labels}
