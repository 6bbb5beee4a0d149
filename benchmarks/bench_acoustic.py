"""The ``hmm`` engine's variants and the ``sphinx`` reference on the dev songs: accuracy and time per stage.

One row per (variant, song): AAE / MedAE / PCO, the engine's own stage times (graph, features,
scoring, search, per pass), the alignment's wall time and the worker's peak RSS; then the mean row
per variant. Every alignment runs in a fresh process (``spawn``), so peak RSS is its own; the
acoustic checkpoint is loaded once per process, as in ``lyricalign align``.

    python benchmarks/bench_acoustic.py                                  # every variant
    python benchmarks/bench_acoustic.py --variants default,no-adapt      # some
    python benchmarks/bench_acoustic.py --data ../shared/data/jamendo-dev --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "jamendo-dev"

#: name -> (method, engine options). ``default`` is the shipped engine.
VARIANTS: dict[str, tuple[str, dict]] = {
    "default": ("hmm", {}),
    "no-adapt": ("hmm", {"adaptation_iterations": 0}),
    "adapt-2": ("hmm", {"adaptation_iterations": 2}),
    "adapt-3": ("hmm", {"adaptation_iterations": 3}),
    "adapt-sil-only": ("hmm", {"adaptation_classes": ("silence",)}),
    "adapt-phones-only": ("hmm", {"adaptation_classes": ("vowel", "other")}),
    "no-adapt-scale-0.3": ("hmm", {"adaptation_iterations": 0, "acoustic_scale": 0.3}),
    "no-adapt-scale-0.15": ("hmm", {"adaptation_iterations": 0, "acoustic_scale": 0.15}),
    "no-adapt-scale-1": ("hmm", {"adaptation_iterations": 0, "acoustic_scale": 1.0}),
    "no-adapt-sil-penalty-5": ("hmm", {"adaptation_iterations": 0, "silence_logp": -5.0}),
    "no-adapt-sil-context": ("hmm", {"adaptation_iterations": 0, "cross_word_context": False}),
    "no-adapt-no-variants": ("hmm", {"adaptation_iterations": 0, "alternative_pronunciations": False}),
    "no-vocables": ("hmm", {"sung_vocables": False}),
    "noise-filler": ("hmm", {"fillers": ("+NSN+",)}),
    "noise-and-speech-fillers": ("hmm", {"fillers": ("+NSN+", "+SPN+")}),
    "no-adapt-noise-filler": ("hmm", {"adaptation_iterations": 0, "fillers": ("+NSN+",)}),
    "adapt-2-noise-filler": ("hmm", {"adaptation_iterations": 2, "fillers": ("+NSN+",)}),
    "transition-scale-0.2": ("hmm", {"transition_scale": 0.2}),
    "no-adapt-transition-scale-0.2": ("hmm", {"adaptation_iterations": 0, "transition_scale": 0.2}),
    "adapt-2-transition-scale-0.2": ("hmm", {"adaptation_iterations": 2, "transition_scale": 0.2}),
    "transition-scale-0.5": ("hmm", {"transition_scale": 0.5}),
    "sphinx": ("sphinx", {}),  # pocketsphinx's decoder: one unpruned word-level pass (its default plan)
}


def _align(job: tuple) -> dict:
    """Worker process: align one dataset item with one variant."""
    item, method, options = job
    started = time.perf_counter()
    from lyricalign.audio import load_audio
    from lyricalign.engines import create_engine
    from lyricalign.metrics import score_song
    from lyricalign.text import parse_lyrics

    audio = load_audio(item.audio_path)
    decoded = time.perf_counter()
    engine = create_engine(method, **options)
    loaded = time.perf_counter()
    result = engine.align(audio, parse_lyrics(item.lyrics_text, item.language))
    done = time.perf_counter()
    scores = score_song([start for start, _ in item.reference], [w.start for w in result.words])
    return {"song": item.name, "aae": scores.mean_ae, "medae": scores.median_ae, "pco": scores.pco,
            "decode_s": decoded - started, "load_s": loaded - decoded, "align_s": done - loaded,
            "stages": result.extras.get("seconds", {}), "adaptation": result.extras.get("adaptation"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(data: Path, variants: list[str]) -> list[dict]:
    from lyricalign.evaluation import load_dataset

    items = load_dataset(data).items
    rows = []
    context = mp.get_context("spawn")
    for name in variants:
        method, options = VARIANTS[name]
        for item in items:
            with context.Pool(1) as pool:
                row = pool.apply(_align, ((item, method, options),))
            rows.append({"variant": name, **row})
            print(_format(rows[-1]), flush=True)
        mine = [r for r in rows if r["variant"] == name]
        print(f"{name:>24} {'MEAN':<32} AAE {statistics.mean(r['aae'] for r in mine):6.3f}  "
              f"MedAE {statistics.mean(r['medae'] for r in mine):5.3f}  PCO {statistics.mean(r['pco'] for r in mine):5.3f}  "
              f"align {statistics.mean(r['align_s'] for r in mine):5.2f} s", flush=True)
    return rows


def _format(row: dict) -> str:
    stages = " ".join(f"{k} {v:.2f}" for k, v in row["stages"].items())
    return (f"{row['variant']:>24} {row['song'][:32]:<32} AAE {row['aae']:6.3f}  MedAE {row['medae']:5.3f}  "
            f"PCO {row['pco']:5.3f}  align {row['align_s']:5.2f} s ({stages})  RSS {row['peak_rss_mb']:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JamendoLyrics-layout folder")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from: {', '.join(VARIANTS)}")
    parser.add_argument("--json", type=Path, default=None, help="also write every row here")
    args = parser.parse_args()
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC, data {args.data}")
    rows = run(args.data, chosen)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
