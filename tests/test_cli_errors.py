"""The CLI's error lines: one line whatever the library's message, an OSError as the environment's, a signal as
the signal."""

from __future__ import annotations

import pytest

from lyricalign import cli
from lyricalign.errors import ModelError, Terminated


@pytest.mark.parametrize("signal_exception, code, line", [
    (KeyboardInterrupt, 130, "lyricalign: interrupted\n"),
    (Terminated, 143, "lyricalign: terminated\n"),
])
def test_a_signal_wrapped_by_a_kernel_stops_as_the_signal(monkeypatch, capsys, signal_exception, code, line) -> None:
    """numba's dispatcher reports a signal that lands in a nogil kernel as a SystemError caused by the
    handler's exception (tests/test_batch_interrupt.py provokes the real one): not an internal error."""
    def align_interrupted(args) -> int:  # noqa: ANN001
        try:
            raise signal_exception()
        except BaseException as e:
            raise SystemError("CPUDispatcher(<function _forward_block>) returned a result with an exception set") from e

    monkeypatch.setattr(cli, "run_align", align_interrupted)
    assert cli.main(["align", "a.wav", "b.txt"]) == code
    assert capsys.readouterr().err == line


@pytest.mark.parametrize("raised, line", [
    (ModelError("cannot load it: We couldn't connect.\nCheck your connection.\n"),
     "lyricalign: error: cannot load it: We couldn't connect. Check your connection.\n"),
    (RuntimeError("[ONNXRuntimeError] : 1 : FAIL :\n  bad graph"),
     "lyricalign: internal error: RuntimeError: [ONNXRuntimeError] : 1 : FAIL : bad graph (run with -vv for the traceback)\n"),
])
def test_a_library_message_of_several_lines_is_one_error_line(monkeypatch, capsys, raised, line) -> None:
    """transformers' and ONNX Runtime's messages span lines; the CLI's error is still one."""
    def align_failing(args) -> int:  # noqa: ANN001
        raise raised

    monkeypatch.setattr(cli, "run_align", align_failing)
    assert cli.main(["align", "a.wav", "b.txt"]) in (2, cli.EXIT_INTERNAL)
    assert capsys.readouterr().err == line


def test_an_os_error_from_the_environment_is_one_error_line(monkeypatch, capsys) -> None:
    def align_disk_full(args) -> int:  # noqa: ANN001
        raise OSError(28, "No space left on device", "/data/out.json")

    monkeypatch.setattr(cli, "run_align", align_disk_full)
    assert cli.main(["align", "a.wav", "b.txt"]) == 2
    assert capsys.readouterr().err == "lyricalign: error: /data/out.json: No space left on device\n"


def test_an_os_error_during_a_signal_stops_as_the_signal_and_minus_vv_shows_its_traceback(monkeypatch, capsys) -> None:
    def align_interrupted_then_failing(args) -> int:  # noqa: ANN001
        try:
            raise KeyboardInterrupt()
        except KeyboardInterrupt as e:
            raise OSError(9, "Bad file descriptor") from e

    monkeypatch.setattr(cli, "run_align", align_interrupted_then_failing)
    assert cli.main(["align", "a.wav", "b.txt"]) == 130
    assert capsys.readouterr().err == "lyricalign: interrupted\n"
    monkeypatch.setattr(cli, "run_align", lambda args: open("/nonexistent-dir/x"))  # noqa: ARG005
    with pytest.raises(FileNotFoundError):
        cli.main(["-vv", "align", "a.wav", "b.txt"])


def test_one_line_keeps_the_spaces_inside_a_line() -> None:
    assert cli.one_line(ValueError("take  two.wav: no such file\n  try again \n")) == "take  two.wav: no such file try again"
