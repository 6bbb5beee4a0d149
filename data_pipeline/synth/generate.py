"""Synthetic songs in parallel: sung lyrics over generated music, with exact word times.

Per song (all randomness from ``numpy.random.default_rng([seed, index])``, so a song's words,
timings, melody and music are the same whatever the number of workers; only WORLD's noise
excitation, drawn from a process-global state, varies slightly): a style (tempo, key, chords), lines of lyrics, espeak-ng speech
per line (:mod:`lyricalign.tts`), turned into singing on the melody (:mod:`.singing`), placed on
the beat grid after a short intro, and mixed with :mod:`.accompaniment` at a random vocal-to-
accompaniment ratio. Outputs under ``out_dir``: ``audio/<id>.<fmt>`` (and ``vocals/<id>.<fmt>``
with stems), the per-split manifests of :mod:`..manifest` (one record per sung line)
and ``summary.json``; optionally a JamendoLyrics-layout evaluation folder.
"""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lyricalign.audio import SAMPLE_RATE, ffmpeg_binary
from lyricalign.errors import AudioError, DatasetError
from lyricalign.fsutil import atomic_open, atomic_write_bytes, atomic_write_text
from lyricalign.text import SUPPORTED_LANGUAGES, normalize_language, normalize_token
from lyricalign.tts import synthesize_words

from ..dali import DaliSong, iter_songs
from ..manifest import SegmentRecord, SplitOptions, Summary, WordRecord, write_records
from . import accompaniment
from .melody import DaliMelody, GeneratedMelody, random_style
from .singing import sing_line
from .text import pick_lines, random_lines, read_text_lines

logger = logging.getLogger(__name__)

AUDIO_SUBTYPES = {"flac": ("FLAC", "PCM_16"), "wav": ("WAV", "PCM_16")}
LINES_PER_PARAGRAPH = 4
SPEECH_RATE_WPM = (130, 200)
SPEECH_PITCH = (25, 75)
PEAK = 0.9


