"""``lyricalign evaluate`` refuses bad usage before it aligns anything."""

from __future__ import annotations

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
