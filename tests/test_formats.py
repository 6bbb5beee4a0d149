"""Output formats: every format renders, parses back with its own precision, and writes atomically."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lyricalign.errors import LyricalignError
from lyricalign.formats import (
    FORMAT_SUFFIXES,
    FORMATS,
    LRC_GAP_SECONDS,
    REGISTRY,
    Cue,
    FormatError,
    Interval,
    format_for_path,
    parse_elrc,
    parse_lrc,
    parse_srt,
    parse_textgrid,
    parse_vtt,
    output_format,
    read_json,
    render,
    write,
)
from lyricalign.formats.base import RenderOptions
from lyricalign.schema import AlignmentResult, Line, Word

from _format_results import one_line_result, song_result

SRT_TIMING = re.compile(r"^(\d{2,}):(\d{2}):(\d{2}),(\d{3}) --> (\d{2,}):(\d{2}):(\d{2}),(\d{3})$")
VTT_TIMING = re.compile(r"^\d{2,}:\d{2}:\d{2}\.\d{3} --> \d{2,}:\d{2}:\d{2}\.\d{3}$")


@pytest.fixture(scope="module")
def result() -> AlignmentResult:
    return song_result()


def test_render_rejects_unknown_format_listing_the_formats(result: AlignmentResult) -> None:
    with pytest.raises(ValueError) as info:
        render(result, "docx")
    assert str(info.value) == "unknown output format 'docx' (choose from: json, lrc, elrc, srt, vtt, ass, textgrid)"
    assert isinstance(info.value, LyricalignError)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("out.json", "json"), ("a/b/song.LRC", "lrc"), ("x.srt", "srt"), ("x.vtt", "vtt"), ("x.TextGrid", "textgrid"),
     ("x.textgrid", "textgrid"), ("x.ASS", "ass"), ("x.txt", None), ("noext", None)],
)
def test_format_for_path(name: str, expected: str | None) -> None:
    assert format_for_path(name) == expected


def test_every_format_has_a_suffix_that_maps_back() -> None:
    assert set(FORMAT_SUFFIXES) == set(FORMATS) == set(REGISTRY)
    for fmt, suffix in FORMAT_SUFFIXES.items():
        assert format_for_path(f"song{suffix}") == ("lrc" if fmt == "elrc" else fmt)


#: A file of each format that parses but holds no alignment.
EMPTY = {"lrc": "[ar:someone]\n", "elrc": "[ar:someone]\n", "srt": "", "vtt": "WEBVTT\n",
         "textgrid": '"ooTextFile"\n"TextGrid"\n0\n1\n<absent>\n'}


def test_the_registry_is_the_one_table(result: AlignmentResult) -> None:
    """Every record renders, names a media type, and (where it has a reader) reads its own output back as
    complete, a blank or foreign file as not: what batch resume relies on."""
    assert FORMATS == ("json", "lrc", "elrc", "srt", "vtt", "ass", "textgrid")
    assert {f.name: f.media_type.split(";")[0] for f in REGISTRY.values()} == {
        "json": "application/json", "lrc": "text/plain", "elrc": "text/plain", "srt": "application/x-subrip",
        "vtt": "text/vtt", "ass": "text/x-ssa", "textgrid": "text/plain",
    }
    for fmt in REGISTRY.values():
        text = fmt.render(result)
        assert text == render(result, fmt.name) and fmt.parses_back(text), fmt.name
        assert output_format(None, f"out{fmt.suffix}") == ("lrc" if fmt.name == "elrc" else fmt.name)
        if fmt.parser is None:
            assert fmt.name == "ass" and not fmt.parses_back(" \n")
            with pytest.raises(FormatError, match="format 'ass' has no reader"):
                fmt.parse(text)
        elif fmt.name == "json":
            with pytest.raises(FormatError, match="not a lyricalign JSON result"):
                fmt.parses_back("")
        else:
            assert not fmt.parses_back(EMPTY[fmt.name])  # parses, holds nothing


def test_compact_json_is_one_line_of_the_same_document(result: AlignmentResult) -> None:
    compact = render(result, "json", RenderOptions(compact=True))
    assert "\n" not in compact and json.loads(compact) == json.loads(render(result, "json"))
    assert render(result, "srt", RenderOptions(compact=True)) == render(result, "srt")  # JSON's option only


def test_json_round_trips_exactly_and_keeps_unicode(result: AlignmentResult) -> None:
    text = render(result, "json")
    assert "😀" in text and "señor" in text  # ensure_ascii=False
    data = json.loads(text)
    assert set(data) == {"words", "lines", "duration", "model", "language", "method"}
    assert set(data["words"][0]) == {"text", "start", "end", "confidence", "line", "interpolated", "marker"}
    assert set(data["lines"][0]) == {"text", "start", "end", "paragraph", "marker"}
    assert read_json(text) == result
    assert data["words"][4]["interpolated"] is True


def test_read_json_rejects_other_json() -> None:
    with pytest.raises(FormatError, match="not a lyricalign JSON result"):
        read_json('{"segments": []}')
    with pytest.raises(FormatError, match="not a lyricalign JSON result"):
        read_json("{")


def test_lrc_lines_tags_and_break_markers(result: AlignmentResult) -> None:
    text = render(result, "lrc")
    rows = text.splitlines()
    assert rows[:2] == ["[length: 62:10]", "[re:lyricalign]"]
    assert rows[2] == '[00:01.00]Say "hi" to the 😀 world'
    assert "[62:05.50][Chorus] 42 times" in rows  # minutes keep counting past 59
    entries = parse_lrc(text)
    sung = [(t, s) for t, s in entries if s]
    assert sung == [(ln.start, ln.text) for ln in result.lines]
    breaks = [t for t, s in entries if not s]
    # Line 2 ends at 5.25 and line 3 starts an hour later; the last line ends 2.875 s before the end.
    assert breaks == [5.25]
    assert 3730.0 - result.lines[-1].end < LRC_GAP_SECONDS


def test_lrc_centisecond_rounding_and_reader_tolerance() -> None:
    text = "[ar:Someone]\n[length: 1:02]\n[00:01.5]one\n[00:03.456][01:00.00]two <00:04.00> w\nno tag here\n"
    assert parse_lrc(text) == [(1.5, "one"), (3.456, "two w"), (60.0, "two w")]
    line = Line("x", 0.123, 0.2)
    r = AlignmentResult((Word("x", 0.125, 0.2, 1.0, 0),), (line,), 1.0, "m", "en")
    assert "[00:00.12]x" in render(r, "lrc")


def test_elrc_word_tags_and_line_end(result: AlignmentResult) -> None:
    text = render(result, "elrc")
    first = text.splitlines()[2]
    assert first == ('[00:01.00] <00:01.00> Say <00:01.40> "hi" <00:02.00> to <00:02.20> the '
                     "<00:02.20> 😀 <00:02.90> world <00:03.50>")
    parsed = [(t, words) for t, words in parse_elrc(text) if words]
    assert len(parsed) == len(result.lines)
    centisecond = 0.005 + 1e-9
    for index, ((line_time, words), line) in enumerate(zip(parsed, result.lines)):
        expected = [(w.text, pytest.approx(w.start, abs=centisecond)) for w in result.words_of_line(index)]
        assert line_time == pytest.approx(line.start, abs=centisecond)
        assert [(w, t) for t, w in words[:-1]] == expected
        assert words[-1] == (pytest.approx(line.end, abs=centisecond), "")


def test_srt_structure(result: AlignmentResult) -> None:
    text = render(result, "srt")
    blocks = text.strip("\n").split("\n\n")
    assert len(blocks) == len(result.lines)
    previous_start = -1.0
    for number, (block, line) in enumerate(zip(blocks, result.lines), start=1):
        index, timing, body = block.split("\n")
        assert index == str(number)
        match = SRT_TIMING.match(timing)
        assert match, timing
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        start, end = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        assert previous_start <= start < end
        previous_start = start
        assert body == line.text
    assert "01:02:05,500 --> 01:02:07,125" in text
    cues = parse_srt(text)
    assert cues == [Cue(ln.start, ln.end, ln.text) for ln in result.lines]


def test_vtt_structure_and_karaoke_timestamps(result: AlignmentResult) -> None:
    text = render(result, "vtt")
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    for block in blocks[1:]:
        timing, payload = block.split("\n")
        assert VTT_TIMING.match(timing), timing
    assert blocks[1].split("\n")[1] == (
        'Say <00:00:01.400>"hi" <00:00:02.000>to <00:00:02.200>the 😀 <00:00:02.900>world'
    )
    cues = parse_vtt(text)
    assert [(c.start, c.end, c.text) for c in cues] == [(ln.start, ln.end, ln.text) for ln in result.lines]
    for cue in cues:
        times = [t for t, _ in cue.words]
        assert times[0] == cue.start and all(a < b for a, b in zip(times, times[1:])) and times[-1] < cue.end
    assert cues[0].words[1] == (1.4, '"hi"')


def test_vtt_zero_length_cue_and_word_and_escaping() -> None:
    r = one_line_result([("a&b", 2.0, 2.0), ("<c>", 2.0, 2.0)])
    text = render(r, "vtt")
    assert "00:00:02.000 --> 00:00:02.001\na&amp;b &lt;c&gt;\n" in text  # 1 ms cue, no timestamp at its start
    (cue,) = parse_vtt(text)
    assert (cue.start, cue.end, cue.text, cue.words) == (2.0, 2.001, "a&b <c>", ((2.0, "a&b <c>"),))
    srt = render(r, "srt")
    assert "00:00:02,000 --> 00:00:02,001" in srt


def test_textgrid_tiers_tile_the_audio_and_parse_back(result: AlignmentResult) -> None:
    text = render(result, "textgrid")
    assert 'text = "Say ""hi"" to the 😀 world"' in text
    tiers = parse_textgrid(text)
    assert list(tiers) == ["lines", "words"]
    for intervals in tiers.values():
        assert intervals[0].xmin == 0 and intervals[-1].xmax == result.duration
        assert all(a.xmax == b.xmin for a, b in zip(intervals, intervals[1:]))
        assert all(i.xmax > i.xmin for i in intervals)
    assert [(i.xmin, i.xmax, i.text) for i in tiers["lines"] if i.text] == [
        (ln.start, ln.end, ln.text) for ln in result.lines
    ]
    words = [i for i in tiers["words"] if i.text]
    assert Interval(2.0, 2.2, "to the") in words  # the zero-length "the" shares "to"'s interval
    assert Interval(1.0, 1.4, "Say") in words and Interval(1.4, 1.9, '"hi"') in words
    assert " ".join(i.text for i in words) == " ".join(w.text for w in result.words)


def test_textgrid_clips_overlaps_and_handles_edge_zero_length_words() -> None:
    r = one_line_result([("lead", 0.0, 0.0), ("a", 1.0, 2.5), ("b", 2.0, 3.0), ("tail", 10.0, 10.0)])
    words = parse_textgrid(render(r, "textgrid"))["words"]
    assert words == [
        Interval(0.0, 1.0, ""), Interval(1.0, 2.5, "lead a"), Interval(2.5, 3.0, "b"), Interval(3.0, 10.0, "tail"),
    ]


def test_textgrid_reader_accepts_the_short_format_and_point_tiers() -> None:
    short = (
        '"ooTextFile"\n"TextGrid"\n0\n2.5\n<exists>\n2\n'
        '"IntervalTier"\n"w"\n0\n2.5\n2\n0\n1\n"a ""b"""\n1\n2.5\n""\n'
        '"TextTier"\n"beats"\n0\n2.5\n1\n0.5\n"x"\n'
    )
    assert parse_textgrid(short) == {
        "w": [Interval(0.0, 1.0, 'a "b"'), Interval(1.0, 2.5, "")],
        "beats": [Interval(0.5, 0.5, "x")],
    }