@dataclass(frozen=True)
class SynthOptions:
    out_dir: Path
    n_songs: int = 10
    languages: tuple[str, ...] = ("en",)
    song_seconds: float = 60.0
    text_file: Path | None = None
    dali_dir: Path | None = None
    seed: int = 0
    workers: int | None = None  # None: every CPU core
    audio_format: str = "flac"
    jamendo_dir: Path | None = None
    write_stems: bool = False
    snr_db: tuple[float, float] = (0.0, 12.0)  # vocal-to-accompaniment RMS ratio range
    split: SplitOptions = field(default_factory=SplitOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        object.__setattr__(self, "languages", tuple(normalize_language(x) for x in self.languages))
        if self.n_songs < 1:
            raise ValueError(f"the number of songs (-n) must be at least 1, got {self.n_songs}")
        if not 10.0 <= self.song_seconds <= 900.0:
            raise ValueError(f"the song length (--seconds) must be from 10 to 900 s, got {self.song_seconds:g}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.audio_format not in AUDIO_SUBTYPES:
            raise ValueError(f"audio_format must be one of {sorted(AUDIO_SUBTYPES)}")
        if self.text_file is not None and len(self.languages) != 1:
            raise ValueError("a lyrics text file needs exactly one language")
        if self.snr_db[0] > self.snr_db[1]:
            raise ValueError("snr_db must be (low, high)")


@dataclass(frozen=True)
class SungWord:
    text: str  # as written in the lyrics
    spoken: str
    start: float
    end: float


@dataclass(frozen=True)
class Song:
    """One synthesised song: the mix ``(N,)``, the clean vocal ``(N,)`` and its lines of timed words."""

    id: str
    language: str
    mix: np.ndarray
    vocals: np.ndarray
    lines: tuple[tuple[SungWord, ...], ...]

    @property
    def duration(self) -> float:
        return self.mix.shape[0] / SAMPLE_RATE


def make_song(index: int, options: SynthOptions, dali_song: DaliSong | None = None) -> Song:
    """Compose, sing and mix song ``index`` (deterministic in ``options.seed`` and ``index``)."""
    rng = np.random.default_rng([options.seed, index])
    language = options.languages[index % len(options.languages)]
    style = random_style(rng)
    melody = DaliMelody(rng, dali_song) if dali_song is not None else GeneratedMelody(rng, style)
    bar = style.beats_per_bar * style.beat
    rate, pitch = int(rng.integers(*SPEECH_RATE_WPM)), int(rng.integers(*SPEECH_PITCH))
    pool = read_text_lines(options.text_file, language) if options.text_file else None

    pieces: list[tuple[int, np.ndarray]] = []
    lines: list[tuple[SungWord, ...]] = []
    t = bar * int(rng.integers(1, 3))  # intro
    while t < options.song_seconds - bar:
        words = pick_lines(rng, pool, 1)[0] if pool else random_lines(rng, language, 1)[0]
        spoken = [normalize_token(w, language) for w in words]
        speech = synthesize_words(spoken, language, rate_wpm=rate, pitch=pitch)
        sung = sing_line(speech.audio, speech.word_spans, melody.line(spoken), rng)
        start_sample = int(round(t * SAMPLE_RATE))
        onset = start_sample / SAMPLE_RATE
        pieces.append((start_sample, sung.audio))
        lines.append(tuple(SungWord(w, s, onset + a, onset + b) for w, s, (a, b) in zip(words, spoken, sung.word_spans)))
        t = onset + sung.audio.shape[0] / SAMPLE_RATE + style.beat * float(rng.choice((1.0, 2.0)))
        if len(lines) % LINES_PER_PARAGRAPH == 0:
            t += bar
        t = np.ceil(t / style.beat) * style.beat  # the next line starts on a beat
    total = int(round((t + bar) * SAMPLE_RATE))
    vocals = np.zeros(total, dtype=np.float32)
    for start, audio in pieces:
        vocals[start : start + audio.shape[0]] += audio
    music = accompaniment.render(rng, style, total / SAMPLE_RATE)
    mix, vocals = _mix(vocals, music, float(rng.uniform(*options.snr_db)))
    song_id = f"synth{options.seed}_{index:05d}_{language}"
    return Song(id=song_id, language=language, mix=mix, vocals=vocals, lines=tuple(lines))


def _mix(vocals: np.ndarray, music: np.ndarray, snr_db: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``music`` so vocal RMS (over sung samples) / music RMS = ``snr_db``; peak-normalise both."""
    sung = np.abs(vocals) > 1e-4
    vocal_rms = float(np.sqrt(np.mean(vocals[sung] ** 2))) if sung.any() else 1.0
    music_rms = float(np.sqrt(np.mean(music**2))) or 1.0
    mix = vocals + music * (vocal_rms / music_rms) * 10.0 ** (-snr_db / 20.0)
    scale = PEAK / max(float(np.max(np.abs(mix))), 1e-9)
    return (mix * scale).astype(np.float32), (vocals * scale).astype(np.float32)


# --- writing ---------------------------------------------------------------------------------


def write_audio(path: Path, audio: np.ndarray, audio_format: str) -> None:
    import soundfile as sf

    container, subtype = AUDIO_SUBTYPES[audio_format]
    buffer = io.BytesIO()
    sf.write(buffer, audio, SAMPLE_RATE, format=container, subtype=subtype)
    atomic_write_bytes(path, buffer.getvalue())


def song_records(song: Song, audio_path: Path, split: SplitOptions) -> list[SegmentRecord]:
    """One manifest record per sung line (times relative to the mix)."""
    artist = f"lyricalign-synth {song.id}"
    records = []
    for line in song.lines:
        words = tuple(WordRecord(w.spoken, w.start, w.end) for w in line)
        records.append(
            SegmentRecord(
                audio=str(audio_path.resolve()), start=words[0].start, end=words[-1].end, text=" ".join(w.text for w in words),
                language=song.language, song_id=song.id, artist=artist, split=split.split_of(artist), words=words,
            )
        )
    return records


def write_jamendo_song(song: Song, folder: Path, wav_path: Path) -> dict[str, str]:
    """The song's files in the JamendoLyrics layout; returns its ``JamendoLyrics.csv`` row."""
    name = song.id
    mp3 = folder / "mp3" / f"{name}.mp3"
    mp3.parent.mkdir(parents=True, exist_ok=True)
    tmp = mp3.with_name(f".{name}.part.mp3")
    cmd = [ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-y", "-i", str(wav_path), "-codec:a", "libmp3lame", "-q:a", "4", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise AudioError(f"{mp3}: mp3 encoding failed ({proc.stderr.decode('utf-8', 'replace').strip()})")
    os.replace(tmp, mp3)
    paragraphs = [song.lines[i : i + LINES_PER_PARAGRAPH] for i in range(0, len(song.lines), LINES_PER_PARAGRAPH)]
    lyrics = "\n\n".join("\n".join(" ".join(w.text for w in line) for line in para) for para in paragraphs)
    atomic_write_text(folder / "lyrics" / f"{name}.txt", lyrics + "\n")
    atomic_write_text(folder / "lyrics" / f"{name}.words.txt", "".join(f"{w.text}\n" for line in song.lines for w in line))
    rows = ["word_start,word_end,line_end"]
    for line in song.lines:
        for i, w in enumerate(line):
            rows.append(f"{w.start:.6f},{w.end:.6f},{f'{line[-1].end:.6f}' if i == len(line) - 1 else 'nan'}")
    atomic_write_text(folder / "annotations" / "words" / f"{name}.csv", "\n".join(rows) + "\n")
    line_rows = ["start_time,end_time,lyrics_line"] + [f"{ln[0].start:.6f},{ln[-1].end:.6f},{' '.join(w.text for w in ln)}" for ln in song.lines]
    atomic_write_text(folder / "annotations" / "lines" / f"{name}.csv", "\n".join(line_rows) + "\n")
    return {"Filepath": mp3.name, "Artist": "lyricalign synth", "Title": name, "Language": SUPPORTED_LANGUAGES[song.language].capitalize()}


def _job(args: tuple[int, SynthOptions, DaliSong | None]) -> tuple[list[SegmentRecord], dict[str, str] | None, float]:
    index, options, dali_song = args
    song = make_song(index, options, dali_song)
    audio_path = options.out_dir / "audio" / f"{song.id}.{options.audio_format}"
    write_audio(audio_path, song.mix, options.audio_format)
    if options.write_stems:
        write_audio(options.out_dir / "vocals" / f"{song.id}.{options.audio_format}", song.vocals, options.audio_format)
    row = write_jamendo_song(song, options.jamendo_dir, audio_path) if options.jamendo_dir else None
    return song_records(song, audio_path, options.split), row, song.duration


def synthesize_dataset(options: SynthOptions, progress: bool | None = None) -> Summary:
    """Make ``options.n_songs`` songs with ``options.workers`` processes; write manifests last."""
    dali_songs = _dali_melodies(options.dali_dir) if options.dali_dir else []
    picker = np.random.default_rng([options.seed, options.n_songs, 1])  # not a song's seed ([seed, index])
    jobs = [(i, options, dali_songs[int(picker.integers(0, len(dali_songs)))] if dali_songs else None) for i in range(options.n_songs)]
    workers = min(options.workers or os.cpu_count() or 1, options.n_songs)
    records: list[SegmentRecord] = []
    rows: list[dict[str, str]] = []
    bar = _progress_bar(options.n_songs, progress)
    if workers == 1:
        results = map(_job, jobs)
        _collect(results, records, rows, bar)
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            _collect(pool.imap_unordered(_job, jobs), records, rows, bar)
    if bar is not None:
        bar.close()
    records.sort(key=lambda r: (r.song_id, r.start))
    summary = write_records(records, options.out_dir)
    if options.jamendo_dir:
        _write_jamendo_csv(options.jamendo_dir, sorted(rows, key=lambda r: r["Filepath"]))
    return summary


def _collect(results, records: list, rows: list, bar) -> None:
    for song_records_, row, _ in results:
        records.extend(song_records_)
        if row is not None:
            rows.append(row)
        if bar is not None:
            bar.update(1)


def _dali_melodies(folder: Path) -> list[DaliSong]:
    songs = [s for s in iter_songs(folder) if any(n.freq[0] > 0 and n.end > n.start for n in s.notes)]
    if not songs:
        raise DatasetError(f"{folder}: no DALI song with pitched notes")
    return songs


def _write_jamendo_csv(folder: Path, rows: Sequence[dict[str, str]]) -> None:
    with atomic_open(folder / "JamendoLyrics.csv", "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=["Filepath", "Artist", "Title", "Language"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _progress_bar(total: int, enabled: bool | None):
    if not (sys.stderr.isatty() if enabled is None else enabled):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="song", desc="synth", file=sys.stderr)
