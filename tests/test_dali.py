"""DALI v1.0 reader: both annotation layouts, the JSON export, corrections, filters, unsafe pickles."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

from lyricalign.data_pipeline.dali import (
    DaliFilter,
    ReadReport,
    TimeParam,
    change_time,
    iter_songs,
    load_ground_truth,
    load_metadata,
    read_song,
)
from lyricalign.errors import DatasetError
from _dali_utils import dali_package, horizontal_annot, make_song, write_gzip, write_json, write_metadata

LINES = [["hel-lo", "world"], ["sing", "a-long"], ["last", "line", "here"]]


@pytest.fixture()
def annotations_cls(tmp_path):
    with dali_package() as cls:
        yield cls


def _times(level):
    return [(s.text, s.start, s.end, s.parent) for s in level]


def test_horizontal_round_trip(tmp_path, annotations_cls):
    song = make_song(annotations_cls, "a" * 32, LINES, artist="Ärtist", title="Tïtle")
    path = write_gzip(tmp_path, "a" * 32, song)
    read = read_song(path)
    expected = horizontal_annot(LINES)
    for level in ("notes", "words", "lines"):
        assert _times(read.level(level)) == [(x["text"], x["time"][0], x["time"][1], x["index"]) for x in expected[level]]
    assert [p.text for p in read.paragraphs] == ["hello world sing along", "last line here"]
    assert read.info.artist == "Ärtist" and read.info.title == "Tïtle"
    assert read.info.language == "en" and read.info.ncc == pytest.approx(0.95) and read.info.working
    assert read.time_param == TimeParam(fr=120.0, offset=0.0)
    assert [w.text for w in read.words_of_line(1)] == ["sing", "along"]


def test_pickle_is_what_dali_writes(tmp_path, annotations_cls):
    """The fixture names DALI's class exactly, so the reader must map it without the package."""
    path = write_gzip(tmp_path, "x", make_song(annotations_cls, "x", LINES))
    raw = gzip.decompress(path.read_bytes())
    assert raw[:2] == b"\x80\x02" and b"DALI.Annotations\nAnnotations" in raw


def test_vertical_and_json_match_horizontal(tmp_path, annotations_cls):
    horizontal = read_song(write_gzip(tmp_path, "h", make_song(annotations_cls, "h", LINES)))
    vertical = read_song(write_gzip(tmp_path, "v", make_song(annotations_cls, "v", LINES, vertical=True)))
    exported = read_song(write_json(tmp_path, "export", make_song(annotations_cls, "j", LINES, vertical=True)))
    for level in ("notes", "words", "lines", "paragraphs"):
        assert _times(vertical.level(level)) == _times(horizontal.level(level))
        assert _times(exported.level(level)) == _times(horizontal.level(level))
    assert exported.info.id == "j"


def test_change_time_is_dalis_formula():
    old, new = TimeParam(fr=120.0, offset=0.0), TimeParam(fr=60.0, offset=1.0)
    assert change_time(2.5, old, new) == 2.5 * 2 + 1.0  # beat 5 on the new grid
    assert change_time(2.6, old, new) == 6.0  # quantised to beat 5 first: round(2.6 * 2) = 5
    assert change_time(0.25, old, new) == 1.0  # round-half-even: beat 0.5 -> 0


def test_ground_truth_correction_applied(tmp_path, annotations_cls):
    folder = tmp_path / "dali"
    folder.mkdir()
    write_gzip(folder, "s1", make_song(annotations_cls, "s1", LINES))
    write_gzip(folder, "s2", make_song(annotations_cls, "s2", LINES))
    gt_path = tmp_path / "gt.gz"
    with gzip.open(gt_path, "wb") as gz:
        gz.write(pickle.dumps({"s1": {"offset": 1.0, "fr": 60}}, protocol=2))
    gt = load_ground_truth(gt_path)
    assert gt == {"s1": TimeParam(fr=60.0, offset=1.0)}
    report = ReadReport()
    songs = {s.info.id: s for s in iter_songs(folder, ground_truth=gt, report=report)}
    assert report.corrected == 1 and songs["s1"].info.ground_truth and not songs["s2"].info.ground_truth
    for corrected, original in zip(songs["s1"].words, songs["s2"].words):
        assert (corrected.start, corrected.end) == (2 * original.start + 1.0, 2 * original.end + 1.0)
    only_gt = list(iter_songs(folder, DaliFilter(ground_truth_only=True), ground_truth=gt))
    assert [s.info.id for s in only_gt] == ["s1"]


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_running_code_is_refused(tmp_path, annotations_cls):
    marker = tmp_path / "pwned"
    evil = write_gzip(tmp_path, "evil", _Exploit(marker))
    with pytest.raises(DatasetError, match=r"evil\.gz.*refused to load global (posix|os)\.system"):
        read_song(evil)
    song = make_song(annotations_cls, "nested", LINES)
    song.info["metadata"]["cover"] = _Exploit(marker)  # hidden inside an otherwise valid file
    with pytest.raises(DatasetError, match="nested.gz"):
        read_song(write_gzip(tmp_path, "nested", song))
    assert not marker.exists()