def test_write_is_atomic(result: AlignmentResult, tmp_path: Path) -> None:
    target = tmp_path / "out" / "song.srt"
    write(result, "srt", target)
    assert target.read_text(encoding="utf-8") == render(result, "srt")

    broken = AlignmentResult(result.words[:1], (Line("x", 0.0, math.nan),), 1.0, "m", "en")
    with pytest.raises(FormatError, match=re.escape("cannot render line 0 ('x'): invalid times 0.0..nan")):
        write(broken, "srt", target)
    assert target.read_text(encoding="utf-8") == render(result, "srt")  # untouched
    fresh = tmp_path / "fresh.json"
    with pytest.raises(FormatError):
        write(broken, "json", fresh)
    with pytest.raises(FormatError):
        write(result, "docx", fresh)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "song.srt"]  # no temp or partial files


def test_render_rejects_words_pointing_at_missing_lines() -> None:
    r = AlignmentResult((Word("a", 0.0, 1.0, 1.0, 3),), (Line("a", 0.0, 1.0),), 2.0, "m", "en")
    with pytest.raises(FormatError, match=re.escape("cannot render word 0 ('a'): line 3 does not exist")):
        render(r, "elrc")


# ------------------------------------------------------------------------------ property test

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="<>[]"),
    min_size=1, max_size=6,
)


