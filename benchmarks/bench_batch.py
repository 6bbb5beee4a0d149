"""Songs per minute: ``lyricalign align --batch`` against one ``lyricalign align`` process per song.

Every mode aligns the same songs with the same method in this one invocation, into fresh output
folders (nothing is skipped), and every output is checked (one JSON per song, the lyrics' word
count) and compared with the first mode's (``same``: songs whose word times are identical, i.e.
reusing one engine for many songs changes nothing). ``--rounds N`` runs the modes round-robin N
times and reports each mode's median wall time, so a machine shared with other work biases no
mode in particular. Modes:

- ``process x1``: one ``lyricalign align AUDIO LYRICS -o OUT`` process per song, one at a time (a
  shell loop);
- ``process x2``: the same, two processes at a time (``xargs -P 2``);
- ``batch -j 1`` / ``batch -j 2``: one ``lyricalign align --batch LIST -o DIR`` with 1 or 2 workers.

    python benchmarks/bench_batch.py --rounds 2                       # the dev songs, default method
    python benchmarks/bench_batch.py --generated 12 --rounds 3        # 12 synthetic ~12 s songs (data pipeline)
    python benchmarks/bench_batch.py --generated 16 --method uniform

The dev songs are ``../shared/data/jamendo-dev`` relative to the repository (JamendoLyrics layout);
``--repeat N`` lists each song N times (different outputs) for a longer catalogue.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV_SONGS = REPO / ".." / "shared" / "data" / "jamendo-dev"
LANGUAGE_CODES = {"English": "en", "Spanish": "es", "French": "fr", "German": "de", "Italian": "it", "Portuguese": "pt"}
logger = logging.getLogger("bench_batch")


@dataclass(frozen=True)
class Song:
    id: str
    audio: Path
    lyrics: Path
    language: str
    words: int  # whitespace tokens of the lyrics: the output must have as many


@dataclass(frozen=True)
class ModeResult:
    mode: str
    songs: int
    wall_seconds: float  # median over rounds
    ok: int
    walls: tuple[float, ...] = ()
    same: int = 0

    @property
    def songs_per_minute(self) -> float:
        return 60.0 * self.songs / self.wall_seconds


def dev_songs(dataset: Path, repeat: int) -> list[Song]:
    with open(dataset / "JamendoLyrics.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    songs = []
    for k in range(repeat):
        for row in rows:
            audio = dataset / "mp3" / row["Filepath"]
            lyrics = dataset / "lyrics" / f"{audio.stem}.txt"
            songs.append(Song(f"{audio.stem}-{k}", audio, lyrics, LANGUAGE_CODES.get(row["Language"], "en"),
                              len(lyrics.read_text(encoding="utf-8").split())))
    return songs


def generated_songs(folder: Path, count: int) -> list[Song]:
    """``count`` songs of ~12 s from the data pipeline's synthetic sung data (espeak-ng over generated music)."""
    import soundfile as sf

    from lyricalign.audio import SAMPLE_RATE
    from lyricalign.data_pipeline.synth.generate import SynthOptions, make_song

    options = SynthOptions(out_dir=folder, n_songs=count, languages=("en",), song_seconds=12.0, seed=0)
    songs = []
    for k in range(count):
        song = make_song(k, options)
        audio = folder / f"gen{k:03d}.wav"
        sf.write(audio, song.mix, SAMPLE_RATE)
        text = "\n".join(" ".join(w.text for w in line) for line in song.lines)
        lyrics = folder / f"gen{k:03d}.txt"
        lyrics.write_text(text + "\n", encoding="utf-8")
        songs.append(Song(audio.stem, audio, lyrics, "en", len(text.split())))
    return songs


def lyricalign_cmd() -> list[str]:
    return [sys.executable, "-m", "lyricalign.cli"]


def check(songs: list[Song], out: Path) -> int:
    """How many songs have a JSON output with one word per lyrics token."""
    ok = 0
    for song in songs:
        path = out / f"{song.id}.json"
        if path.exists() and len(json.loads(path.read_text(encoding="utf-8"))["words"]) == song.words:
            ok += 1
        else:
            logger.error("%s: missing or wrong output %s", song.id, path)
    return ok


