"""``python -m lyricalign.training.register`` (docs/service.md) on a bad file: one line, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

from lyricalign.training.register import main


def test_a_missing_or_broken_model_is_one_line(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "model.onnx"
    assert main([str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"lyricalign.training.register: error: {missing}: no such model file\n"

    broken = tmp_path / "lyrics.onnx"
    broken.write_text("hello world\n", encoding="utf-8")
    assert main([str(broken)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lyricalign.training.register: error: {broken}: not a loadable ONNX model")


def test_bad_usage_is_one_line_too(capsys) -> None:
    for argv in ([], ["a.onnx", "--nosuch"]):
        try:
            main(argv)
        except SystemExit as stop:
            assert stop.code == 2
        else:
            raise AssertionError(f"{argv} did not exit")
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("lyricalign.training.register: error: "), lines
