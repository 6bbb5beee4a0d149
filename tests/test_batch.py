"""``lyricalign align --batch``: real CLI processes over generated songs (espeak-ng vocals over music, made in a subprocess).

One bad input among good ones: the rest are aligned, the bad one is in errors.jsonl, exit 3; a re-run
redoes nothing that is done (mtimes), a fixed input is picked up, exit 0; bad usage exits 2 with one
line and writes nothing; killing the parent kills its workers.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lyricalign.batch import BatchJob, discover_jobs, is_done
from lyricalign.errors import LyricalignError
from lyricalign.formats import parse_lrc, read_json

from _song_files import write_song_files

REPO = Path(__file__).resolve().parents[1]
LINES = [[["hello", "world", "sing"], ["along", "with", "me"]],
         [["the", "night", "is", "young"], ["and", "so", "are", "we"]],
         [["sing", "it", "again"], ["one", "more", "time"]]]


def lyricalign(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "lyricalign.cli", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)




@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three good songs (one mp3) and one whose audio is not audio."""
    folder = tmp_path_factory.mktemp("catalogue")
    write_song_files(folder, [(f"song{k}", lines, k, ".mp3" if k == 2 else ".wav") for k, lines in enumerate(LINES)])
    (folder / "broken.wav").write_bytes(b"RIFF but not really a wave file")
    (folder / "broken.txt").write_text("some words here\n", encoding="utf-8")
    (folder / "notes.txt").write_text("lyrics without audio are not songs\n", encoding="utf-8")
    return folder


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.suffix == ".lrc"}


