"""The pocketsphinx reference engine (``sphinx``) on the JamendoLyrics dev songs: accuracy, time, memory per plan.

Prints one row per (configuration, song): AAE (mean absolute onset error, s), median AE, PCO
(% of onsets within 0.3 s), wall time, peak RSS of the worker process; then a mean row per
configuration. Each alignment runs in a fresh subprocess so peak RSS is that alignment's own.
Songs come from :func:`lyricalign.evaluation.load_dataset`, scores from
:func:`lyricalign.metrics.score_song`.

    python benchmarks/bench_sphinx.py [--data ../shared/data/jamendo-dev] [--configs baseline,default]
    python benchmarks/bench_sphinx.py --long-minutes 9   # also: one dev song looped to 9 minutes
    python benchmarks/bench_sphinx.py --flat-lyrics      # lyrics without line breaks

Configurations (:func:`configurations`, :class:`lyricalign.engines.sphinx.SphinxOptions` fields):
``default`` is ``SphinxEngine()`` as shipped (one unpruned word-level pass, lines first only when
that pass would exceed the memory bound); ``baseline`` the plain method (no alternative
pronunciations, no memory bound); ``lines`` the earlier shipped plan (lines first, then words,
onset refinement). History of the plans and their numbers: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "jamendo-dev"


def configurations() -> dict[str, dict]:
    """name -> :class:`SphinxOptions` overrides."""
    from lyricalign.engines.sphinx import BeamSetting

    return {
        "baseline": {"alternative_pronunciations": False, "refine_onsets": False, "max_cost": 1e12},
        "default": {},  # one word-level pass when affordable, CMU variants
        "refine": {"refine_onsets": True},  # + onset refinement
        "lines": {"lines_first": True, "refine_onsets": True},  # lines first, then words (the earlier default)
        "lines-norefine": {"lines_first": True},
        # more room for silence / noise fillers (+NSN+, +SPN+) between lines and words
        "sil0.1": {"silprob": 0.1},
        "fill0.01": {"fillprob": 0.01},
        "fill0.1": {"fillprob": 0.1},
        "pruned": {"beam_plan": (BeamSetting(beam=1e-120, pbeam=1e-120, wbeam=1e-100),)},
    }


def _align_job(args: tuple) -> dict:
    """Worker: align one dataset item with one configuration; returns onsets, times and peak RSS (MiB)."""
    item, config_name, loop_minutes, flat = args
    import numpy as np

    from lyricalign.audio import SAMPLE_RATE, AudioLimits, load_audio
    from lyricalign.engines.sphinx import SphinxEngine, SphinxOptions
    from lyricalign.text import parse_lyrics

    text = item.lyrics_text
    audio = load_audio(item.audio_path, AudioLimits(max_duration=None))
    repeats = math.ceil(loop_minutes * 60 / (len(audio) / SAMPLE_RATE)) if loop_minutes else 1
    if flat:  # lyrics without line breaks, as users often paste them
        text = " ".join(text.split())
    if repeats > 1:
        audio = np.tile(audio, repeats)
        text = "\n\n".join([text] * repeats)
    engine = SphinxEngine(SphinxOptions(**configurations()[config_name]))
    started = time.perf_counter()
    try:
        result = engine.align(audio, parse_lyrics(text, item.language))
        starts, extras, error = [w.start for w in result.words], result.extras, None
    except Exception as e:  # report, keep benchmarking the others
        starts, extras, error = [], {}, f"{type(e).__name__}: {e}"
    return {
        "repeats": repeats,
        "song_seconds": len(audio) / SAMPLE_RATE / repeats,
        "starts": starts,
        "seconds": time.perf_counter() - started,
        "audio_seconds": len(audio) / SAMPLE_RATE,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "extras": extras,
        "error": error,
    }


def _run(ctx, item, name: str, loop_minutes: float, flat: bool) -> dict:
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(_align_job, ((item, name, loop_minutes, flat),))


def _onsets(item) -> list[float]:
    return [start for start, _ in item.reference]


def bench_songs(ctx, dataset, name: str, flat: bool, verbose: bool) -> None:
    """One row per song and a mean row for configuration ``name``."""
    from lyricalign.metrics import score_song

    rows = []
    for item in dataset.items:
        run = _run(ctx, item, name, 0.0, flat)
        if run["error"]:
            print(f"{name:<14} {item.name[:34]:<34} failed: {run['error']}")
            continue
        s = score_song(_onsets(item), run["starts"])
        rows.append({"aae": s.mean_ae, "median_ae": s.median_ae, "pco": 100 * s.pco,
                     "seconds": run["seconds"], "rss": run["peak_rss_mib"]})
        print(f"{name:<14} {item.name[:34]:<34} {s.mean_ae:6.2f} {s.median_ae:6.2f} {100 * s.pco:6.1f} "
              f"{run['seconds']:7.1f} {run['peak_rss_mib']:8.0f}")
        if verbose:
            print("   ", json.dumps(run["extras"]))
    if rows:
        mean = {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}
        print(f"{name:<14} {'MEAN (' + str(len(rows)) + ' songs)':<34} {mean['aae']:6.2f} {mean['median_ae']:6.2f} "
              f"{mean['pco']:6.1f} {mean['seconds']:7.1f} {max(r['rss'] for r in rows):8.0f}")


def bench_long(ctx, item, name: str, minutes: float, flat: bool) -> None:
    """``item`` looped to ``minutes``: time, memory, AAE overall and per copy."""
    from lyricalign.metrics import score_song

    run = _run(ctx, item, name, minutes, flat)
    status = run["error"]
    if not status:
        reference, n = _onsets(item), len(item.reference)
        looped = [t + k * run["song_seconds"] for k in range(run["repeats"]) for t in reference]
        s = score_song(looped, run["starts"])
        per_copy = [score_song(looped[k * n : (k + 1) * n], run["starts"][k * n : (k + 1) * n]).mean_ae
                    for k in range(run["repeats"])]
        status = (f"AAE {s.mean_ae:.2f} (per copy {', '.join(f'{a:.2f}' for a in per_copy)}) PCO {100 * s.pco:.1f}; "
                  f"passes: {json.dumps(run['extras'].get('passes'))}")
    print(f"long {name:<14} {run['audio_seconds'] / 60:.1f} min: wall {run['seconds']:.1f} s, "
          f"peak RSS {run['peak_rss_mib']:.0f} MiB; {status}")


def main(argv: list[str] | None = None) -> int:
    from lyricalign.evaluation import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--configs", default="baseline,default")
    parser.add_argument("--long-minutes", type=float, default=0.0, help="also align a dev song looped to this length")
    parser.add_argument("--flat-lyrics", action="store_true", help="join each song's lyrics into one line")
    parser.add_argument("--long-only", action="store_true", help="only the looped song, not the dev songs")
    parser.add_argument("--verbose", action="store_true", help="print each run's extras")
    args = parser.parse_args(argv)
    names = args.configs.split(",")
    unknown = sorted(set(names) - set(configurations()))
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)} (choose from: {', '.join(configurations())})")
    dataset = load_dataset(args.data)
    ctx = mp.get_context("spawn")
    print(f"{'config':<14} {'song':<34} {'AAE':>6} {'medAE':>6} {'PCO%':>6} {'wall s':>7} {'RSS MiB':>8}")
    for name in [] if args.long_only else names:
        bench_songs(ctx, dataset, name, args.flat_lyrics, args.verbose)
    if args.long_minutes:
        for name in names:
            bench_long(ctx, dataset.items[0], name, args.long_minutes, args.flat_lyrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
