"""Synthetic songs: word times checked against the clean vocal, DALI melodies, the written dataset."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lyricalign.data_pipeline.dali import read_song
from lyricalign.data_pipeline.synth.generate import SynthOptions, make_song
from lyricalign.data_pipeline.synth.melody import syllable_count
from lyricalign.data_pipeline.synth.singing import FRAME_SECONDS, _time_map
from lyricalign.audio import SAMPLE_RATE, AudioLimits, load_audio
from _dali_utils import dali_package, make_song as make_dali_song, write_gzip

ROOT = Path(__file__).resolve().parents[1]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if x.size else 0.0


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    options = SynthOptions(out_dir=tmp_path_factory.mktemp("synth"), languages=("en",), song_seconds=14.0, seed=7)
    return make_song(0, options)


def test_word_spans_hold_the_vocal_energy(song):
    words = [w for line in song.lines for w in line]
    assert len(song.lines) >= 2 and len(words) >= 6
    inside = np.zeros(song.vocals.shape[0], dtype=bool)
    overall = _rms(song.vocals[np.abs(song.vocals) > 0])
    for w in words:
        a, b = int(round(w.start * SAMPLE_RATE)), int(round(w.end * SAMPLE_RATE))
        assert 0 <= a < b <= song.vocals.shape[0]
        inside[a:b] = True
        assert _rms(song.vocals[a:b]) > 0.1 * overall, f"word {w.text!r} at {w.start:.2f}-{w.end:.2f} s is (nearly) silent"
    assert _rms(song.vocals[~inside]) < 1e-3 * _rms(song.vocals[inside])
    for line in song.lines:  # sung legato: each word starts where the previous ends
        assert all(abs(x.end - y.start) < 1e-9 for x, y in zip(line, line[1:]))
        assert all(x.end <= y.start for x, y in zip(song.lines, song.lines[1:]) for x, y in [(x[-1], y[0])])


def test_mix_contains_the_vocal_and_music(song):
    assert song.mix.shape == song.vocals.shape and np.max(np.abs(song.mix)) <= 0.9 + 1e-6
    music = song.mix - song.vocals
    first = song.lines[0][0]
    intro = music[: int(first.start * SAMPLE_RATE)]
    assert _rms(intro) > 0.01 and _rms(song.vocals[: int(first.start * SAMPLE_RATE)]) == 0.0


def test_same_seed_same_song(tmp_path, song):
    again = make_song(0, SynthOptions(out_dir=tmp_path, languages=("en",), song_seconds=14.0, seed=7))
    assert again.lines == song.lines
    # WORLD draws its aperiodic excitation from a process-global noise state, so the vocal waveform
    # differs between runs: its loudness envelope (50 ms frames) does not. The accompaniment is the
    # same up to the final peak scaling.
    assert np.corrcoef(again.mix - again.vocals, song.mix - song.vocals)[0, 1] > 0.9999
    assert np.corrcoef(_envelope(again.vocals), _envelope(song.vocals))[0, 1] > 0.95


def _envelope(audio: np.ndarray, frame: int = SAMPLE_RATE // 20) -> np.ndarray:
    usable = audio[: audio.size // frame * frame].reshape(-1, frame)
    return np.sqrt(np.mean(usable**2, axis=1))


def test_time_map_keeps_consonants_and_fills_target():
    voiced = np.array([False, False, True, True, True, False])
    position = _time_map(voiced, 30)
    assert position.shape == (30,) and np.all(np.diff(position) >= 0)
    assert -0.5 <= position[0] and position[-1] <= 5.5
    assert np.sum(position < 1.5) == 2  # the two leading unvoiced frames keep one output frame each
    assert np.allclose(_time_map(np.zeros(4, dtype=bool), 8), np.arange(8) / 2 - 0.25)  # nothing voiced: uniform


def test_dali_melody_sets_word_durations(tmp_path):
    with dali_package() as cls:
        dali = read_song(write_gzip(tmp_path, "m", make_dali_song(cls, "m", [["hel-lo", "world"], ["one", "two", "three"]])))
    song = make_song(3, SynthOptions(out_dir=tmp_path, languages=("de",), song_seconds=10.0, seed=1), dali)
    for line in song.lines:
        for w in line:  # every DALI note of the fixture lasts 0.5 s; one note per syllable
            assert w.end - w.start == pytest.approx(0.5 * syllable_count(w.spoken), abs=FRAME_SECONDS)


@pytest.mark.slow
def test_synth_command_writes_manifests_and_jamendo_layout(tmp_path):
    out, jam = tmp_path / "out", tmp_path / "jam"
    cmd = [sys.executable, "-m", "lyricalign.data_pipeline", "synth", "-o", str(out), "-n", "2", "--seconds", "12",
           "--language", "fr,it", "-j", "2", "--jamendo-layout", str(jam), "--seed", "3"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    records = [json.loads(x) for s in ("train", "val", "test") for x in (out / f"{s}.jsonl").read_text().splitlines()]
    assert {r["language"] for r in records} == {"fr", "it"} and {r["song_id"] for r in records} == {"synth3_00000_fr", "synth3_00001_it"}
    for r in records:
        duration = sf.info(r["audio"]).frames / SAMPLE_RATE
        assert 0 <= r["start"] <= r["words"][0]["start"] and r["words"][-1]["end"] <= r["end"] <= duration
        assert r["text"] == " ".join(w["text"] for w in r["words"])
    with open(jam / "JamendoLyrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["Language"], r["Filepath"]) for r in rows] == [("French", "synth3_00000_fr.mp3"), ("Italian", "synth3_00001_it.mp3")]
    for row in rows:
        name = row["Filepath"][:-4]
        words = (jam / "lyrics" / f"{name}.words.txt").read_text().split("\n")[:-1]
        times = list(csv.DictReader(open(jam / "annotations" / "words" / f"{name}.csv")))
        lyrics_lines = [x for x in (jam / "lyrics" / f"{name}.txt").read_text().splitlines() if x]
        assert len(words) == len(times) == sum(len(x.split()) for x in lyrics_lines)
        assert sum(t["line_end"] != "nan" for t in times) == len(lyrics_lines)
        mp3 = load_audio(jam / "mp3" / row["Filepath"], AudioLimits(max_duration=None))
        flac = sf.info(out / "audio" / f"{name}.flac")
        assert abs(mp3.shape[0] - flac.frames) < 0.1 * SAMPLE_RATE
        assert float(times[-1]["word_end"]) <= flac.frames / SAMPLE_RATE
