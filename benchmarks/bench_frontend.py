"""Speed, memory and pocketsphinx agreement of the Sphinx MFCC front end on real songs.

For each song: seconds to compute ``features`` (best of ``--repeats``, wall and CPU; wall also
normalised to 3 minutes of audio), peak traced numpy memory of one call, and, against pocketsphinx 5 itself (en-us model,
batch CMN, whole utterance), the largest per-coefficient difference between its CMN vector and
the mean of our cepstra, and the frame counts (ours; pocketsphinx's ``n_frames() - 1``, the frames its search scored).

    python benchmarks/bench_frontend.py [--songs DIR] [--limit N] [--repeats R]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np

from lyricalign.acoustic.frontend import FrontEndOptions, cepstra, cmn_mean, features, frame_count
from lyricalign.audio import SAMPLE_RATE, load_audio

logger = logging.getLogger("bench_frontend")
DEFAULT_SONGS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "jamendo-dev" / "mp3"


def pocketsphinx_reference(pcm: np.ndarray) -> tuple[np.ndarray, int]:
    """pocketsphinx's batch-CMN vector and number of scored frames for int16 ``pcm`` (one utterance)."""
    import pocketsphinx

    root = os.path.join(pocketsphinx.get_model_path(), "en-us")
    # a one-word keyphrase search is cheap (the language-model search takes many minutes per song);
    # full_utt=True keeps -cmn batch from turning into live CMN
    decoder = pocketsphinx.Decoder(
        hmm=os.path.join(root, "en-us"), dict=os.path.join(root, "cmudict-en-us.dict"),
        keyphrase="oh", cmn="batch", loglevel="FATAL",
    )  # fmt: skip
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
    decoder.end_utt()
    mean = np.array([float(v) for v in decoder.get_cmn(False).split(",")])
    # ps_get_n_frames is acmod->output_frame + 1: one more than the frames searched
    return mean, decoder.n_frames() - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=Path, default=DEFAULT_SONGS)
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = FrontEndOptions()
    for path in sorted(args.songs.glob("*.mp3"))[: args.limit]:
        audio = load_audio(path)
        minutes = len(audio) / SAMPLE_RATE / 60
        features(audio[: SAMPLE_RATE])  # warm the filterbank tables
        runs = [_timed(features, audio) for _ in range(args.repeats)]
        best, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        tracemalloc.start()
        features(audio)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        pcm = np.clip(np.rint(audio.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
        reference, scored = pocketsphinx_reference(pcm)
        ours = cmn_mean(cepstra(audio, options))
        diff = np.abs(ours - reference)
        logger.info(
            "%s: %.2f min, features %.3f s wall, %.3f s CPU (%.3f s wall per 3 min), peak traced %.1f MB (input %.1f MB); "
            "CMN max|diff| %.4f (c0 ours %.3f vs pocketsphinx %.3f); frames ours %d, pocketsphinx scored %d",
            path.name, minutes, best, cpu, best * 3 / minutes, peak / 1e6, audio.nbytes / 1e6,
            diff.max(), ours[0], reference[0], frame_count(len(audio), options), scored,
        )  # fmt: skip


def _timed(fn, audio: np.ndarray) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU time is the steadier number on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(audio)
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
