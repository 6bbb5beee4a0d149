"""Commands that write into an output folder refuse an unusable one at once, in one line (exit 2).

Before, ``data synth -o FILE``, ``data prepare -o FILE``, ``data download FILE`` and
``evaluate --plots FILE`` / ``--json DIR`` ended in ``lyricalign: internal error: NotADirectoryError``
or ``FileExistsError`` (exit 1) -- ``evaluate`` only after aligning the whole dataset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lyricalign.cli import main
from lyricalign.fsutil import OutputPathError, check_output_dir


def test_check_output_dir(tmp_path: Path) -> None:
    a_file = tmp_path / "song.mp3"
    a_file.write_bytes(b"not a folder")
    assert check_output_dir(tmp_path) == tmp_path  # an existing folder
    assert check_output_dir(tmp_path / "new" / "nested") == tmp_path / "new" / "nested"  # created later
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(OutputPathError, match="exists and is not a directory"):
        check_output_dir(a_file)
    with pytest.raises(OutputPathError, match="is not a directory"):
        check_output_dir(a_file / "inside")


def _one_line_error(argv: list[str], capsys) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lyricalign: error: "), captured.err
    return lines[0]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "song.mp3"
    path.write_bytes(b"ID3 a file, not a folder")
    return path


def test_data_commands_refuse_a_file_as_their_output_folder(tmp_path: Path, a_file: Path, capsys) -> None:
    expected = f"lyricalign: error: {a_file}: exists and is not a directory (an output folder is expected)"
    assert _one_line_error(["data", "synth", "-o", str(a_file), "-n", "1"], capsys) == expected
    assert _one_line_error(["data", "synth", "-o", str(tmp_path / "out"), "-n", "1", "--jamendo-layout", str(a_file)],
                           capsys) == expected
    dali, audio = tmp_path / "dali", tmp_path / "audio"
    dali.mkdir()
    audio.mkdir()
    assert _one_line_error(["data", "prepare", str(dali), "--audio-dir", str(audio), "-o", str(a_file)], capsys) == expected
    listing = tmp_path / "list.txt"
    listing.write_text("song1 http://127.0.0.1:9/song1.wav\n", encoding="utf-8")
    assert _one_line_error(["data", "download", str(a_file), "--list", str(listing)], capsys) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio", "dali", "list.txt", "song.mp3"]  # nothing made


def test_synth_names_the_option_that_is_out_of_range(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "out")
    assert _one_line_error(["data", "synth", "-o", out, "-n", "0"], capsys) == (
        "lyricalign: error: the number of songs (-n) must be at least 1, got 0")
    assert _one_line_error(["data", "synth", "-o", out, "-n", "1", "--seconds", "5"], capsys) == (
        "lyricalign: error: the song length (--seconds) must be from 10 to 900 s, got 5")
