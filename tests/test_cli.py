"""`lyricalign align` end to end as a user runs it: a real subprocess, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tone


LYRICS = "Hello world, this is a test\n\nsecond line 42 🎵\n"
#: No periodic progress line (every 10 s off a terminal) in these runs: on a loaded machine one would
#: join the "exactly one error line" that the tests check. tests/test_progress.py tests those lines.
QUIET = {"LYRICALIGN_PROGRESS_INTERVAL": "3600"}


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lyricalign.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **QUIET, **(env or {})},
    )


@pytest.fixture
def song(tmp_path: Path) -> tuple[Path, Path]:
    audio = tmp_path / "song.wav"
    sf.write(audio, tone(6.0, 330.0), 16_000)
    lyrics = tmp_path / "song.txt"
    lyrics.write_text(LYRICS, encoding="utf-8")
    return audio, lyrics


@pytest.mark.slow
def test_align_with_a_model_writes_every_format(song, tiny_model, tmp_path):
    audio, lyrics = song
    for fmt in ("json", "lrc", "elrc", "srt", "vtt", "ass", "textgrid"):
        out = tmp_path / f"out.{fmt}"
        proc = run_cli("align", str(audio), str(lyrics), "--model", str(tiny_model), "--allow-untrained",
                       "--format", fmt, "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        assert out.stat().st_size > 0
    data = json.loads((tmp_path / "out.json").read_text())
    assert [w["text"] for w in data["words"]] == LYRICS.split()
    starts = [w["start"] for w in data["words"]]
    assert starts == sorted(starts) and 0 <= starts[0] and data["words"][-1]["end"] <= data["duration"] + 1e-6
    assert data["method"] == "ctc" and data["language"] == "en"
    assert [ln["text"] for ln in data["lines"]] == ["Hello world, this is a test", "second line 42 🎵"]
    assert data["words"][-1]["interpolated"] is True  # the emoji has nothing to align


def test_align_to_stdout_and_format_from_suffix(song, tiny_model, tmp_path):
    audio, lyrics = song
    proc = run_cli("align", str(audio), str(lyrics), "--model", str(tiny_model), "--allow-untrained")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["words"]) == len(LYRICS.split())
    out = tmp_path / "karaoke.srt"
    assert run_cli("align", str(audio), str(lyrics), "--model", str(tiny_model), "--allow-untrained",
                   "-o", str(out)).returncode == 0
    assert out.read_text().startswith("1\n")


def test_ctc_without_a_model_says_how_to_get_one(song, tmp_path):
    audio, lyrics = song
    out = tmp_path / "out.json"
    env = {"LYRICALIGN_HOME": str(tmp_path / "empty-home"), "LYRICALIGN_MODEL": ""}
    proc = run_cli("align", str(audio), str(lyrics), "--method", "ctc", "-o", str(out), env=env)
    assert proc.returncode == 2
    assert proc.stderr == ("lyricalign: error: no CTC model installed (method ctc needs one; the default method, hmm, "
                           "does not): pass --model PATH, or install one with `lyricalign models install PATH`\n")
    assert not out.exists()


def _bad_inputs(tmp_path: Path, audio: Path, lyrics: Path):
    not_audio = tmp_path / "not-audio.mp3"
    not_audio.write_bytes(os.urandom(4096))
    empty_lyrics = tmp_path / "empty.txt"
    empty_lyrics.write_text("  \n\n", encoding="utf-8")
    zero_audio = tmp_path / "zero.wav"
    sf.write(zero_audio, np.zeros(0, dtype=np.float32), 16_000)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("canción".encode("latin-1"))
    return {
        "missing audio": ([str(tmp_path / "missing.mp3"), str(lyrics)], "no such file"),
        "missing lyrics": ([str(audio), str(tmp_path / "missing.txt")], "no such file"),
        "non-audio bytes": ([str(not_audio), str(lyrics)], "not a decodable audio file"),
        "empty lyrics": ([str(audio), str(empty_lyrics)], "lyrics are empty"),
        "zero-length audio": ([str(zero_audio), str(lyrics)], "zero length"),
        "not utf-8 lyrics": ([str(audio), str(latin1)], "must be UTF-8"),
        "unknown language": ([str(audio), str(lyrics), "--language", "xx"], "unsupported language"),
        "unknown method": ([str(audio), str(lyrics), "--method", "magic"], "unknown method"),
        "negative max duration": ([str(audio), str(lyrics), "--max-duration", "-5"], "--max-duration must be a positive"),
        "huge max duration": ([str(audio), str(lyrics), "--max-duration", "1e308"], "up to 1e+06, got 1e+308"),
        "infinite max duration": ([str(audio), str(lyrics), "--max-duration", "inf"], "up to 1e+06, got inf"),
        "empty audio path": (["", str(lyrics)], "the audio path is empty"),
    }


def test_bad_inputs_exit_non_zero_with_one_line_and_no_output(song, tiny_model, tmp_path):
    audio, lyrics = song
    for case, (args, message) in _bad_inputs(tmp_path, audio, lyrics).items():
        out = tmp_path / "out.json"
        proc = run_cli("align", *args, "--model", str(tiny_model), "-o", str(out))
        assert proc.returncode == 2, (case, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lyricalign: error:"), (case, proc.stderr)
        assert message in lines[0], (case, lines[0])
        assert not out.exists(), case
        assert not any(p.name.endswith(".part") for p in tmp_path.iterdir()), case


@pytest.mark.parametrize("target", ["audio", "lyrics"])
def test_an_output_naming_an_input_is_refused_before_the_work(song, tmp_path, target) -> None:
    audio, lyrics = song
    output = {"audio": audio, "lyrics": lyrics}[target]
    before = output.read_bytes()
    proc = _align_uniform(song, "-f", "lrc", "-o", str(output))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "is an input of this run" in proc.stderr and "it would be overwritten" in proc.stderr
    assert output.read_bytes() == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_folder_that_takes_no_files_is_refused_before_the_work(song) -> None:
    """/proc refuses new files even to root, whose permission bits say yes: the check creates one."""
    proc = _align_uniform(song, "-o", "/proc/lyricalign-out.json")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("lyricalign: error: /proc/lyricalign-out.json: cannot create files in /proc")


def test_align_never_imports_torch():
    code = (
        "import sys; from lyricalign.cli import build_parser; build_parser(); "
        "import lyricalign.api, lyricalign.engines.ctc; "
        "assert not [m for m in ('torch', 'bentoml', 'transformers') if m in sys.modules], sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_help_lists_every_command():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("align", "evaluate", "data", "export", "models"):
        assert command in proc.stdout


def test_untrained_ctc_model_is_refused_unless_allowed(song, tiny_model, tmp_path):
    audio, lyrics = song
    out = tmp_path / "out.json"
    proc = run_cli("align", str(audio), str(lyrics), "--model", str(tiny_model), "-o", str(out))
    assert proc.returncode == 2 and not out.exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "untrained" in lines[0] and "hmm" in lines[0], proc.stderr
    allowed = run_cli("align", str(audio), str(lyrics), "--model", str(tiny_model), "--allow-untrained")
    assert allowed.returncode == 0 and "untrained" in allowed.stderr
    assert any("untrained" in w for w in json.loads(allowed.stdout)["extras"]["warnings"])


def test_ctc_with_only_an_untrained_model_installed_names_it(song, tiny_model, tmp_path):
    audio, lyrics = song
    home = tmp_path / "home"
    env = {"LYRICALIGN_HOME": str(home), "LYRICALIGN_MODEL": ""}
    assert run_cli("models", "install", str(tiny_model), env=env).returncode == 0
    proc = run_cli("align", str(audio), str(lyrics), "--method", "ctc", env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no trained CTC model installed" in lines[0] and "tiny@0" in lines[0], proc.stderr


def test_max_duration_default_is_the_core_constant_shared_with_the_service():
    from lyricalign.audio import DEFAULT_MAX_DURATION
    from lyricalign.service.config import ServiceConfig

    assert ServiceConfig().max_audio_seconds == DEFAULT_MAX_DURATION
    help_text = run_cli("align", "--help").stdout
    assert f"(default: {DEFAULT_MAX_DURATION:g})" in help_text.replace("\n", " ").replace("  ", " ")
# --- -o and stdout as the user points them (issue 9.4, issue 10 file modes) --------------------

def _align_uniform(song, *extra: str, **kwargs) -> subprocess.CompletedProcess:  # noqa: ANN001
    audio, lyrics = song
    return run_cli("align", str(audio), str(lyrics), "--method", "uniform", *extra, **kwargs)


def _one_error_line(proc: subprocess.CompletedProcess, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lyricalign: error:") and message in lines[0], proc.stderr


def test_output_fifo_is_written_through(song, tmp_path):
    import threading

    fifo = tmp_path / "out.lrc"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = _align_uniform(song, "-o", str(fifo))
    reader.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert fifo.is_fifo() and received and b"[00:00.00]Hello world" in received[0]


def test_output_symlink_keeps_the_link_and_replaces_its_target(song, tmp_path):
    real = tmp_path / "real.lrc"
    real.write_text("old\n")
    link = tmp_path / "link.lrc"
    link.symlink_to(real)
    proc = _align_uniform(song, "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and "[00:00.00]Hello world" in real.read_text()


def test_output_device_is_written_through_not_replaced(song, tmp_path):
    """A private copy of /dev/full (never the real one: before the fix it was replaced by a file)."""
    device = tmp_path / "full"
    try:
        os.mknod(device, 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    proc = _align_uniform(song, "-o", str(device), "--format", "lrc")
    _one_error_line(proc, "No space left on device")
    assert device.is_char_device()


def test_output_directory_is_refused_before_any_work(song, tmp_path):
    """The output path is checked first: a missing audio file is not even looked at."""
    _, lyrics = song
    proc = run_cli("align", str(tmp_path / "missing.wav"), str(lyrics), "--method", "uniform", "-o", str(tmp_path))
    _one_error_line(proc, "is a directory")


def test_full_stdout_is_one_clean_error(song, tmp_path):
    audio, lyrics = song
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "lyricalign.cli", "align", str(audio), str(lyrics),
                               "--method", "uniform"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
                              env={**os.environ, **QUIET})
    _one_error_line(proc, "cannot write the result to stdout: No space left on device")


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_output_file_gets_the_umask_mode(song, tmp_path, umask: int):
    """Issue 10: mkstemp's 0600 hid the .lrc from a media server running as another user."""
    out = tmp_path / f"new-{umask:o}.lrc"
    audio, lyrics = song
    code = (f"import os, sys; os.umask({umask}); from lyricalign.cli import main; "
            f"sys.exit(main(['align', {str(audio)!r}, {str(lyrics)!r}, '--method', 'uniform', '-o', {str(out)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_replaced_output_keeps_its_mode(song, tmp_path):
    out = tmp_path / "kept.lrc"
    out.write_text("old\n")
    out.chmod(0o640)
    assert _align_uniform(song, "-o", str(out)).returncode == 0
    assert (out.stat().st_mode & 0o777) == 0o640 and "[00:00.00]Hello world" in out.read_text()


@pytest.mark.slow
def test_sigterm_leaves_no_temporary_folder(song, tmp_path):
    """Issue 9.5: SIGTERM of the CLI left the pocketsphinx engine's temporary folders (no ``finally`` ran)."""
    import signal
    import time

    audio = tmp_path / "long.wav"
    sf.write(audio, tone(120.0, 330.0), 16_000)
    _, lyrics = song
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "lyricalign.cli", "align", str(audio), str(lyrics),
                             "--method", "sphinx"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(private_tmp)})
    deadline = time.monotonic() + 120
    while not list(private_tmp.glob("lyricalign-sphinx-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert list(private_tmp.glob("lyricalign-sphinx-*")), "the sphinx engine made no temporary folder"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143 and stderr.strip().splitlines()[-1] == "lyricalign: terminated", stderr
    assert list(private_tmp.iterdir()) == []


def test_a_closed_stdout_pipe_ends_quietly(tmp_path: Path) -> None:
    """``lyricalign models list | head -1``: when the reader has gone, no "internal error", exit 141."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        proc = subprocess.run([sys.executable, "-m", "lyricalign.cli", "models", "list"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "LYRICALIGN_HOME": str(tmp_path)})
    finally:
        os.close(write_end)
    assert proc.stderr == "" and proc.returncode == 141


def test_the_command_exits_promptly_after_running_the_exit_handlers(tmp_path: Path) -> None:
    """``lyricalign.cli.run`` skips the interpreter's teardown, not its shutdown: the threading exit
    hooks (``concurrent.futures`` stops its pools there), the non-daemon threads, the ``atexit``
    handlers (temporary folders, logging) and the buffered output, in the interpreter's order."""
    log = tmp_path / "shutdown.log"
    code = ("import atexit, sys, threading, time; from lyricalign import cli;"
            f"note = lambda what: open({str(log)!r}, 'a').write(what + ' ');"
            "threading._register_atexit(lambda: note('threading-hook'));"
            "threading.Thread(target=lambda: (time.sleep(0.3), note('thread-finished'))).start();"
            "atexit.register(lambda: note('atexit'));"
            "sys.argv = ['lyricalign', 'models', 'list']; cli.run()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LYRICALIGN_HOME": str(tmp_path / "home"), "LYRICALIGN_ACOUSTIC": ""})
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().split() == ["threading-hook", "thread-finished", "atexit"]
    assert proc.stdout.strip() != ""  # the listing (or its how-to), flushed before the exit


@pytest.mark.parametrize("args, message", [
    (["align", "a.wav", "b.txt", "--adaptation", "x"], "argument --adaptation: expected an integer, got 'x'"),
    (["align", "a.wav", "b.txt", "--format", "xml"], "argument -f/--format: invalid choice: 'xml'"),
    (["align", "a.wav", "b.txt", "--max-duration", "abc"], "argument --max-duration: invalid float value: 'abc'"),
    (["align", "a.wav", "b.txt", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_option_values_are_one_error_line_with_the_help_to_read(args: list[str], message: str) -> None:
    """argparse's own error() prints the usage and a second error line; ours says it as every error is."""
    proc = run_cli(*args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"lyricalign: error: {message}"), proc.stderr
    assert proc.stderr.rstrip().endswith("--help`)")


def test_method_and_format_names_are_case_insensitive(song, tmp_path):
    """As --language and the service's fields are: ``--method UNIFORM --format TextGrid`` is uniform, textgrid."""
    out = tmp_path / "song.out"
    proc = _align_uniform(song, "--method", "UNIFORM", "--format", "TextGrid", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith('File type = "ooTextFile"')
