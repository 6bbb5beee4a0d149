"""Songs for the load tests: a generated one, or a folder of real ones. No Locust import here (run.py
uses it too, and Locust must monkey-patch with gevent before anything else loads).

Imported by ``locustfile.py`` as a sibling module (Locust puts the locustfile's folder on
``sys.path``) and by ``run.py`` as ``.load_songs`` (``lyricalign.loadtests.load_songs`` when installed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The generated song's lines (English, 13 words; ``repeats`` times).
SONG_LINES = (["the", "night", "is", "young", "and", "so", "are", "we"], ["sing", "along", "until", "the", "morning"])
#: Audio taken from a songs folder (each needs a same-stem ``.txt``).
AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg", ".opus", ".m4a")
MEDIA_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
               ".opus": "audio/ogg", ".m4a": "audio/mp4"}


@dataclass(frozen=True)
class LoadSong:
    """One song held in memory for the requests; ``words``: whitespace tokens the result must have."""

    name: str
    audio: bytes
    media_type: str
    lyrics: str
    duration: float | None  # seconds, when the header tells (None: unknown)

    @property
    def words(self) -> int:
        return len(self.lyrics.split())

    @property
    def length_class(self) -> str:
        """A coarse length for request names: ``<30s``, ``30s-2m``, ``2-5m``, ``>5m`` or ``?``."""
        if self.duration is None:
            return "?"
        for limit, label in ((30, "<30s"), (120, "30s-2m"), (300, "2-5m")):
            if self.duration < limit:
                return label
        return ">5m"


def write_song(directory: Path, repeats: int = 2) -> tuple[Path, Path]:
    """A short song (espeak-ng lines over a quiet chord), ~10 s; returns (wav, lyrics) paths."""
    import soundfile as sf

    from lyricalign.audio import SAMPLE_RATE
    from lyricalign.tts import synthesize_words

    lines = [line for _ in range(repeats) for line in SONG_LINES]
    pause = np.zeros(int(0.4 * SAMPLE_RATE), np.float32)
    vocals = np.concatenate([pause] + [np.concatenate([synthesize_words(line, "en").audio, pause]) for line in lines])
    t = np.arange(vocals.size) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)).astype(np.float32)
    mix = 0.8 * vocals / max(float(np.abs(vocals).max()), 1e-9) + 0.05 * chord
    wav, lyrics = directory / "song.wav", directory / "song.txt"
    sf.write(wav, (0.9 * mix / np.abs(mix).max()).astype(np.float32), SAMPLE_RATE)
    lyrics.write_text("\n".join(" ".join(line) for line in lines) + "\n", encoding="utf-8")
    return wav, lyrics


def read_song(audio: Path, lyrics: Path) -> LoadSong:
    return LoadSong(name=audio.name, audio=audio.read_bytes(), media_type=MEDIA_TYPES.get(audio.suffix.lower(), "application/octet-stream"),
                    lyrics=lyrics.read_text(encoding="utf-8-sig"), duration=_duration(audio))


def read_songs(folder: Path) -> list[LoadSong]:
    """Every audio file of ``folder`` with a same-stem ``.txt``, sorted by name.

    Raises:
        ValueError: no such folder, or no pair in it.
    """
    if not folder.is_dir():
        raise ValueError(f"--songs {folder}: not a directory")
    pairs = [(p, p.with_suffix(".txt")) for p in sorted(folder.iterdir())
             if p.suffix.lower() in AUDIO_SUFFIXES and p.with_suffix(".txt").is_file()]
    if not pairs:
        raise ValueError(f"--songs {folder}: no audio file with a same-stem .txt of lyrics")
    return [read_song(a, l) for a, l in pairs]


def _duration(audio: Path) -> float | None:
    try:
        import soundfile as sf

        return float(sf.info(str(audio)).duration)
    except Exception:  # formats libsndfile cannot read (m4a, opus): the length is just not shown
        return None
