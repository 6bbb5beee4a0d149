"""How well the ``hmm`` engine's confidences rank misplaced words, and how well its song-level quality
verdict catches wrong lyrics and wrong languages (every variant tried, kept or not).

Per dev song (``../shared/data/jamendo-dev``), one alignment with the right lyrics; a word is
*misplaced* when its onset is more than ``--misplaced`` seconds (default 1) from the truth.

* word AUC: the probability that a correctly placed word has a higher confidence than a misplaced
  one (Mann-Whitney; 0.5 = chance), pooled over the songs;
* quality: the verdict (``extras["quality"]``, :mod:`lyricalign.align.quality`) on the correct runs, on
  every wrong-lyrics pair (the lyrics of another dev song on this song's audio) and on every
  wrong-language run (the right lyrics aligned as another supported language, given explicitly).
  Correct runs must not be flagged; the others must. Variants, each flagging a run when:

  - ``old``: the verdict before (exp of the mean word-frame confidence ratio) < 0.5;
  - ``loop``: the lyrics score below the free phone loop (log-likelihood ratio per frame < 0);
  - ``null>0``: the lyrics no better than their rotation (null log-likelihood ratio <= 0);
  - ``perm t``: ``--permutations K`` full extra passes (K random word shuffles, the final transform,
    new triphones scored): the lyrics' score not above the shuffles' by the one-sided 95 % t prediction
    bound (costs K scoring passes; 0 skips it);
  - ``gain``: the shipped statistic, gain < 0.1 (audio alone); ``shipped``: gain or the text's language.

    python benchmarks/bench_confidence.py [--data ../shared/data/jamendo-dev] [--adaptation N] [--permutations K]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "jamendo-dev"
WRONG_LANGUAGE = {"es": "de", "fr": "en", "de": "es", "en": "fr", "it": "de", "pt": "en"}
#: One-sided 95 % quantiles of Student's t for K - 1 degrees of freedom (K = 2..6 permutations).
T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015}
VARIANTS = ("old", "loop", "null>0", "perm t", "gain", "shipped")


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(greater / (len(positive) * len(negative)))


def capturing_engine(options: dict):
    """The hmm engine, keeping the last alignment's graph, features and final transform (for the permutations)."""
    from lyricalign.engines.hmm import HMMEngine

    class Capturing(HMMEngine):
        def _frame_ratios(self, graph, features, final, transform):
            self.last = (features, transform)
            return super()._frame_ratios(graph, features, final, transform)

    return Capturing(**options)


def permutation_scores(engine, text: str, language: str, k: int, rng: random.Random) -> list[float]:
    """Viterbi scores of ``k`` word shuffles of ``text`` on the last alignment's features and transform."""
    from lyricalign.align.hmm_graph import build_word_graph
    from lyricalign.align.pronounce import pronunciations
    from lyricalign.text import parse_lyrics

    features, transform = engine.last
    scores = []
    for _ in range(k):
        words = text.split()
        rng.shuffle(words)
        lyrics = parse_lyrics("\n".join(" ".join(words[i : i + 6]) for i in range(0, len(words), 6)), language)
        vocabulary = {p for w in lyrics.words for p in w.spoken.split()} if language == "en" else ()
        prons = pronunciations(lyrics, engine.checkpoint.pronunciations_of(vocabulary),
                               engine.options.alternative_pronunciations, engine.options.sung_vocables)
        graph = build_word_graph(prons, [i for i, p in enumerate(prons) if p], engine.checkpoint.definition,
                                 engine.checkpoint.log_transitions, engine.options.graph)
        scores.append(engine._pass(graph, features, transform, lambda *_: None, (0.0, 1.0), free_loop=False).result.score)
    return scores


def flags(quality: dict, real_score: float, perms: list[float]) -> dict[str, bool | None]:
    """Whether each variant flags the run (None: not measured)."""
    perm = None
    if len(perms) >= 2:
        spread = float(np.std(perms, ddof=1)) * np.sqrt(1 + 1 / len(perms))
        perm = bool(real_score - np.mean(perms) <= T95[len(perms) - 1] * spread)
    return {"old": quality["confidence_mean"] < 0.5, "loop": quality["loop_llr_per_frame"] < 0,
            "null>0": quality["null_llr_per_frame"] <= 0, "perm t": perm,
            "gain": quality["gain"] < quality["threshold"], "shipped": quality["suspect"]}


