"""Speed of the ONNX senone scorer: frames of one call in blocks of several sizes, on 1 and 2 threads.

Random features, a random selection of senones (a 3-minute song's graph uses 500-1,200), the installed
acoustic checkpoint. Prints wall and CPU seconds per 18,000 frames (3 minutes of audio), best of
``--repeats``.

    python benchmarks/bench_scorer.py [--senones 1100] [--blocks 16,32,64,128,256] [--threads 1,2]
    python benchmarks/bench_scorer.py --profile [--senones 470] [--blocks 128] [--checkpoint DIR]
                                      # ONNX Runtime's profiler: ms per call and per operator type
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

FRAMES = 18_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senones", type=int, default=1100)
    parser.add_argument("--blocks", default="16,32,64,128,256")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="per-operator times of one block size, one thread")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the installed one)")
    args = parser.parse_args()
    if args.profile:
        return profile(args)

    import lyricalign.acoustic.scorer as scorer_module
    from lyricalign.acoustic.checkpoint import default_checkpoint_folder, load_checkpoint
    from lyricalign.acoustic.scorer import MeanTransform, SenoneScorer, SenoneSelection

    checkpoint = load_checkpoint(args.checkpoint or default_checkpoint_folder())
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
        scorer = SenoneScorer.for_checkpoint(checkpoint, threads=threads)
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


def profile(args) -> int:
    """Per-operator time of the scorer graph on one block (``--blocks``' first size), one thread, identity
    transform, a selection of ``--senones`` from two thirds of the codebooks (as a song's phones use)."""
    import collections
    import json

    import onnxruntime as ort

    from lyricalign.acoustic.checkpoint import default_checkpoint_folder, load_checkpoint
    from lyricalign.acoustic.scorer import MeanTransform, SenoneScorer, SenoneSelection, session_options

    checkpoint = load_checkpoint(args.checkpoint or default_checkpoint_folder())
    rng = np.random.default_rng(0)
    books = checkpoint.definition.senone_codebook
    used = rng.choice(checkpoint.n_codebooks, 2 * checkpoint.n_codebooks // 3, replace=False)
    selection = SenoneSelection.of(rng.choice(np.flatnonzero(np.isin(books, used)), args.senones, replace=False),
                                   books, checkpoint.n_codebooks)
    block = int(args.blocks.split(",")[0])
    options = session_options()  # the scorer's own
    options.enable_profiling = True
    work = Path(tempfile.mkdtemp(prefix="bench-scorer-"))
    options.profile_file_prefix = str(work / "scorer")
    session = ort.InferenceSession(str(checkpoint.scorer_path), options, providers=["CPUExecutionProvider"])
    song = SenoneScorer.for_checkpoint(checkpoint, threads=1).song_inputs(
        selection, MeanTransform.identity(checkpoint.n_codebooks, 39))
    feeds = {"features": rng.normal(0, 3, (block, 39)).astype(np.float32), **song}
    calls = 50
    for _ in range(5):
        session.run(None, feeds)
    started = time.perf_counter()
    for _ in range(calls):
        session.run(None, feeds)
    wall = (time.perf_counter() - started) / calls
    by_op: collections.Counter = collections.Counter()
    trace = Path(session.end_profiling())
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
    shutil.rmtree(work, ignore_errors=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC, {checkpoint.info.tag}, {args.senones} senones from "
          f"{len(used)} codebooks, {block}-frame blocks, load average {os.getloadavg()[0]:.2f}")
    print(f"{wall * 1000:.2f} ms per call (wall); per operator type, ms per call:")
    for op, microseconds in by_op.most_common(8):
        print(f"  {op:14s} {microseconds / (calls + 5) / 1000:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
