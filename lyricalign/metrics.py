"""Word-onset alignment metrics, per song and over a corpus (computed by ``mir_eval.alignment``).

Per song (onsets of the annotated words, seconds):

- **mean AE** / **median AE**: absolute onset error, averaged / median over the song's words;
- **PCO**: fraction of onsets within :data:`PCO_WINDOW` (0.3 s) of the truth;
- **PCS**: fraction of the song (first to last reference onset) where the predicted and the
  reference segment containing that instant are the same word -- the MIREX 2020 convention
  (``mir_eval.alignment.percentage_correct_segments`` without ``duration``).

Corpus numbers follow the JamendoLyrics convention: every song weighs the same, so
AAE = mean over songs of per-song mean AE, MedAE = mean over songs of per-song median AE, and
PCO / PCS are averaged over songs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import mir_eval.alignment
import numpy as np

PCO_WINDOW = 0.3  # seconds


@dataclass(frozen=True)
class SongScores:
    mean_ae: float  # seconds
    median_ae: float  # seconds
    pco: float  # in [0, 1]
    pcs: float  # in [0, 1]
    n_words: int


@dataclass(frozen=True)
class CorpusScores:
    aae: float  # mean over songs of per-song mean AE, seconds
    medae: float  # mean over songs of per-song median AE, seconds
    pco: float
    pcs: float
    n_songs: int
    n_words: int


def score_song(reference: Sequence[float] | np.ndarray, estimated: Sequence[float] | np.ndarray) -> SongScores:
    """Scores of one song from its reference and estimated word onsets (``(W,)`` seconds each).

    Raises:
        ValueError: different lengths, no words, negative or decreasing onsets (mir_eval's checks).
    """
    ref = np.asarray(reference, dtype=float)
    est = np.asarray(estimated, dtype=float)
    median_ae, mean_ae = mir_eval.alignment.absolute_error(ref, est)
    pco = mir_eval.alignment.percentage_correct(ref, est, window=PCO_WINDOW)
    pcs = _pcs(ref, est)
    return SongScores(
        mean_ae=float(mean_ae), median_ae=float(median_ae), pco=float(pco), pcs=float(pcs), n_words=int(ref.size)
    )


def _pcs(ref: np.ndarray, est: np.ndarray) -> float:
    """PCS needs two distinct reference onsets; a one-word song scores 1 if its onset is correct."""
    if ref[-1] <= ref[0]:
        return float(np.all(np.abs(ref - est) <= PCO_WINDOW))
    return float(mir_eval.alignment.percentage_correct_segments(ref, est))


def onset_errors(reference: Sequence[float] | np.ndarray, estimated: Sequence[float] | np.ndarray) -> np.ndarray:
    """Signed onset errors ``estimated - reference`` (``(W,)`` seconds): positive means late."""
    return np.asarray(estimated, dtype=float) - np.asarray(reference, dtype=float)


def aggregate(songs: Sequence[SongScores]) -> CorpusScores:
    """Corpus scores: every song weighs the same (see the module docstring)."""
    if not songs:
        raise ValueError("no songs to aggregate")
    return CorpusScores(
        aae=float(np.mean([s.mean_ae for s in songs])),
        medae=float(np.mean([s.median_ae for s in songs])),
        pco=float(np.mean([s.pco for s in songs])),
        pcs=float(np.mean([s.pcs for s in songs])),
        n_songs=len(songs),
        n_words=sum(s.n_words for s in songs),
    )
