"""The evaluation harness and ``lyricalign evaluate`` on tiny generated datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from _synth_utils import make_synthetic_song, write_jamendo_dataset, write_song
from lyricalign.cli import main
from lyricalign.errors import DatasetError
from lyricalign.evaluation import (
    EvaluationReport,
    build_report,
    evaluate,
    load_dataset,
    read_report_json,
)
from lyricalign.engines import create_engine

SONGS = {
    "first_song": (
        [["the", "night", "is", "young"], ["we", "dance", "until", "the", "morning"]],
        "en",
        1,
    ),
    "cancion": ([["la", "luna", "brilla"], ["sobre", "el", "mar", "azul"]], "es", 2),
}


@pytest.fixture(scope="module")
def jamendo_dir(tmp_path_factory) -> Path:
    songs = {name: make_synthetic_song(lines, lang, seed=seed) for name, (lines, lang, seed) in SONGS.items()}
    return write_jamendo_dataset(tmp_path_factory.mktemp("jamendo") / "tiny", songs)


@pytest.fixture
def broken_copy(jamendo_dir, tmp_path) -> Path:
    return Path(shutil.copytree(jamendo_dir, tmp_path / "copy"))


def test_reads_jamendo_layout(jamendo_dir):
    dataset = load_dataset(jamendo_dir)
    assert [i.name for i in dataset.items] == ["first_song", "cancion"]
    assert [i.language for i in dataset.items] == ["en", "es"]
    assert len(dataset.items[0].reference) == 9 and dataset.items[0].reference[0][0] >= 2.0
    assert [i.name for i in dataset.select(["cancion"]).items] == ["cancion"]
    with pytest.raises(DatasetError, match="no song named nope"):
        dataset.select(["nope"])


def test_evaluate_cli_writes_json_table_and_plots(jamendo_dir, tmp_path, capsys):
    out, plots = tmp_path / "report.json", tmp_path / "plots"
    code = main(["evaluate", str(jamendo_dir), "--method", "uniform", "--json", str(out), "--plots", str(plots)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(out.read_text())
    assert {"aae", "medae", "pco", "pcs", "songs", "languages", "method", "model"} <= data.keys()
    assert data["method"] == "uniform" and set(data["languages"]) == {"en", "es"}
    assert [s["name"] for s in data["songs"]] == ["first_song", "cancion"]
    song_aae = [s["mean_ae"] for s in data["songs"]]
    assert data["aae"] == pytest.approx(sum(song_aae) / 2, abs=1e-4)
    assert all(s["wall_time"] > 0 and s["peak_rss_mb"] > 10 for s in data["songs"])
    assert "first_song" in captured.out and "ALL 2 songs" in captured.out
    assert sorted(p.name for p in plots.glob("*.png")) == [
        "cancion.uniform.png", "first_song.uniform.png", "summary.png"
    ]
    report = read_report_json(out)
    assert isinstance(report, EvaluationReport) and report.corpus.n_songs == 2


def test_several_methods_write_one_report_each(jamendo_dir, tmp_path, capsys):
    out = tmp_path / "cmp.json"
    code = main(["evaluate", str(jamendo_dir), "--method", "uniform,dtw", "--songs", "cancion", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    dtw = json.loads((tmp_path / "cmp.dtw.json").read_text())
    uniform = json.loads((tmp_path / "cmp.uniform.json").read_text())
    assert dtw["method"] == "dtw" and uniform["method"] == "uniform"
    assert len(dtw["songs"]) == 1


def test_evaluate_api_reuses_one_engine(jamendo_dir):
    dataset = load_dataset(jamendo_dir)
    report = evaluate(dataset, create_engine("uniform"), progress=False)
    assert report.corpus.n_words == 16
    rebuilt = build_report(report.dataset, report.method, report.model, report.songs)
    assert rebuilt.corpus == report.corpus
    assert EvaluationReport.from_dict(json.loads(json.dumps(report.to_dict()))).songs == report.songs


def _run_cli_error(path: Path, capsys) -> str:
    code = main(["evaluate", str(path), "--method", "uniform"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("lyricalign: error: ")
    return err


def test_missing_annotation_names_the_file(broken_copy, capsys):
    (broken_copy / "annotations" / "words" / "cancion.csv").unlink()
    err = _run_cli_error(broken_copy, capsys)
    assert "cancion.csv: file missing" in err


def test_word_count_mismatch_names_the_file(broken_copy, capsys):
    lyrics = broken_copy / "lyrics" / "cancion.txt"
    lyrics.write_text(lyrics.read_text() + "extra\n")
    (broken_copy / "lyrics" / "cancion.words.txt").unlink()
    err = _run_cli_error(broken_copy, capsys)
    assert "cancion.csv: 7 annotated words but" in err and "cancion.txt has 8 words" in err


def test_words_file_disagreeing_with_lyrics(broken_copy, capsys):
    (broken_copy / "lyrics" / "first_song.words.txt").write_text("the\nnight\n")
    err = _run_cli_error(broken_copy, capsys)
    assert "first_song.words.txt: 2 words do not match the 9 whitespace tokens" in err


def test_missing_csv_and_missing_folder(broken_copy, tmp_path, capsys):
    (broken_copy / "JamendoLyrics.csv").unlink()
    assert "JamendoLyrics.csv: missing" in _run_cli_error(broken_copy, capsys)
    assert "no such dataset folder" in _run_cli_error(tmp_path / "absent", capsys)


def test_bad_annotation_values(broken_copy, capsys):
    annotation = broken_copy / "annotations" / "words" / "cancion.csv"
    rows = annotation.read_text().splitlines()
    rows[3] = "abc," + rows[3].split(",", 1)[1]
    annotation.write_text("\n".join(rows) + "\n")
    assert "cancion.csv: row 4: not a time in seconds: 'abc'" in _run_cli_error(broken_copy, capsys)


def _manifest(tmp_path: Path) -> Path:
    song = make_synthetic_song([["hello", "there", "my", "friend"], ["how", "are", "you"]], "en", seed=5)
    write_song(song, tmp_path / "audio" / "s1.wav")
    t = song.word_times
    records = [
        {"audio": "audio/s1.wav", "song_id": "s1", "language": "english", "text": "hello there my friend",
         "start": 1.5, "end": t[3][1] + 0.1, "words": [{"text": w, "start": s, "end": e} for w, (s, e) in zip("hello there my friend".split(), t[:4])]},
        {"audio": "audio/s1.wav", "song_id": "s1", "language": "en", "text": "how are you",
         "start": t[4][0] - 0.2, "end": song.duration, "words": [{"text": w, "start": s, "end": e} for w, (s, e) in zip("how are you".split(), t[4:])]},
    ]
    path = tmp_path / "dev.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_manifest_per_segment_and_per_song(tmp_path, capsys):
    path = _manifest(tmp_path)
    segments = load_dataset(path)
    assert len(segments.items) == 2 and segments.items[1].start > 2.0
    songs = load_dataset(tmp_path, unit="song")  # a folder with exactly one manifest
    assert [i.name for i in songs.items] == ["s1"] and len(songs.items[0].reference) == 7
    report = evaluate(segments, create_engine("uniform"), progress=False)
    assert all(p >= segments.items[1].start - 1e-3 for p in report.songs[1].predicted_onsets)
    assert main(["evaluate", str(path), "--method", "uniform", "--unit", "song"]) == 0
    assert "s1" in capsys.readouterr().out


def test_segments_of_one_song_decode_its_audio_once(tmp_path, monkeypatch):
    import lyricalign.audio

    decoded = []
    real_load_audio = lyricalign.audio.load_audio

    def counting_load_audio(source, limits):
        decoded.append(Path(source).name)
        return real_load_audio(source, limits)

    monkeypatch.setattr(lyricalign.audio, "load_audio", counting_load_audio)
    segments = load_dataset(_manifest(tmp_path))
    per_segment = evaluate(segments, create_engine("uniform"), progress=False)
    assert decoded == ["s1.wav"]  # warm-up and both segments
    assert [s.duration for s in per_segment.songs] == pytest.approx(
        [i.end - i.start for i in segments.items], abs=1 / 16000
    )


def test_malformed_manifest_names_the_line(tmp_path, capsys):
    path = _manifest(tmp_path)
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["words"] = record["words"][:2]
    path.write_text(lines[0] + "\n" + json.dumps(record) + "\n")
    assert "dev.jsonl:2: 2 annotated words but the text has 3 words" in _run_cli_error(path, capsys)
    path.write_text(lines[0] + "\n{not json\n")
    assert "dev.jsonl:2: malformed record" in _run_cli_error(path, capsys)
