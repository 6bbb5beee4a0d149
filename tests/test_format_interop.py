"""Output formats against other programs (ffmpeg, Praat) and our readers against malformed files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lyricalign.formats import Cue, FormatError, Interval, parse_srt, parse_textgrid, parse_vtt, write
from lyricalign.schema import AlignmentResult

from _format_results import song_result


@pytest.fixture(scope="module")
def result() -> AlignmentResult:
    return song_result()


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_ffmpeg_reads_our_subtitles(result: AlignmentResult, fmt: str, ffmpeg: str, tmp_path: Path) -> None:
    """ffmpeg's SRT and WebVTT demuxers accept our cues (karaoke timestamps included) unchanged."""
    path = tmp_path / f"song.{fmt}"
    write(result, fmt, path)
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "srt", "-"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    assert [(c.start, c.end, c.text) for c in parse_srt(out)] == [(ln.start, ln.end, ln.text) for ln in result.lines]


PRAAT_DUMP = """form Dump
  sentence path
endform
Read from file: path$
ntiers = Get number of tiers
for tier to ntiers
  name$ = Get tier name: tier
  n = Get number of intervals: tier
  for i to n
    a = Get start time of interval: tier, i
    b = Get end time of interval: tier, i
    label$ = Get label of interval: tier, i
    appendInfoLine: name$, tab$, fixed$(a, 6), tab$, fixed$(b, 6), tab$, label$
  endfor
endfor
"""


@pytest.mark.skipif(shutil.which("praat") is None, reason="Praat is not installed (apt-get install praat)")
def test_praat_reads_our_textgrid_as_our_reader_does(result: AlignmentResult, tmp_path: Path) -> None:
    grid, script = tmp_path / "song.TextGrid", tmp_path / "dump.praat"
    write(result, "textgrid", grid)
    script.write_text(PRAAT_DUMP, encoding="utf-8")
    out = subprocess.run(["praat", "--run", str(script), str(grid)], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    tiers = parse_textgrid(grid.read_text(encoding="utf-8"))
    ours = [f"{name}\t{i.xmin:.6f}\t{i.xmax:.6f}\t{i.text}" for name, tier in tiers.items() for i in tier]
    praat = [re.sub(r"^(\w+)\t0\t", r"\1\t0.000000\t", row) for row in out.splitlines()]  # Praat prints 0 bare
    assert praat == ours
    assert 'words\t1.400000\t1.900000\t"hi"' in praat


PRAAT_CREATE = '''form Create
  sentence folder
endform
Create TextGrid: 0, 2.5, "w beats", "beats"
Insert boundary: 1, 1
Set interval text: 1, 1, "a ""b"""
Insert point: 2, 0.5, "x"
Save as text file: folder$ + "/long.TextGrid"
Save as short text file: folder$ + "/short.TextGrid"
'''


@pytest.mark.skipif(shutil.which("praat") is None, reason="Praat is not installed (apt-get install praat)")
def test_our_reader_reads_textgrids_written_by_praat(tmp_path: Path) -> None:
    script = tmp_path / "create.praat"
    script.write_text(PRAAT_CREATE, encoding="utf-8")
    subprocess.run(["praat", "--run", str(script), str(tmp_path)], capture_output=True, check=True, timeout=60)
    expected = {"w": [Interval(0.0, 1.0, 'a "b"'), Interval(1.0, 2.5, "")], "beats": [Interval(0.5, 0.5, "x")]}
    for name in ("long.TextGrid", "short.TextGrid"):
        assert parse_textgrid((tmp_path / name).read_text(encoding="utf-8")) == expected, name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"ooTextFile"\n"Sound"\n', "not a TextGrid"),
        ('"ooTextFile"\n"TextGrid"\n0\n1\n<exists>\n1\n"IntervalTier"\n"w"\n0\n1\n2\n0\n1\n"a"\n', "ends early"),
        ('"ooTextFile"\n"TextGrid"\n0\n1\n<exists>\n1\n"Spiral"\n"w"\n0\n1\n0\n', "unknown class 'Spiral'"),
        ('"ooTextFile"\n"TextGrid"\n0\n1\n<exists>\n1\n"TextTier"\n"p"\n0\n1\n2\n0.5\n"x"\n', "ends early"),
        ('"ooTextFile"\n"TextGrid"\n0\n1\n<exists>\n1\n"IntervalTier"\n"w"\n0\n1\n1\n0\n"a"\n"b"\n', "malformed"),
    ],
)
def test_textgrid_reader_rejects_malformed_files(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_textgrid(text)


@pytest.mark.parametrize(
    ("parser", "text", "message"),
    [
        (parse_srt, "one\n00:00:01,000 --> 00:00:02,000\nx\n", "SRT cue 1: expected a cue number, got 'one'"),
        (parse_srt, "1\n00:00:01,000 -> 00:00:02,000\nx\n", "SRT cue 1: expected 'start --> end'"),
        (parse_srt, "1\n00:00:01.0 --> 00:00:02,000\nx\n", "SRT cue 1: malformed time '00:00:01.0'"),
        (parse_vtt, "1\n00:00:01.000 --> 00:00:02.000\nx\n", "not a WebVTT file"),
    ],
)
def test_subtitle_readers_reject_malformed_files(parser, text: str, message: str) -> None:
    with pytest.raises(FormatError, match=re.escape(message)):
        parser(text)


def test_vtt_reader_skips_identifiers_notes_and_settings() -> None:
    text = "WEBVTT - karaoke\n\nNOTE made by hand\n\nintro\n01:02.500 --> 01:04.000 align:start\nla <01:03.000>la\n"
    assert parse_vtt(text) == [Cue(62.5, 64.0, "la la", ((62.5, "la"), (63.0, "la")))]

