"""Per-song adaptation variants of the ``hmm`` engine on the dev songs, in one process.

Each song's features, graph and first pass are computed once; every variant then re-estimates,
re-scores and re-aligns from that first pass (exactly what the engine does, minus the repeated
first pass). Prints AAE / MedAE / PCO per song and variant, the mean per variant, and the
estimated transforms of the default variant.

    python benchmarks/bench_adaptation.py [--data ../shared/data/jamendo-dev] [--variants default,iter-2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "jamendo-dev"

VARIANTS: dict[str, dict] = {
    "off": {"iterations": 0},
    "default": {},
    "iter-2": {"iterations": 2},
    "iter-3": {"iterations": 3},
    "silence-only": {"classes": ("silence",)},
    "phones-only": {"classes": ("vowel", "other")},
    "bias-only": {"bias_only": True},
    "bias-only-iter-2": {"bias_only": True, "iterations": 2},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    from dataclasses import replace

    from lyricalign.acoustic import frontend
    from lyricalign.acoustic.adaptation import AdaptationOptions, adapt
    from lyricalign.acoustic.scorer import MeanTransform
    from lyricalign.align.hmm_graph import build_word_graph, word_spans
    from lyricalign.align.pronounce import pronunciations
    from lyricalign.audio import load_audio
    from lyricalign.engines.hmm import HMMEngine
    from lyricalign.evaluation import load_dataset
    from lyricalign.metrics import score_song
    from lyricalign.text import parse_lyrics

    engine = HMMEngine(adaptation_iterations=0)
    ck = engine.checkpoint
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    results: dict[str, list] = {name: [] for name in names}
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC, {engine.model_name}, data {args.data}")
    for item in load_dataset(args.data).items:
        lyrics = parse_lyrics(item.lyrics_text, item.language)
        vocabulary = {p for w in lyrics.words for p in w.spoken.split()} if lyrics.language == "en" else ()
        prons = pronunciations(lyrics, ck.pronunciations_of(vocabulary))
        tokens = [i for i, p in enumerate(prons) if p]
        graph = build_word_graph(prons, tokens, ck.definition, ck.log_transitions, engine.options.graph)
        features = frontend.features(load_audio(item.audio_path), ck.frontend)
        nothing = lambda stage, fraction: None  # noqa: E731
        first = engine._pass(graph, features, MeanTransform.identity(ck.n_codebooks, 39), nothing, (0, 1), free_loop=False)
        truth = [s for s, _ in item.reference]
        for name in names:
            options = replace(AdaptationOptions(), **VARIANTS[name])
            started = time.perf_counter()
            done = adapt(first, graph, features, ck, options,
                         lambda t, span: engine._pass(graph, features, t, nothing, span, free_loop=False))
            spans = word_spans(graph, done.final_pass.result.states)
            starts = [np.nan] * len(lyrics.words)
            for token, span in zip(graph.tokens, spans):
                starts[token] = span[0] / 100 if span else np.nan
            starts = list(np.fmax.accumulate(np.nan_to_num(starts, nan=0.0)))
            scores = score_song(truth, starts)
            results[name].append(scores)
            print(f"{name:>18} {item.name[:30]:<30} AAE {scores.mean_ae:6.3f} MedAE {scores.median_ae:5.3f} "
                  f"PCO {scores.pco:5.3f}  ({time.perf_counter() - started:.1f} s) {done.report.get('classes', '')}",
                  flush=True)
    for name in names:
        rows = results[name]
        print(f"{name:>18} MEAN AAE {statistics.mean(r.mean_ae for r in rows):6.3f} "
              f"MedAE {statistics.mean(r.median_ae for r in rows):5.3f} PCO {statistics.mean(r.pco for r in rows):5.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
