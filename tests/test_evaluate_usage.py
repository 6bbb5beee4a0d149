"""``lyricalign evaluate`` refuses bad usage before it aligns anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from _synth_utils import make_synthetic_song, write_jamendo_dataset
from lyricalign.cli import main


@pytest.fixture(scope="module")
def jamendo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    song = make_synthetic_song([["la", "luna", "brilla"], ["sobre", "el", "mar", "azul"]], "es", seed=2)
    return write_jamendo_dataset(tmp_path_factory.mktemp("jamendo") / "tiny", {"cancion": song})


@pytest.mark.parametrize("methods", ["uniform,nope", "nope,uniform", "uniform, ,nope"])
def test_an_unknown_method_among_several_is_refused_before_any_runs(jamendo_dir: Path, tmp_path: Path,
                                                                     methods: str, capsys) -> None:
    out = tmp_path / "report.json"
    code = main(["evaluate", str(jamendo_dir), "--method", methods, "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.splitlines() == [
        "lyricalign: error: unknown method 'nope' (choose from: ctc, dtw, hmm, sphinx, uniform)"
    ]
    assert captured.out == ""  # no method's table: nothing ran
    assert not list(tmp_path.iterdir())  # no report.uniform.json either


def test_the_checked_methods_still_run(jamendo_dir: Path, capsys) -> None:
    assert main(["evaluate", str(jamendo_dir), "--method", " uniform "]) == 0
    assert "ALL 1 songs" in capsys.readouterr().out


def test_progress_off_a_terminal_is_log_lines_not_a_bar(jamendo_dir: Path) -> None:
    """stderr to a file or pipe (CI logs, ``2> log``) gets the batch's log lines, not tqdm's ``\\r`` redraws."""
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "LYRICALIGN_PROGRESS_INTERVAL": "0.5"}
    proc = subprocess.run([sys.executable, "-m", "lyricalign.cli", "evaluate", str(jamendo_dir), "--method", "uniform"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "%|" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and lines[-1].startswith("INFO lyricalign.progress: evaluate uniform: 1/1 songs, 1 scored"), lines
    assert "ALL 1 songs" in proc.stdout


def test_unusable_report_and_plot_paths_are_refused_before_any_alignment(jamendo_dir: Path, tmp_path: Path,
                                                                         capsys) -> None:
    a_file = tmp_path / "plots.png"
    a_file.write_bytes(b"a file")
    (tmp_path / "plots" / "summary.png").mkdir(parents=True)
    cases = [(["--plots", str(a_file)], f"{a_file}: exists and is not a directory (an output folder is expected)"),
             (["--json", str(tmp_path)], f"{tmp_path}: is a directory"),
             (["--plots", str(tmp_path / "plots")], f"{tmp_path / 'plots' / 'summary.png'}: is a directory")]
    if Path("/proc/self").is_dir():  # Linux: a folder that takes no files, even from root
        cases.append((["--json", "/proc/report.json"], "/proc/report.json: cannot create files in /proc"))
    for extra, message in cases:
        code = main(["evaluate", str(jamendo_dir), "--method", "uniform", *extra])
        captured = capsys.readouterr()
        assert code == 2
        assert captured.out == ""  # refused before the alignments, whose table would be here
        assert captured.err.splitlines()[0].startswith(f"lyricalign: error: {message}"), captured.err
        assert len(captured.err.splitlines()) == 1