@pytest.mark.slow
def test_batch_continues_past_a_bad_song_reports_it_and_resumes(catalogue: Path, tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    songs.mkdir()
    for p in catalogue.iterdir():
        (songs / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "out"
    first = lyricalign("align", "--batch", str(songs), "-o", str(out), "--format", "lrc", "--method", "uniform",
                       "--jobs", "2")
    assert first.returncode == 3, first.stderr
    assert sorted(mtimes(out)) == ["song0.lrc", "song1.lrc", "song2.lrc"]
    for k, lines in enumerate(LINES):
        assert [text for _, text in parse_lrc((out / f"song{k}.lrc").read_text())] == [" ".join(l) for l in lines]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [(e["id"], e["error"]) for e in errors] == [("broken", "AudioError")]
    assert "not a decodable audio file" in errors[0]["message"]
    assert "aligned 3, skipped 0 (already done), failed 1 of 4 songs" in first.stdout

    before = mtimes(out)
    time.sleep(0.05)
    second = lyricalign("align", "--batch", str(songs), "-o", str(out), "--format", "lrc", "--method", "uniform",
                        "--jobs", "2")
    assert second.returncode == 3, second.stderr
    assert "aligned 0, skipped 3 (already done), failed 1 of 4 songs" in second.stdout
    assert mtimes(out) == before  # nothing finished was redone

    (out / "song1.lrc").write_text("[00:0", encoding="utf-8")  # not a valid LRC: aligned again
    (songs / "broken.wav").unlink()
    write_song_files(songs, [("broken", [["fixed", "at", "last"]], 7, ".wav")])
    third = lyricalign("align", "--batch", str(songs), "-o", str(out), "--format", "lrc", "--method", "uniform")
    assert third.returncode == 0, third.stderr
    assert "aligned 2, skipped 2 (already done), failed 0 of 4 songs" in third.stdout
    after = mtimes(out)
    assert {n for n in after if after[n] != before.get(n)} == {"song1.lrc", "broken.lrc"}
    assert not (out / "errors.jsonl").exists()  # the report describes the last run: no failures


def test_batch_from_a_csv_list_with_language_and_output_names(catalogue: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    with open(listing, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["audio", "lyrics", "language", "out"])
        writer.writerow([str(catalogue / "song0.wav"), str(catalogue / "song0.txt"), "en", "a/first.json"])
        writer.writerow([str(catalogue / "song2.mp3"), str(catalogue / "song2.txt"), "", ""])
        writer.writerow([str(catalogue / "song1.wav"), str(tmp_path / "missing.txt"), "", ""])
    out = tmp_path / "out"
    run = lyricalign("align", "--batch", str(listing), "-o", str(out), "--method", "dtw")
    assert run.returncode == 3, run.stderr
    first = read_json((out / "a" / "first.json").read_text())
    assert [w.text for w in first.words] == "hello world sing along with me".split()
    assert first.method == "dtw" and first.language == "en"
    assert read_json((out / "song2.json").read_text()).method == "dtw"
    (error,) = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert error["id"] == "song1" and error["error"] == "LyricsError" and "no such file" in error["message"]


@pytest.mark.slow
def test_batch_from_a_jsonl_list_with_hmm_in_worker_processes(catalogue: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.jsonl"
    rows = [{"audio": str(catalogue / f"song{k}.wav"), "lyrics": str(catalogue / f"song{k}.txt")} for k in (0, 1)]
    listing.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    run = lyricalign("align", "--batch", str(listing), "-o", str(out), "--format", "lrc", "--method", "hmm", "-j", "2")
    assert run.returncode == 0, run.stderr
    assert not (out / "errors.jsonl").exists()
    first = parse_lrc((out / "song0.lrc").read_text())
    assert [text for _, text in first] == ["hello world sing", "along with me"]
    assert 1.0 < first[0][0] < 3.0  # the generated song's first word is at 2 s


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch", "{songs}"], "--batch needs -o OUT_DIR"),
        (["{songs}/song0.wav", "{songs}/song0.txt", "--batch", "{songs}", "-o", "{out}"], "not both"),
        (["--batch", "{songs}/nowhere", "-o", "{out}"], "no such file or directory"),
        (["--batch", "{songs}/song0.txt", "-o", "{out}"], "expected a directory"),
        (["--batch", "{songs}", "-o", "{out}", "--jobs", "0"], "--jobs must be at least 1"),
        (["--batch", "{songs}", "-o", "{out}", "--method", "ctc"], "no CTC model installed"),
        (["--batch", "{songs}", "-o", "{out}", "--method", "ctc", "-j", "2"], "no CTC model installed"),
        (["{songs}/song0.wav", "{songs}/song0.txt", "--jobs", "2"], "apply to --batch only"),
        (["{songs}/song0.wav"], "needs AUDIO and LYRICS_FILE"),
        (["--batch", "{songs}", "-o", "/proc/lyricalign-out"], "cannot create files in /proc"),
        (["--batch", "{songs}", "-o", "{out}", "--errors", "{songs}"], "is a directory"),
        (["--batch", "{songs}", "-o", "{out}", "--errors", "/proc/errors.jsonl"], "cannot create files in /proc"),
    ],
)
def test_batch_bad_usage_exits_2_with_one_line_and_writes_nothing(
    catalogue: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    no_models = {"LYRICALIGN_HOME": str(tmp_path / "home"), "LYRICALIGN_MODEL": ""}
    run = lyricalign("align", *[a.format(songs=catalogue, out=out) for a in args], env=no_models)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("lyricalign: error: ") and message in run.stderr
    assert not out.exists()


def test_list_errors_name_the_line(tmp_path: Path) -> None:
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("file,text\na.wav,a.txt\n", encoding="utf-8")
    with pytest.raises(LyricalignError, match="header row must name the columns audio and lyrics"):
        discover_jobs(bad_header, tmp_path / "out", None)
    listing = tmp_path / "list.jsonl"
    listing.write_text('{"audio": "a.wav", "lyrics": "a.txt"}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(LyricalignError, match=r"list.jsonl:3: expected a JSON object"):
        discover_jobs(listing, tmp_path / "out", None)
    same = tmp_path / "same.jsonl"
    same.write_text('{"audio": "x/a.wav", "lyrics": "a.txt"}\n{"audio": "y/a.mp3", "lyrics": "b.txt"}\n', encoding="utf-8")
    with pytest.raises(LyricalignError, match=r"same.jsonl:1 and .*same.jsonl:2 would both write"):
        discover_jobs(same, tmp_path / "out", "lrc")
    for name in ("../escape.lrc", "/tmp/abs.lrc", "sub/../../escape.lrc"):
        escaping = tmp_path / "escaping.jsonl"
        escaping.write_text(json.dumps({"audio": "a.wav", "lyrics": "a.txt", "out": name}) + "\n", encoding="utf-8")
        with pytest.raises(LyricalignError, match=r"escaping.jsonl:1: out must name a file inside OUT_DIR"):
            discover_jobs(escaping, tmp_path / "out", None)
    (tmp_path / "out").mkdir()
    over_input = tmp_path / "over.jsonl"
    over_input.write_text('{"audio": "a.wav", "lyrics": "out/t.txt", "out": "t.txt"}\n', encoding="utf-8")
    with pytest.raises(LyricalignError, match=r"over.jsonl:1: its output .*t.txt is an input of .*over.jsonl:1"):
        discover_jobs(over_input, tmp_path / "out", "lrc")
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"audio": "a.wav", "lyrics": "a.txt", "out": "a.xyz"}\n', encoding="utf-8")
    with pytest.raises(LyricalignError, match="cannot tell the format"):
        discover_jobs(unknown, tmp_path / "out", None)
    jobs = discover_jobs(unknown, tmp_path / "out", "srt")  # --format decides, whatever the name
    assert jobs[0].format == "srt" and jobs[0].output == tmp_path / "out" / "a.xyz"
    assert jobs[0].audio == tmp_path / "a.wav"  # relative to the list's folder


def test_a_song_whose_output_is_a_folder_fails_with_its_reason(catalogue: Path, tmp_path: Path) -> None:
    from lyricalign.batch import BatchOptions
    from lyricalign.batch.pool import Aligner

    taken = tmp_path / "song0.lrc"
    taken.mkdir()
    job = BatchJob(id="song0", audio=catalogue / "song0.wav", lyrics=catalogue / "song0.txt", output=taken, format="lrc")
    outcome = Aligner(BatchOptions(method="uniform"))(job)
    assert (outcome.status, outcome.error, outcome.message) == ("failed", "OutputPathError", f"{taken}: is a directory")
    assert list(tmp_path.iterdir()) == [taken]  # no temporary file left beside it


def test_is_done_needs_an_output_that_parses(tmp_path: Path) -> None:
    job = BatchJob(id="a", audio=tmp_path / "a.wav", lyrics=tmp_path / "a.txt", output=tmp_path / "a.srt", format="srt")
    assert not is_done(job)
    job.output.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n", encoding="utf-8")
    assert is_done(job)
    job.output.write_text("1\n00:00:01,000 -> nonsense\n", encoding="utf-8")
    assert not is_done(job)
    job.output.write_text("", encoding="utf-8")
    assert not is_done(job)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_workers_die_with_the_parent(catalogue: Path, tmp_path: Path) -> None:
    songs = tmp_path / "songs"
    songs.mkdir()
    for k in range(8):  # enough work for the workers to be busy when the parent is killed
        for suffix in (".wav", ".txt"):
            (songs / f"song{k}{suffix}").write_bytes((catalogue / f"song{k % 2}{suffix}").read_bytes())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-m", "lyricalign.cli", "align", "--batch", str(songs), "-o",
                               str(tmp_path / "out"), "--method", "dtw", "-j", "2"], env=env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(_children(parent.pid)) < 3 and time.monotonic() < deadline:  # 2 workers + resource tracker
            time.sleep(0.1)
        children = _children(parent.pid)
        assert len(children) >= 3, "the workers did not start"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for c in children if _alive(c)]
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
        for pid in _children(parent.pid):
            os.kill(pid, signal.SIGKILL)
