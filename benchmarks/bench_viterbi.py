"""Speed and peak memory of the CTC forced-alignment kernel (:func:`lyricalign.align.ctc_viterbi.forced_align`).

Random log-softmax emissions and random targets (C=32 classes, float32 like a model's output).
Time is the median of ``--runs`` calls; peak memory is measured in a separate call under
tracemalloc (which slows numpy's small allocations), excluding the input array. The loop
reference runs on the small size only, in the same process, as a baseline. Prints a markdown table.

    python benchmarks/bench_viterbi.py            # T=15,000 x S=3,000 and T=1,500 x S=300
    python benchmarks/bench_viterbi.py --long     # adds a 10-minute song: T=30,000 x S=5,000
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lyricalign.align.ctc_viterbi import ctc_viterbi_reference, forced_align

N_CLASSES = 32
Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Row:
    kernel: str
    frames: int
    targets: int
    median_s: float
    min_s: float
    peak_mib: float


def make_case(n_frames: int, n_targets: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n_frames, N_CLASSES))
    log_probs = (logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)).astype(np.float32)
    return log_probs, rng.integers(1, N_CLASSES, size=n_targets)


def measure(name: str, kernel: Kernel, n_frames: int, n_targets: int, runs: int) -> Row:
    log_probs, targets = make_case(n_frames, n_targets)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        kernel(log_probs, targets)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    try:
        kernel(log_probs, targets)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Row(name, n_frames, n_targets, statistics.median(times), min(times), peak / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed calls per fast-kernel case (default 5)")
    parser.add_argument("--long", action="store_true", help="also run T=30,000 x S=5,000")
    args = parser.parse_args()

    rows = [
        measure("forced_align", forced_align, 15_000, 3_000, args.runs),
        measure("forced_align", forced_align, 1_500, 300, args.runs),
        measure("ctc_viterbi_reference", ctc_viterbi_reference, 1_500, 300, 1),
    ]
    if args.long:
        rows.append(measure("forced_align", forced_align, 30_000, 5_000, max(1, args.runs // 2)))

    print("| kernel | T | S | median s | min s | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.kernel} | {row.frames:,} | {row.targets:,} | {row.median_s:.3f} | {row.min_s:.3f} "
            f"| {row.peak_mib:.1f} |"
        )
    fast, reference = rows[1], rows[2]
    print(f"\nspeed-up over the loop reference at T={fast.frames:,}, S={fast.targets:,}: "
          f"{reference.median_s / fast.median_s:.0f}x")


if __name__ == "__main__":
    main()
