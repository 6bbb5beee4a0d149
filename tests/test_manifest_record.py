"""The training-manifest record (lyricalign.manifest): one writer, one reader, exact errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lyricalign.errors import DatasetError
from lyricalign.manifest import SegmentRecord, WordRecord, audio_path, read_records, record_line

RECORD = SegmentRecord(
    audio="audio/s1.flac", start=1.23456, end=4.5, text="forty two ça", language="fr", song_id="s1",
    artist="Zoé", split="train",
    words=(WordRecord("forty two", 1.23456, 2.0), WordRecord("ça", 2.5, 4.5)),
)


def test_line_has_the_documented_keys_in_order_and_reads_back(tmp_path: Path):
    line = record_line(RECORD)
    assert line.endswith("\n") and "ça" in line  # non-ASCII kept
    assert list(json.loads(line)) == ["audio", "start", "end", "text", "language", "song_id", "artist", "split", "words"]
    path = tmp_path / "train.jsonl"
    path.write_text(line + "\n" + line, encoding="utf-8")  # a blank line in between is skipped
    records = list(read_records(path, required=("start", "end", "words")))
    assert [n for n, _ in records] == [1, 3]
    back = records[0][1]
    assert back.start == 1.235 and back.words[0] == WordRecord("forty two", 1.235, 2.0)
    assert back == SegmentRecord(**{**RECORD.__dict__, "start": 1.235, "words": back.words})
    assert audio_path(back, path) == tmp_path / "audio" / "s1.flac"
    assert audio_path(SegmentRecord(audio="/abs/a.wav", text="x"), path) == Path("/abs/a.wav")


def test_optional_fields_default_and_required_ones_are_checked(tmp_path: Path):
    path = tmp_path / "dev.jsonl"
    path.write_text('{"audio": "a.wav", "text": "la la"}\n', encoding="utf-8")
    ((_, record),) = read_records(path)
    assert (record.start, record.end, record.song_id, record.words) == (None, None, "", ())
    with pytest.raises(DatasetError, match=r"^.*dev\.jsonl:1: malformed record \(KeyError: 'start'\)$"):
        list(read_records(path, required=("start",)))
    path.write_text('{"audio": "a.wav", "text": "x", "start": null}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"dev\.jsonl:1: malformed record \(KeyError: 'start'\)$"):
        list(read_records(path, required=("start",)))
    path.write_text('{"audio": "a.wav", "text": "x", "end": "late"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"dev\.jsonl:1: malformed record \(ValueError: could not convert"):
        list(read_records(path))
    path.write_text('[1, 2]\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"dev\.jsonl:1: malformed record \(TypeError: a record is a JSON object, got list\)$"):
        list(read_records(path))
    with pytest.raises(ValueError, match="not optional manifest fields: audio"):
        list(read_records(path, required=("audio",)))


def test_unreadable_files_are_dataset_errors(tmp_path: Path):
    bad = tmp_path / "train.jsonl"
    bad.write_bytes(b'{"audio": "a.wav", "text": "caf\xe9"}\n')
    with pytest.raises(DatasetError, match=r"train\.jsonl: manifest must be UTF-8 JSON lines \(invalid byte at offset 31\)$"):
        list(read_records(bad))
    with pytest.raises(DatasetError, match=r"absent\.jsonl: cannot read manifest \(No such file or directory\)$"):
        list(read_records(tmp_path / "absent.jsonl"))


def test_the_data_pipeline_writes_exactly_this_record(tmp_path: Path):
    from lyricalign.data_pipeline import manifest as pipeline

    words = tuple(pipeline.WordRecord(w.text, w.start, w.end) for w in RECORD.words)
    fields = {k: v for k, v in RECORD.__dict__.items() if k != "words"}
    pipeline.write_records([pipeline.SegmentRecord(**fields, words=words)], tmp_path)
    line = (tmp_path / "train.jsonl").read_text(encoding="utf-8")
    assert line == record_line(RECORD)
    ((_, back),) = read_records(tmp_path / "train.jsonl", required=("start", "end", "language", "song_id", "words"))
    assert record_line(back) == line
