"""Accuracy and speed of the classic engines and their variants on an annotated dataset.

    python benchmarks/bench_evaluate.py                      # ../shared/data/jamendo-dev next to the repository
    python benchmarks/bench_evaluate.py DATASET --variants dtw:features=mfcc dtw:features=onset

Each variant is ``method[:key=value,...]`` (engine keyword options; ints/bools parsed). Prints,
per variant, the corpus AAE / MedAE / PCO / PCS and the mean real-time factor and peak RSS.
Numbers are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from lyricalign.engines import create_engine
from lyricalign.evaluation import evaluate, format_table, load_dataset

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "jamendo-dev"
DEFAULT_VARIANTS = (
    "uniform",
    "uniform:use_vad=false",
    "dtw:features=mfcc",
    "dtw:features=mfcc_delta",
    "dtw:features=chroma",
    "dtw:features=mel",
    "dtw:features=onset",
    "dtw:features=mfcc,match_rate=false",
)


def parse_variant(text: str) -> tuple[str, dict]:
    method, _, rest = text.partition(":")
    options: dict = {}
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        options[key] = {"true": True, "false": False}.get(value.lower(), int(value) if value.isdigit() else value)
    return method, options


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    parser.add_argument("--songs", nargs="+", default=None)
    parser.add_argument("--tables", action="store_true", help="also print each variant's per-song table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    dataset = load_dataset(args.dataset).select(args.songs)
    print(f"{'variant':<38} {'AAE':>7} {'MedAE':>7} {'PCO':>6} {'PCS':>6} {'RTF':>6} {'RSS MiB':>8} {'wall s':>7}")
    for variant in args.variants:
        method, options = parse_variant(variant)
        engine = create_engine(method, **options)
        began = time.perf_counter()
        report = evaluate(dataset, engine, progress=False)
        wall = time.perf_counter() - began
        c = report.corpus
        rtf = sum(s.rtf for s in report.songs) / len(report.songs)
        rss = max(s.peak_rss_mb for s in report.songs)
        print(f"{variant:<38} {c.aae:>7.3f} {c.medae:>7.3f} {c.pco:>6.3f} {c.pcs:>6.3f} {rtf:>6.3f} {rss:>8.0f} {wall:>7.1f}", flush=True)
        if args.tables:
            print(format_table(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
