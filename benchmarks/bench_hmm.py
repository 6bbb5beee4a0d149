"""HMM engine on the JamendoLyrics dev songs: accuracy, time and memory per configuration.

Prints one row per (configuration, song): AAE (mean absolute onset error, s), median AE, PCO
(% of onsets within 0.3 s), wall time, peak RSS of the worker process; then a mean row per
configuration. Each alignment runs in a fresh subprocess so peak RSS is that alignment's own.

    python benchmarks/bench_hmm.py [--data /work/shared/data/jamendo-dev] [--configs baseline,default]
    python benchmarks/bench_hmm.py --long-minutes 9   # also: one dev song looped to 9 minutes
    python benchmarks/bench_hmm.py --flat-lyrics      # lyrics without line breaks

Configurations (:func:`configurations`): ``baseline`` is the plain method (one unpruned
word-level pass, no alternative pronunciations, no onset refinement, no memory bound);
``default`` is ``HMMEngine()`` as shipped (lines first, then words).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path("/work/shared/data/jamendo-dev")
LANGUAGES = {"English": "en", "Spanish": "es", "French": "fr", "German": "de", "Italian": "it", "Portuguese": "pt"}
ONSET_TOLERANCE = 0.3  # seconds, the dataset's PCO threshold


def configurations() -> dict[str, dict]:
    from lyricalign.engines.hmm import BeamSetting

    return {
        # one unpruned word-level pass, memory unbounded (the method before this engine's plan)
        "baseline": {"lines_first": False, "alternative_pronunciations": False, "refine_onsets": False,
                     "max_cost": 1e12},
        "words": {"lines_first": False},  # word-level pass when affordable, CMU variants, onset refinement
        "default": {},  # lines first, then words; onset refinement
        "norefine": {"refine_onsets": False},
        # more room for silence / noise fillers (+NSN+, +SPN+) between lines and words
        "sil0.1": {"silprob": 0.1},
        "fill0.01": {"fillprob": 0.01},
        "fill0.1": {"fillprob": 0.1},
        "pruned": {"beam_plan": (BeamSetting(beam=1e-120, pbeam=1e-120, wbeam=1e-100),)},
    }


def songs(data: Path) -> list[tuple[str, str]]:
    with open(data / "JamendoLyrics.csv", encoding="utf-8") as f:
        return [(Path(row["Filepath"]).stem, LANGUAGES[row["Language"]]) for row in csv.DictReader(f)]


def _align_job(args: tuple) -> dict:
    """Worker: align one song with one configuration; returns times and peak RSS (MiB)."""
    data, song, language, config_name, loop_minutes, flat = args
    from lyricalign.audio import AudioLimits, load_audio
    from lyricalign.engines.hmm import HMMEngine
    from lyricalign.text import parse_lyrics

    import numpy as np

    text = (data / "lyrics" / f"{song}.txt").read_text(encoding="utf-8")
    audio = load_audio(data / "mp3" / f"{song}.mp3", AudioLimits(max_duration=None))
    repeats = 1
    if flat:  # lyrics without line breaks, as users often paste them
        text = " ".join(text.split())
    if loop_minutes:
        repeats = math.ceil(loop_minutes * 60 / (len(audio) / 16000))
        audio = np.tile(audio, repeats)
        text = "\n\n".join([text] * repeats)
    lyrics = parse_lyrics(text, language)
    engine = HMMEngine(**configurations()[config_name])
    started = time.perf_counter()
    try:
        result = engine.align(audio, lyrics)
        starts, extras, error = [w.start for w in result.words], result.extras, None
    except Exception as e:  # report, keep benchmarking the others
        starts, extras, error = [], {}, f"{type(e).__name__}: {e}"
    return {
        "repeats": repeats if loop_minutes else 1,
        "song_seconds": len(audio) / 16000 / (repeats if loop_minutes else 1),
        "starts": starts,
        "seconds": time.perf_counter() - started,
        "audio_seconds": len(audio) / 16000,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "extras": extras,
        "error": error,
    }


def reference_onsets(data: Path, song: str) -> list[float]:
    with open(data / "annotations" / "words" / f"{song}.csv", encoding="utf-8") as f:
        return [float(row["word_start"]) for row in csv.DictReader(f)]


def scores(predicted: list[float], reference: list[float]) -> dict[str, float]:
    errors = [abs(p - r) for p, r in zip(predicted, reference, strict=True)]
    return {
        "aae": statistics.fmean(errors),
        "median_ae": statistics.median(errors),
        "pco": 100.0 * sum(e <= ONSET_TOLERANCE for e in errors) / len(errors),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--configs", default="baseline,default")
    parser.add_argument("--long-minutes", type=float, default=0.0, help="also align a dev song looped to this length")
    parser.add_argument("--flat-lyrics", action="store_true", help="join each song's lyrics into one line")
    parser.add_argument("--long-only", action="store_true", help="only the looped song, not the dev songs")
    parser.add_argument("--verbose", action="store_true", help="print each run's extras")
    args = parser.parse_args(argv)
    names = args.configs.split(",")
    ctx = mp.get_context("spawn")
    print(f"{'config':<10} {'song':<34} {'AAE':>6} {'medAE':>6} {'PCO%':>6} {'wall s':>7} {'RSS MiB':>8}")
    for name in [] if args.long_only else names:
        rows = []
        for song, language in songs(args.data):
            with ctx.Pool(1, maxtasksperchild=1) as pool:
                run = pool.apply(_align_job, ((args.data, song, language, name, 0.0, args.flat_lyrics),))
            if run["error"]:
                print(f"{name:<10} {song[:34]:<34} failed: {run['error']}")
                continue
            s = scores(run["starts"], reference_onsets(args.data, song))
            rows.append({**s, "seconds": run["seconds"], "rss": run["peak_rss_mib"]})
            print(f"{name:<10} {song[:34]:<34} {s['aae']:6.2f} {s['median_ae']:6.2f} {s['pco']:6.1f} "
                  f"{run['seconds']:7.1f} {run['peak_rss_mib']:8.0f}")
            if args.verbose:
                print("   ", json.dumps(run["extras"]))
        if rows:
            mean = {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}
            print(f"{name:<10} {'MEAN (' + str(len(rows)) + ' songs)':<34} {mean['aae']:6.2f} {mean['median_ae']:6.2f} "
                  f"{mean['pco']:6.1f} {mean['seconds']:7.1f} {max(r['rss'] for r in rows):8.0f}")
    if args.long_minutes:
        song, language = songs(args.data)[0]
        for name in names:
            with ctx.Pool(1, maxtasksperchild=1) as pool:
                run = pool.apply(_align_job, ((args.data, song, language, name, args.long_minutes, args.flat_lyrics),))
            status = run["error"]
            if not status:
                reference = reference_onsets(args.data, song)
                looped = [t + k * run["song_seconds"] for k in range(run["repeats"]) for t in reference]
                s = scores(run["starts"], looped)
                n = len(reference)
                per_copy = [scores(run["starts"][k * n : (k + 1) * n], looped[k * n : (k + 1) * n])["aae"]
                            for k in range(run["repeats"])]
                copies = ", ".join(f"{a:.2f}" for a in per_copy)
                status = (f"AAE {s['aae']:.2f} (per copy {copies}) PCO {s['pco']:.1f}; "
                          f"passes: {json.dumps(run['extras'].get('passes'))}")
            print(f"long {name:<10} {run['audio_seconds'] / 60:.1f} min: wall {run['seconds']:.1f} s, "
                  f"peak RSS {run['peak_rss_mib']:.0f} MiB; {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
