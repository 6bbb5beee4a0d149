"""Manifests from DALI fixtures: segments, artist-disjoint deterministic splits, filters, exclusions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lyricalign.data_pipeline.dali import iter_songs, read_song
from lyricalign.data_pipeline.manifest import SegmentOptions, SplitOptions, normalize_name, song_segments
from _dali_utils import dali_package, make_song, write_gzip

ROOT = Path(__file__).resolve().parents[1]
LINES = [["hel-lo", "world"], ["42", "birds"], ["[Chorus]"], ["sing", "a-long", "now"], ["last", "line"]]


def _silence(path: Path, seconds: float) -> None:
    sf.write(path, np.zeros(int(seconds * 16000), dtype=np.float32), 16000, subtype="PCM_16")


def test_segments_are_normalised_and_bounded(tmp_path):
    with dali_package() as cls:
        song = read_song(write_gzip(tmp_path, "s", make_song(cls, "s", LINES)))
    one_line = song_segments(song, "a.flac", "train", SegmentOptions(max_duration=1.5))
    assert [s.text for s in one_line] == ["hello world", "forty two birds", "last line"]  # 2.0 s line dropped
    assert one_line[1].words[0].text == "forty two" and one_line[1].words[0].start == one_line[1].start
    joined = song_segments(song, "a.flac", "train", SegmentOptions(max_duration=20.0))
    assert [s.text for s in joined] == ["hello world forty two birds", "sing along now last line"]  # [Chorus] breaks
    for seg in joined:
        assert seg.end - seg.start <= 20.0 and all(seg.start <= w.start <= w.end <= seg.end for w in seg.words)
    cut = song_segments(song, "a.flac", "train", SegmentOptions(), audio_duration=4.0)
    assert all(s.end <= 4.0 for s in cut) and cut


def test_split_is_by_artist_and_deterministic():
    options = SplitOptions(val_fraction=0.2, test_fraction=0.2)
    artists = [f"Artist {i}" for i in range(400)]
    splits = [options.split_of(a) for a in artists]
    assert splits == [SplitOptions(val_fraction=0.2, test_fraction=0.2).split_of(a) for a in artists]
    assert 40 < splits.count("test") < 120 and 40 < splits.count("val") < 120
    assert options.split_of("  BJÖRK ") == options.split_of("björk") and normalize_name("Beyoncé") == "beyonce"
    assert SplitOptions(salt="other").split_of("Artist 3") in ("train", "val", "test")


def test_prepare_command(tmp_path):
    dali, audio, out = tmp_path / "dali", tmp_path / "audio", tmp_path / "out"
    dali.mkdir(), audio.mkdir()
    artists = [f"Band {i}" for i in range(12)]
    with dali_package() as cls:
        for i, artist in enumerate(artists):
            for j in range(2):  # two songs per artist: they must share a split
                sid = f"id{i:02d}{j}"
                write_gzip(dali, sid, make_song(cls, sid, LINES, artist=artist, title=f"Song {j}", ncc=0.5 if sid == "id000" else 0.95))
                _silence(audio / f"{sid}.flac", 20.0)
        write_gzip(dali, "de0", make_song(cls, "de0", LINES, artist="Deutsch", language="german"))
        _silence(audio / "de0.flac", 20.0)
        write_gzip(dali, "noaudio", make_song(cls, "noaudio", LINES, artist="Band 1"))
    (tmp_path / "eval.csv").write_text("Filepath,Artist,Title\nx.mp3,band 2,SONG 0\n")
    cmd = [
        sys.executable, "-m", "lyricalign.data_pipeline", "prepare", str(dali), "--audio-dir", str(audio), "-o", str(out),
        "--language", "en", "--min-ncc", "0.9", "--val-fraction", "0.25", "--test-fraction", "0.25",
        "--exclude-songs", str(tmp_path / "eval.csv"), "--max-duration", "10",
    ]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "missing_audio=1" in run.stdout and "excluded=1" in run.stdout
    records = [json.loads(x) for split in ("train", "val", "test") for x in (out / f"{split}.jsonl").read_text().splitlines()]
    songs = {r["song_id"] for r in records}
    assert songs == {f"id{i:02d}{j}" for i in range(12) for j in range(2)} - {"id000", "id020"}  # NCC, excluded; de filtered
    split_of_artist: dict[str, set] = {}
    for r in records:
        split_of_artist.setdefault(r["artist"], set()).add(r["split"])
        assert set(r) == {"audio", "start", "end", "text", "language", "song_id", "artist", "split", "words"}
        assert Path(r["audio"]).is_file() and r["language"] == "en" and r["end"] - r["start"] <= 10
    assert all(len(s) == 1 for s in split_of_artist.values())
    assert len({next(iter(s)) for s in split_of_artist.values()}) >= 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["total"]["songs"] == 22 and set(summary["languages"]) == {"en"}

    dry = subprocess.run([*cmd[:-2], "--dry-run", "-o", str(tmp_path / "dry")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0 and not (tmp_path / "dry").exists()


def test_stats_command_counts_metadata(tmp_path):
    meta = {
        f"m{i}": {"id": f"m{i}", "artist": f"A{i}", "title": "t", "audio": {"url": "u", "working": i % 2 == 0, "path": "None"},
                  "scores": {"NCC": 0.95, "manual": 0}, "metadata": {"language": ["english", "german", "polish"][i % 3]}}
        for i in range(12)
    }
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    cmd = [sys.executable, "-m", "lyricalign.data_pipeline", "stats", str(tmp_path / "meta.json"), "--working", "--json", "--language", "en,de"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    counts = json.loads(run.stdout)
    assert {k: sum(v.values()) for k, v in counts.items()} == {"en": 2, "de": 2}
    bad = subprocess.run([*cmd[:5], "--min-ncc", "3"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == "lyricalign: error: min_ncc must be in [-1, 1], got 3.0"


def test_lists_that_are_not_utf8_are_user_errors(tmp_path):
    from lyricalign.data_pipeline.download import read_items
    from lyricalign.data_pipeline.manifest import read_id_list, read_song_list
    from lyricalign.errors import DatasetError

    path = tmp_path / "list.txt"
    path.write_bytes(b"Artist,Title\nBj\xf6rk,Joga\n")
    for reader, what in ((read_id_list, "id list"), (read_song_list, "song list"), (read_items, "the download list")):
        with pytest.raises(DatasetError, match=rf"list.txt: cannot read {what} \(not UTF-8: invalid byte at offset 15\)$"):
            reader(path)
    path.write_text("Artist,Title\nBjork,Joga\n")
    assert read_song_list(path) == {("bjork", "joga")}


@pytest.mark.parametrize("bad_id", ["../secret_outside", "/etc/passwd", "a/b", ".hidden"])
def test_prepare_refuses_song_ids_that_are_paths(tmp_path, bad_id):
    """Issue 9.7: the id ``../secret_outside`` made the manifest point outside ``--audio-dir``."""
    from lyricalign.data_pipeline.manifest import prepare

    audio = tmp_path / "audio"
    audio.mkdir()
    outside = tmp_path / "secret_outside.flac"
    _silence(outside, 20.0)
    _silence(audio / "good.flac", 20.0)
    (tmp_path / "dali").mkdir()
    with dali_package() as cls:
        songs = [read_song(write_gzip(tmp_path / "dali", sid, make_song(cls, sid, LINES)))
                 for sid in ("good", "evil")]
    evil = songs[1]
    songs[1] = type(evil)(**{**evil.__dict__, "info": type(evil.info)(**{**evil.info.__dict__, "id": bad_id})})
    result = prepare(songs, audio, tmp_path / "out")
    records = [json.loads(x) for split in ("train", "val", "test")
               for x in (tmp_path / "out" / f"{split}.jsonl").read_text().splitlines()]
    assert {r["song_id"] for r in records} == {"good"}
    assert all(Path(r["audio"]).parent == audio.resolve() for r in records)
    assert result.summary.skipped == {"unsafe_id": 1}