def report(runs: list[tuple]) -> None:
    """Per run: every variant's statistic and whether it flags the run; then the rates per kind of run."""
    print(f"{'run':<16} {'':<44} {'old':>6} {'loop':>8} {'null':>8} {'perm':>8} {'gain':>7}  flagged by "
          + " ".join(VARIANTS))
    for kind, name, q, flagged, perms, real, frames in runs:
        perm = f"{(real - np.mean(perms)) / frames:+.4f}" if perms else "n/a"
        marks = " ".join(("-" if flagged[v] is None else "X" if flagged[v] else ".").center(len(v)) for v in VARIANTS)
        print(f"{kind:<16} {name[:44]:<44} {q['confidence_mean']:6.3f} {q['loop_llr_per_frame']:+8.4f} "
              f"{q['null_llr_per_frame']:+8.4f} {perm:>8} {q['gain']:+7.3f}  {marks}"
              + ("  text says " + q["text_language"]["language"] if "text_language" in q else ""))
    for kind in ("correct", "wrong lyrics", "wrong language"):
        rows = [f for k, _, _, f, *_ in runs if k == kind]
        counts = [f"{v} {sum(bool(r[v]) for r in rows)}/{len(rows)}" if rows[0][v] is not None else f"{v} n/a"
                  for v in VARIANTS]
        print(f"{kind}: flagged " + ", ".join(counts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--misplaced", type=float, default=1.0, help="onset error (s) above which a word is misplaced")
    parser.add_argument("--adaptation", type=int, default=None, help="adaptation iterations (default: the engine's)")
    parser.add_argument("--permutations", type=int, default=3, choices=[0, 2, 3, 4, 5, 6],
                        help="word shuffles per run for the 'perm t' variant (0: skip it)")
    args = parser.parse_args()

    from lyricalign.audio import load_audio
    from lyricalign.evaluation import load_dataset
    from lyricalign.text import parse_lyrics

    engine = capturing_engine({} if args.adaptation is None else {"adaptation_iterations": args.adaptation})
    rng = random.Random(0)
    items = load_dataset(args.data).items
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC, {engine.model_name}, data {args.data}")
    good, bad, runs = [], [], []

    def run(kind: str, name: str, audio: np.ndarray, text: str, language: str):
        started = time.perf_counter()
        result = engine.align(audio, parse_lyrics(text, language))
        seconds = time.perf_counter() - started
        quality = result.extras["quality"]
        perms = permutation_scores(engine, text, language, args.permutations, rng) if args.permutations else []
        runs.append((kind, name, quality, flags(quality, result.extras["path_score"], perms), perms,
                     result.extras["path_score"], result.extras["frames"]))
        spent = result.extras["seconds"]
        print(f"{kind:<16} {name[:44]:<44} gain {quality['gain']:+.3f} {'SUSPECT' if quality['suspect'] else 'ok':<8}"
              f"align {seconds:5.1f} s, verdict {spent['quality'] + spent['quality_search']:.3f} s "
              f"(null + loop searches {spent['quality_search']:.3f} s, scoring {spent['scoring']:.2f} s, "
              f"search {spent['search']:.2f} s)", flush=True)
        return result

    for item in items:
        audio = load_audio(item.audio_path)
        result = run("correct", item.name, audio, item.lyrics_text, item.language)
        errors = np.abs(np.array([w.start for w in result.words]) - np.array([s for s, _ in item.reference]))
        conf = np.array([w.confidence for w in result.words])
        aligned = np.array([not w.interpolated for w in result.words])
        good.append(conf[aligned & (errors <= args.misplaced)])
        bad.append(conf[aligned & (errors > args.misplaced)])
        print(f"  words {aligned.sum():4d} misplaced {len(bad[-1]):3d} AUC {auc(good[-1], bad[-1]):.3f}")
        for other in items:
            if other is not item:
                run("wrong lyrics", f"{item.name[:20]} <- {other.name[:20]}", audio, other.lyrics_text, other.language)
        language = WRONG_LANGUAGE[item.language]
        run("wrong language", f"{item.name[:32]} as {language}", audio, item.lyrics_text, language)
    print(f"pooled word AUC (correct vs misplaced > {args.misplaced:g} s): {auc(np.concatenate(good), np.concatenate(bad)):.3f}")
    report(runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
