"""Melodies for synthetic songs: a musical style (tempo, key, chords) and notes per sung word.

Notes are ``(duration_seconds, frequency_hz)``; a word gets one note per (estimated) syllable.
Generated melodies walk the song's scale on a beat grid; DALI melodies reuse the note durations
and pitches of a real song's annotation (:class:`..dali.DaliSong` notes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..dali import DaliSong

Note = tuple[float, float]  # (duration in seconds, frequency in Hz)

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
#: Chord progressions as scale degrees (0 = tonic), one chord per bar.
PROGRESSIONS = ((0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 4, 3), (0, 5, 3, 4), (0, 0, 3, 4), (5, 4, 3, 4))
TEMPO_RANGE = (72.0, 150.0)  # beats per minute
VOCAL_TONIC_RANGE = (52, 64)  # MIDI note of the melody's tonic (E3..E4)
NOTE_BEATS = (0.5, 1.0, 1.5, 2.0)
NOTE_BEAT_WEIGHTS = (0.35, 0.4, 0.1, 0.15)
DALI_NOTE_RANGE = (0.12, 1.5)  # seconds: DALI note durations are clipped to this
_VOWEL_GROUPS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüœ]+")


@dataclass(frozen=True)
class Style:
    tempo: float  # beats per minute
    tonic: int  # MIDI note number of the melody's tonic
    minor: bool
    progression: tuple[int, ...]
    beats_per_bar: int = 4

    @property
    def beat(self) -> float:
        return 60.0 / self.tempo

    @property
    def scale(self) -> tuple[int, ...]:
        return MINOR if self.minor else MAJOR

    def degree_to_midi(self, degree: int, octave_shift: int = 0) -> int:
        octave, step = divmod(degree, 7)
        return self.tonic + 12 * (octave + octave_shift) + self.scale[step]


def random_style(rng: np.random.Generator) -> Style:
    return Style(
        tempo=float(rng.uniform(*TEMPO_RANGE)),
        tonic=int(rng.integers(VOCAL_TONIC_RANGE[0], VOCAL_TONIC_RANGE[1] + 1)),
        minor=bool(rng.random() < 0.4),
        progression=PROGRESSIONS[int(rng.integers(0, len(PROGRESSIONS)))],
    )


def midi_to_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def syllable_count(word: str) -> int:
    """Vowel groups of a spoken word, between 1 and 3 (a rough syllable estimate)."""
    return max(1, min(3, len(_VOWEL_GROUPS.findall(word.lower()))))


class GeneratedMelody:
    """A random walk on the scale (degrees -3..9 around the tonic), durations on the beat grid."""

    def __init__(self, rng: np.random.Generator, style: Style) -> None:
        self.rng = rng
        self.style = style
        self.degree = int(rng.integers(0, 5))

    def line(self, words: Sequence[str]) -> list[list[Note]]:
        notes = []
        for i, word in enumerate(words):
            count = syllable_count(word)
            word_notes = []
            for j in range(count):
                last = i == len(words) - 1 and j == count - 1
                beats = 2.0 if last else float(self.rng.choice(NOTE_BEATS, p=NOTE_BEAT_WEIGHTS))
                self.degree = int(np.clip(self.degree + self.rng.choice((-2, -1, -1, 0, 1, 1, 2)), -3, 9))
                word_notes.append((beats * self.style.beat, midi_to_hz(self.style.degree_to_midi(self.degree))))
            notes.append(word_notes)
        return notes


class DaliMelody:
    """Consecutive notes of a DALI song, from a random starting note, wrapping around."""

    def __init__(self, rng: np.random.Generator, song: DaliSong) -> None:
        usable = [n for n in song.notes if n.end > n.start and n.freq[0] > 0]
        if not usable:
            raise ValueError(f"DALI song {song.info.id} has no pitched notes")
        self.notes = [(float(np.clip(n.end - n.start, *DALI_NOTE_RANGE)), float(n.freq[0])) for n in usable]
        self.position = int(rng.integers(0, len(self.notes)))

    def line(self, words: Sequence[str]) -> list[list[Note]]:
        out = []
        for word in words:
            word_notes = []
            for _ in range(syllable_count(word)):
                word_notes.append(self.notes[self.position % len(self.notes)])
                self.position += 1
            out.append(word_notes)
        return out
