"""Speed of the ONNX senone scorer: frames of one call in blocks of several sizes, on 1 and 2 threads.

Random features, a random selection of senones (a 3-minute song's graph uses 500-1,200), the installed
acoustic checkpoint. Prints wall and CPU seconds per 18,000 frames (3 minutes of audio), best of
``--repeats``.

    python benchmarks/bench_scorer.py [--senones 1100] [--blocks 16,32,64,128,256] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

FRAMES = 18_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senones", type=int, default=1100)
    parser.add_argument("--blocks", default="16,32,64,128,256")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import lyricalign.acoustic.scorer as scorer_module
    from lyricalign.acoustic.checkpoint import default_checkpoint_folder, load_checkpoint
    from lyricalign.acoustic.scorer import MeanTransform, SenoneScorer, SenoneSelection

    checkpoint = load_checkpoint(default_checkpoint_folder())
    rng = np.random.default_rng(0)
    selection = SenoneSelection.of(rng.choice(checkpoint.definition.n_senones, args.senones, replace=False),
                                   checkpoint.definition.senone_codebook, checkpoint.n_codebooks)
    features = rng.normal(0, 3, (FRAMES, 39)).astype(np.float32)
    identity = MeanTransform.identity(checkpoint.n_codebooks, 39)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC, {checkpoint.info.tag}, {args.senones} senones, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| block frames | threads | wall s | CPU s |")
    print("|---:|---:|---:|---:|")
    for threads in (int(t) for t in args.threads.split(",")):
        scorer = SenoneScorer(checkpoint.scorer_path, threads=threads)
        for block in (int(b) for b in args.blocks.split(",")):
            scorer_module.BLOCK_FRAMES = block
            best_wall = best_cpu = float("inf")
            for _ in range(args.repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                scorer(features, selection, identity)
                best_wall = min(best_wall, time.perf_counter() - wall)
                best_cpu = min(best_cpu, time.process_time() - cpu)
            print(f"| {block} | {threads} | {best_wall:.2f} | {best_cpu:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
