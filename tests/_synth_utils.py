"""Synthetic songs for tests: espeak-ng "vocals" with known word times over generated music.

Shared by the tests of several areas; keep it fast (one song < 2 s). The accompaniment and pauses
are fixed by the seed; espeak-ng itself jitters by a few samples per call (< 20 ms per word).

    song = make_synthetic_song([["hello", "world"], ["sing", "along"]], "en", seed=0)
    write_song(song, tmp_path / "song.wav")       # or .mp3 / .flac / .m4a via ffmpeg
    write_jamendo_dataset(tmp_path / "ds", {"song_a": song})
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from lyricalign.audio import SAMPLE_RATE, ffmpeg_binary, resample
from lyricalign.text import SUPPORTED_LANGUAGES
from lyricalign.tts import synthesize_words

INTRO_SECONDS = 2.0  # instrumental only, before the first word
OUTRO_SECONDS = 1.0
LINE_PAUSE_RANGE = (0.25, 0.7)  # seconds of instrumental between sung lines, drawn per line
BPM = 120.0
CHORDS_HZ = ((261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66))


@dataclass(frozen=True)
class SyntheticSong:
    audio: np.ndarray  # (N,) float32 at the requested sample rate
    word_times: list[tuple[float, float]]  # seconds, one per word of lyrics_text, in order
    lyrics_text: str  # one line per input line
    language: str
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return self.audio.shape[0] / self.sample_rate


def make_synthetic_song(
    words_by_line: list[list[str]],
    language: str,
    seed: int,
    snr_db: float = 6.0,
    sample_rate: int = SAMPLE_RATE,
) -> SyntheticSong:
    """Speech of each line (espeak-ng), separated by random pauses, mixed over accompaniment.

    ``snr_db`` is the power ratio of the vocals (over their sung parts) to the accompaniment.
    """
    rng = np.random.default_rng(seed)
    pieces = [np.zeros(int(INTRO_SECONDS * SAMPLE_RATE), np.float32)]
    word_times: list[tuple[float, float]] = []
    position = pieces[0].shape[0] / SAMPLE_RATE
    for n, line in enumerate(words_by_line):
        speech = synthesize_words(line, language)
        word_times += [(position + s, position + e) for s, e in speech.word_spans]
        pieces.append(speech.audio)
        position += speech.duration
        pause = OUTRO_SECONDS if n == len(words_by_line) - 1 else rng.uniform(*LINE_PAUSE_RANGE)
        pieces.append(np.zeros(int(pause * SAMPLE_RATE), np.float32))
        position += pieces[-1].shape[0] / SAMPLE_RATE
    vocals = np.concatenate(pieces)
    vocals /= max(float(np.abs(vocals).max()), 1e-9)
    music = accompaniment(vocals.shape[0] / SAMPLE_RATE, rng)
    sung_power = float(np.mean(vocals[np.abs(vocals) > 1e-3] ** 2))
    music *= np.sqrt(sung_power / (float(np.mean(music**2)) * 10 ** (snr_db / 10)))
    mix = vocals + music
    mix = (0.9 * mix / float(np.abs(mix).max())).astype(np.float32)
    if sample_rate != SAMPLE_RATE:
        mix = resample(mix, SAMPLE_RATE, sample_rate)
    text = "\n".join(" ".join(line) for line in words_by_line) + "\n"
    return SyntheticSong(audio=mix, word_times=word_times, lyrics_text=text, language=language, sample_rate=sample_rate)


def accompaniment(duration: float, rng: np.random.Generator) -> np.ndarray:
    """A chord pad, a bass line and a kick on every beat; ``(N,)`` float32 at 16 kHz."""
    n = int(round(duration * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    bar = 4 * 60.0 / BPM
    chord_index = (t // bar).astype(int) % len(CHORDS_HZ)
    detune = rng.uniform(-0.5, 0.5)
    pad = np.zeros(n)
    bass = np.zeros(n)
    for k, chord in enumerate(CHORDS_HZ):
        mask = chord_index == k
        for f in chord:
            pad[mask] += np.sin(2 * np.pi * (f + detune) * t[mask]) + 0.3 * np.sin(4 * np.pi * f * t[mask])
        bass[mask] = np.sin(2 * np.pi * chord[0] / 4 * t[mask])
    beat = 60.0 / BPM
    since_beat = t % beat
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-since_beat * 30)) * since_beat) * np.exp(-since_beat * 12)
    noise = rng.normal(0, 0.02, n)
    return (0.25 * pad + 0.6 * bass + 0.8 * kick + noise).astype(np.float32)


def write_song(song: SyntheticSong, path: str | Path) -> Path:
    """Write ``song.audio`` to ``path``: wav/flac with soundfile, any other suffix through ffmpeg."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".wav", ".flac"):
        sf.write(path, song.audio, song.sample_rate)
        return path
    cmd = [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "f32le", "-ar", str(song.sample_rate), "-ac", "1", "-i", "pipe:0", str(path),
    ]
    subprocess.run(cmd, input=song.audio.astype("<f4").tobytes(), check=True, capture_output=True, timeout=120)
    return path


def write_jamendo_dataset(root: str | Path, songs: Mapping[str, SyntheticSong], audio_suffix: str = ".wav") -> Path:
    """Write ``songs`` in the JamendoLyrics layout (CSV, audio, lyrics, word annotations)."""
    root = Path(root)
    for folder in ("mp3", "lyrics", "annotations/words"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rows = []
    for name, song in songs.items():
        audio_name = f"{name}{audio_suffix}"
        write_song(song, root / "mp3" / audio_name)
        (root / "lyrics" / f"{name}.txt").write_text(song.lyrics_text, encoding="utf-8")
        words = song.lyrics_text.split()
        (root / "lyrics" / f"{name}.words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
        line_ends = _line_end_flags(song.lyrics_text)
        with open(root / "annotations" / "words" / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["word_start", "word_end", "line_end"])
            for (start, end), is_line_end in zip(song.word_times, line_ends):
                writer.writerow([f"{start:.6f}", f"{end:.6f}", f"{end:.6f}" if is_line_end else "nan"])
        rows.append({"Filepath": audio_name, "Language": SUPPORTED_LANGUAGES[song.language].capitalize()})
    with open(root / "JamendoLyrics.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["Filepath", "Language"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def _line_end_flags(text: str) -> list[bool]:
    flags: list[bool] = []
    for line in text.splitlines():
        tokens = line.split()
        flags += [k == len(tokens) - 1 for k in range(len(tokens))]
    return flags