def run_processes(songs: list[Song], method: str, out: Path, parallel: int) -> ModeResult:
    def one(song: Song) -> int:
        cmd = [*lyricalign_cmd(), "align", str(song.audio), str(song.lyrics), "--language", song.language,
               "--method", method, "-o", str(out / f"{song.id}.json")]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            logger.error("%s: exit %d: %s", song.id, proc.returncode, proc.stderr.strip()[-300:])
        return proc.returncode

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, songs))
    wall = time.perf_counter() - start
    return ModeResult(f"process x{parallel}", len(songs), wall, check(songs, out))


def run_batch(songs: list[Song], method: str, out: Path, jobs: int, listing: Path) -> ModeResult:
    with open(listing, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["audio", "lyrics", "language", "out"])
        writer.writerows([str(s.audio), str(s.lyrics), s.language, f"{s.id}.json"] for s in songs)
    cmd = [*lyricalign_cmd(), "align", "--batch", str(listing), "-o", str(out), "--method", method, "-j", str(jobs)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        logger.error("batch -j %d: exit %d: %s", jobs, proc.returncode, proc.stderr.strip()[-500:])
    return ModeResult(f"batch -j {jobs}", len(songs), wall, check(songs, out))


def word_times(songs: list[Song], out: Path) -> dict[str, list[tuple[float, float]]]:
    times = {}
    for song in songs:
        path = out / f"{song.id}.json"
        if path.exists():
            times[song.id] = [(w["start"], w["end"]) for w in json.loads(path.read_text(encoding="utf-8"))["words"]]
    return times


def run_mode(mode: str, songs: list[Song], method: str, out: Path, work: Path) -> ModeResult:
    out.mkdir(parents=True)
    if mode.startswith("process"):
        return run_processes(songs, method, out, int(mode[len("process"):]))
    return run_batch(songs, method, out, int(mode[len("batch"):]), work / f"{out.name}.csv")


def main() -> int:
    from statistics import median

    from lyricalign.engines import DEFAULT_METHOD

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default=DEFAULT_METHOD, help=f"alignment method (default: {DEFAULT_METHOD})")
    parser.add_argument("--dataset", type=Path, default=DEV_SONGS, help="JamendoLyrics-layout folder (default: the dev songs)")
    parser.add_argument("--repeat", type=int, default=1, help="list each dataset song this many times")
    parser.add_argument("--generated", type=int, default=0, help="use this many generated ~10 s songs instead")
    parser.add_argument("--modes", default="process1,process2,batch1,batch2")
    parser.add_argument("--rounds", type=int, default=1, help="run the modes round-robin this many times (median)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("PYTHONPATH", str(REPO))
    modes = args.modes.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        if args.generated:
            (work / "songs").mkdir()
            songs = generated_songs(work / "songs", args.generated)
            source = f"{args.generated} generated songs"
        else:
            songs = dev_songs(args.dataset, args.repeat)
            source = f"{args.dataset.name} x{args.repeat}"
        runs: dict[str, list[ModeResult]] = {mode: [] for mode in modes}
        reference: dict[str, list[tuple[float, float]]] | None = None
        same: dict[str, int] = {}
        for round_number in range(args.rounds):
            for mode in modes:
                out = work / f"out-{mode}-{round_number}"
                r = run_mode(mode, songs, args.method, out, work)
                runs[mode].append(r)
                times = word_times(songs, out)
                reference = times if reference is None else reference
                same[mode] = min(same.get(mode, len(songs)), sum(times.get(k) == v for k, v in reference.items()))
                logger.info("round %d, %s: %d songs in %.1f s (%.2f songs/min), %d ok", round_number + 1, r.mode,
                            r.songs, r.wall_seconds, r.songs_per_minute, r.ok)
    results = [
        ModeResult(rs[0].mode, len(songs), median(r.wall_seconds for r in rs), min(r.ok for r in rs),
                   tuple(r.wall_seconds for r in rs), same[mode])
        for mode, rs in runs.items()
    ]
    base = results[0]
    print(f"\nmethod {args.method}, {source}, {len(songs)} songs, {args.rounds} round(s)\n")
    print(f"| mode | songs | wall s (median; each round) | songs/min | vs {base.mode} | ok | same |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        rounds = ", ".join(f"{w:.1f}" for w in r.walls)
        print(f"| {r.mode} | {r.songs} | {r.wall_seconds:.1f} ({rounds}) | {r.songs_per_minute:.2f} | "
              f"{r.songs_per_minute / base.songs_per_minute:.2f}x | {r.ok} | {r.same} |")
    return 0 if all(r.ok == r.songs for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