@st.composite
def results(draw) -> AlignmentResult:
    """Millisecond times (what engines output after JSON rounding), 1-4 lines of 1-4 words."""
    words: list[Word] = []
    lines: list[Line] = []
    clock = draw(st.integers(0, 5000))
    for line_index in range(draw(st.integers(1, 4))):
        clock += draw(st.integers(0, 9000))
        first = len(words)
        for _ in range(draw(st.integers(1, 4))):
            clock += draw(st.integers(0, 500))
            length = draw(st.integers(0, 1500))
            words.append(Word(draw(TEXT), clock / 1000, (clock + length) / 1000, 1.0, line_index))
            clock += length
        span = words[first:]
        lines.append(Line(" ".join(w.text for w in span), span[0].start, max(w.end for w in span)))
    duration = (clock + draw(st.integers(0, 9000))) / 1000
    return AlignmentResult(tuple(words), tuple(lines), duration, "m", "en")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results())
def test_every_format_round_trips_within_its_precision(r: AlignmentResult) -> None:
    assert read_json(render(r, "json")) == r

    sung = [(t, s) for t, s in parse_lrc(render(r, "lrc")) if s]
    assert [s for _, s in sung] == [ln.text for ln in r.lines]
    assert [t for t, _ in sung] == [pytest.approx(ln.start, abs=0.005 + 1e-9) for ln in r.lines]

    elrc = [(t, ws) for t, ws in parse_elrc(render(r, "elrc")) if ws]
    assert [w for _, ws in elrc for t, w in ws if w] == [w.text for w in r.words]

    for cues in (parse_srt(render(r, "srt")), parse_vtt(render(r, "vtt"))):
        assert [c.text for c in cues] == [ln.text for ln in r.lines]
        assert [(c.start, c.end) for c in cues] == [
            (ln.start, max(ln.end, round(ln.start + 0.001, 3))) for ln in r.lines
        ]

    tiers = parse_textgrid(render(r, "textgrid"))
    for name, items in (("lines", r.lines), ("words", r.words)):
        intervals = tiers[name]
        assert intervals[0].xmin == 0 and intervals[-1].xmax == r.duration
        assert all(a.xmax == b.xmin for a, b in zip(intervals, intervals[1:]))
        assert " ".join(i.text for i in intervals if i.text) == " ".join(item.text for item in items)
