"""Section markers and stage directions (flagged, not aligned, not displayed), ASS karaoke rendered by
the real ffmpeg/libass, unknown output suffixes, millisecond times."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from conftest import tone
from lyricalign.api import AlignOptions, align
from lyricalign.formats import FormatError, output_format, parse_lrc, parse_srt, parse_textgrid, parse_vtt, render
from lyricalign.text import is_marker_line, parse_lyrics
from lyricalign.timing import WordTiming, assemble_result

SONG = "[Verse 1]\nHello world\n(x2)\n\n[Chorus]\nsing along now\n🎵\nChorus:\n(oh oh oh)\nx2\n"


@pytest.mark.parametrize(
    ("line", "marker"),
    [("[Verse 1]", True), ("[Chorus]", True), ("{Bridge}", True), ("(x2)", True), ("x2", True), ("3x", True),
     ("(Repeat chorus)", True), ("(guitar solo)", True), ("Chorus:", True), ("Verse 2", True), ("Pre-Chorus:", True),
     ("(Estribillo)", True), ("Refrain:", True), ("(bis)", True),
     ("(oh oh oh)", False), ("hello world", False), ("la la la (x2)", False), ("I love you (x2)", False),
     ("Solo", False), ("Guitar man", False)],
)
def test_marker_lines(line: str, marker: bool) -> None:
    assert is_marker_line(line) is marker


def _result(keep_markers: bool = False):
    lyrics = parse_lyrics(SONG, "en", keep_markers=keep_markers)
    timings = [WordTiming(1.0 + i * 0.5, 1.4 + i * 0.5, 0.9) if w.alignable else None for i, w in enumerate(lyrics.words)]
    return lyrics, assemble_result(lyrics, timings, 20.0, model="test", method="ctc")


def test_markers_keep_one_word_per_token_flagged_and_unaligned() -> None:
    lyrics, result = _result()
    assert [w.text for w in result.words] == SONG.split()
    flagged = {w.text for w in result.words if w.marker}
    assert flagged == {"[Verse", "1]", "(x2)", "[Chorus]", "🎵", "Chorus:", "x2"}
    assert all(w.interpolated and w.confidence == 0 for w in result.words if w.marker)
    assert not any(w.alignable for w in lyrics.words if w.marker)  # engines never see them
    assert [ln.marker for ln in result.lines] == [True, False, True, True, False, True, True, False, True]
    data = json.loads(render(result, "json"))
    assert [w["marker"] for w in data["words"]] == [w.marker for w in result.words]
    assert [(w["text"], w["line"]) for w in data["words"]] == [(w.text, w.line) for w in result.words]


def test_display_formats_leave_markers_out() -> None:
    _, result = _result()
    shown = ["Hello world", "sing along now", "(oh oh oh)"]
    assert [text for _, text in parse_lrc(render(result, "lrc")) if text] == shown
    assert [c.text for c in parse_srt(render(result, "srt"))] == shown
    assert [c.text for c in parse_vtt(render(result, "vtt"))] == shown
    assert [iv.text for iv in parse_textgrid(render(result, "textgrid"))["lines"] if iv.text] == shown
    elrc = render(result, "elrc")
    ass = render(result, "ass")
    for marker in ("Verse", "Chorus", "x2", "🎵"):
        assert marker not in elrc and marker not in ass
    assert ass.count("Dialogue:") == 3


def test_keep_markers_aligns_and_shows_them() -> None:
    lyrics, result = _result(keep_markers=True)
    assert not any(w.marker for w in result.words) and not any(ln.marker for ln in result.lines)
    chorus = next(w for w in lyrics.words if w.text == "Chorus:")
    assert chorus.spoken == "chorus"  # sung as a word when the user says so
    assert "[Verse 1]" in [c.text for c in parse_srt(render(result, "srt"))]


def test_lyrics_of_markers_only_are_refused() -> None:
    with pytest.raises(Exception, match="no alignable words"):
        parse_lyrics("[Intro]\n🎵\n(x2)\n", "en")


def test_api_option_keeps_markers() -> None:
    dropped = align(tone(3.0), "[Chorus]\nla la la", AlignOptions(language="en", method="uniform"))
    kept = align(tone(3.0), "[Chorus]\nla la la", AlignOptions(language="en", method="uniform", keep_markers=True))
    assert dropped.words[0].marker and dropped.lines[0].marker
    assert not kept.words[0].marker and "[Chorus]" in render(kept, "lrc")
    assert "[Chorus]" not in render(dropped, "lrc")


def test_times_are_rounded_to_the_millisecond_everywhere() -> None:
    lyrics = parse_lyrics("one two", "en")
    result = assemble_result(lyrics, [WordTiming(16.689999999999998, 16.9000000001), WordTiming(17.1234567, 17.5)],
                             20.00049, model="m", method="ctc")
    assert (result.words[0].start, result.words[0].end, result.words[1].start, result.duration) == (
        16.69, 16.9, 17.123, 20.0)
    assert "16.689999" not in render(result, "json") and '"start": 16.69' in render(result, "json")


# --- ASS karaoke ---------------------------------------------------------------------------------

def _dialogues(ass: str) -> list[tuple[int, int, list[int], list[str]]]:
    """(start cs, end cs, \\k values, words) per Dialogue line."""
    def cs(clock: str) -> int:
        h, m, s = clock.split(":")
        return (int(h) * 3600 + int(m) * 60) * 100 + round(float(s) * 100)

    out = []
    for line in ass.splitlines():
        if line.startswith("Dialogue:"):
            fields = line.split(",", 9)
            ks = [int(k) for k in re.findall(r"\{\\k(\d+)\}", fields[9])]
            words = [w.strip() for w in re.split(r"\{\\k\d+\}", fields[9]) if w.strip()]
            out.append((cs(fields[1]), cs(fields[2]), ks, words))
    return out


def test_ass_has_a_style_header_and_k_timing_that_adds_up() -> None:
    _, result = _result()
    ass = render(result, "ass")
    assert ass.startswith("[Script Info]") and "ScriptType: v4.00+" in ass and "\n[V4+ Styles]\n" in ass
    assert "\nStyle: Karaoke," in ass and "\n[Events]\nFormat: Layer, Start, End, Style," in ass
    events = _dialogues(ass)
    shown = [ln for ln in result.lines if not ln.marker]
    assert [" ".join(words) for *_, words in events] == [ln.text for ln in shown]
    for (start, end, ks, _), line in zip(events, shown):
        assert start == round(line.start * 100) and sum(ks) == end - start
        words = [w for w in result.words_of_line(result.lines.index(line))]
        assert ks[0] == round(words[1].start * 100) - start  # the first word lasts until the second starts


def test_ass_escapes_override_braces() -> None:
    result = align(tone(2.0), "a {b} c\\d", AlignOptions(language="en", method="uniform"))
    text = _dialogues(render(result, "ass"))[0]
    assert text[3] == ["a", "(b)", "c\u29f5d"]


@pytest.mark.slow
def test_ass_renders_with_ffmpeg_libass(tmp_path: Path, ffmpeg: str) -> None:
    """Burn the subtitles onto a generated blank video: ffmpeg exits 0 and frames change where words are."""
    _, result = _result()
    subtitles = tmp_path / "song.ass"
    subtitles.write_text(render(result, "ass"), encoding="utf-8")

    def frame_hashes(*filters: str) -> list[str]:
        cmd = [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=640x360:r=10:d=6",
               *(["-vf", filters[0]] if filters else []), "-f", "framemd5", "-"]
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return [line.rsplit(",", 1)[1].strip() for line in proc.stdout.splitlines() if not line.startswith("#")]

    blank = frame_hashes()
    burnt = frame_hashes("ass=song.ass")
    assert len(blank) == len(burnt) == 60
    changed = [i for i, (a, b) in enumerate(zip(blank, burnt)) if a != b]
    first_line = result.lines[1]  # "Hello world", the first shown line
    assert changed and changed[0] == pytest.approx(first_line.start * 10, abs=1)
    assert len(set(burnt[i] for i in changed)) > 1  # the karaoke fill changes from frame to frame
    assert burnt[0] == blank[0]  # nothing before the first line


# --- output format from the suffix --------------------------------------------------------------

def test_unknown_suffix_without_format_is_refused() -> None:
    assert output_format(None, "x.ass") == "ass" and output_format("json", "x.ass") == "json"
    assert output_format(None, None) == "json"
    with pytest.raises(FormatError, match=r"'out\.xyz'.*\.json, \.lrc, \.srt, \.vtt, \.ass, \.TextGrid.*--format"):
        output_format(None, "out.xyz")


def test_cli_refuses_unknown_suffix_with_one_line(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    sf.write(audio, tone(3.0), 16_000)
    lyrics = tmp_path / "a.txt"
    lyrics.write_text("la la la\n", encoding="utf-8")
    out = tmp_path / "out.xyz"
    proc = subprocess.run([sys.executable, "-m", "lyricalign.cli", "align", str(audio), str(lyrics), "--language", "en",
                           "--method", "uniform", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lyricalign: error: cannot tell the output format") \
        and "ass" in lines[0] and "--format" in lines[0]
    assert not out.exists()


def test_cli_keep_markers_flag(tmp_path: Path) -> None:
    audio = tmp_path / "a.wav"
    sf.write(audio, tone(4.0), 16_000)
    lyrics = tmp_path / "a.txt"
    lyrics.write_text("[Chorus]\nla la la\n(x2)\n", encoding="utf-8")
    for flag, shown in (([], ["la la la"]), (["--keep-markers"], ["[Chorus]", "la la la", "(x2)"])):
        out = tmp_path / "out.srt"
        proc = subprocess.run([sys.executable, "-m", "lyricalign.cli", "align", str(audio), str(lyrics), "--language",
                               "en", "--method", "uniform", "-o", str(out), *flag], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert [c.text for c in parse_srt(out.read_text(encoding="utf-8"))] == shown