def test_iter_songs_skips_refused_files(tmp_path, annotations_cls):
    marker = tmp_path / "pwned"
    write_gzip(tmp_path, "good", make_song(annotations_cls, "good", LINES))
    write_gzip(tmp_path, "evil", _Exploit(marker))
    report = ReadReport()
    assert [s.info.id for s in iter_songs(tmp_path, report=report)] == ["good"]
    assert list(report.failed) == ["evil.gz"] and not marker.exists()


def test_numpy_scalars_become_python_numbers(tmp_path, annotations_cls):
    song = make_song(annotations_cls, "np", LINES)
    first = song.annotations["annot"]["words"][0]
    first["time"] = [np.float64(1.0), np.float32(2.0)]
    first["index"] = np.int64(0)
    read = read_song(write_gzip(tmp_path, "np", song))
    assert (read.words[0].start, read.words[0].end, read.words[0].parent) == (1.0, 2.0, 0)
    assert type(read.words[0].start) is float
    song.info["metadata"]["cover"] = np.array(["x"], dtype=object)  # object arrays could carry code
    with pytest.raises(DatasetError, match="refused"):
        read_song(write_gzip(tmp_path, "np_obj", song))


def test_malformed_files(tmp_path, annotations_cls):
    (tmp_path / "garbage.gz").write_bytes(b"not gzip")
    with pytest.raises(DatasetError, match="garbage.gz: not a readable"):
        read_song(tmp_path / "garbage.gz")
    song = make_song(annotations_cls, "bad", LINES)
    song.annotations["annot"]["words"][0]["index"] = 99
    with pytest.raises(DatasetError, match=r"bad.gz: words\[0\] points at lines\[99\]"):
        read_song(write_gzip(tmp_path, "bad", song))


def test_filters(tmp_path, annotations_cls):
    folder = tmp_path / "dali"
    folder.mkdir()
    specs = {
        "en_ok": dict(language="english", ncc=0.95),
        "en_low": dict(language="english", ncc=0.5),
        "de_ok": dict(language="german", ncc=0.99),
        "fr_dead": dict(language="french", ncc=0.99, working=False),
        "ja_ok": dict(language="japanese", ncc=0.99),
    }
    songs = [make_song(annotations_cls, sid, LINES, **kw) for sid, kw in specs.items()]
    for s in songs:
        write_gzip(folder, s.info["id"], s)

    def ids(**kw):
        return sorted(s.info.id for s in iter_songs(folder, DaliFilter(**kw)))

    assert ids() == sorted(specs)
    assert ids(languages=frozenset({"en", "german"})) == ["de_ok", "en_low", "en_ok"]
    assert ids(min_ncc=0.9) == ["de_ok", "en_ok", "fr_dead", "ja_ok"]
    assert ids(working_only=True, min_ncc=0.9) == ["de_ok", "en_ok", "ja_ok"]
    assert ids(ids=frozenset({"en_low", "ja_ok"})) == ["en_low", "ja_ok"]
    assert ids(languages=frozenset({"japanese"})) == ["ja_ok"]
    metadata = load_metadata(write_metadata(tmp_path / "meta.json", songs))
    accepted = [m.id for m in metadata if DaliFilter(languages=frozenset({"fr"}), working_only=True).accepts(m)]
    assert accepted == [] and {m.language for m in metadata} == {"en", "de", "fr", "japanese"}


def _huge_declared_string(path: Path, opcode: bytes, length: int) -> Path:
    """A gzip pickle whose one string claims ``length`` bytes and holds 4 (protocol 4 opcodes)."""
    import gzip
    import struct

    with gzip.open(path, "wb") as handle:
        handle.write(b"\x80\x04" + opcode + struct.pack("<Q", length) + b"abcd.")
    return path


@pytest.mark.parametrize("opcode", [b"\x8e", b"\x8d"])  # BINBYTES8, BINUNICODE8
@pytest.mark.parametrize("length", [2**60, 2**33])
def test_pickle_declaring_a_huge_string_is_skipped(tmp_path, annotations_cls, opcode, length):
    """Issue 9.6: a file declaring a 2^60-byte string raised an uncaught MemoryError and aborted ``prepare``."""
    write_gzip(tmp_path, "good", make_song(annotations_cls, "good", LINES))
    _huge_declared_string(tmp_path / "bomb.gz", opcode, length)
    report = ReadReport()
    assert [s.info.id for s in iter_songs(tmp_path, report=report)] == ["good"]
    assert list(report.failed) == ["bomb.gz"]
