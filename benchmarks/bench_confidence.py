"""How well the ``hmm`` engine's confidences rank misplaced words, and how well its song-level quality
verdict catches wrong lyrics and wrong languages.

Per dev song (``../shared/data/jamendo-dev``), one alignment with the right lyrics; a word is
*misplaced* when its onset is more than ``--misplaced`` seconds (default 1) from the truth.

* word AUC: the probability that a correctly placed word has a higher confidence than a misplaced
  one (Mann-Whitney; 0.5 = chance), pooled over the songs;
* quality: the verdict (``extras["quality"]``) on the correct runs, on every wrong-lyrics pair (the
  lyrics of another dev song on this song's audio) and on every wrong-language run (the right lyrics
  aligned as another supported language). Correct runs must not be flagged; the others must.

    python benchmarks/bench_confidence.py [--data ../shared/data/jamendo-dev] [--adaptation N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "jamendo-dev"
WRONG_LANGUAGE = {"es": "de", "fr": "en", "de": "es", "en": "fr", "it": "de", "pt": "en"}


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    greater = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(greater / (len(positive) * len(negative)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--misplaced", type=float, default=1.0, help="onset error (s) above which a word is misplaced")
    parser.add_argument("--adaptation", type=int, default=None, help="adaptation iterations (default: the engine's)")
    args = parser.parse_args()

    from lyricalign.audio import load_audio
    from lyricalign.engines import create_engine
    from lyricalign.evaluation import load_dataset
    from lyricalign.text import parse_lyrics

    options = {} if args.adaptation is None else {"adaptation_iterations": args.adaptation}
    engine = create_engine("hmm", **options)
    items = load_dataset(args.data).items
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} UTC, {engine.model_name}, data {args.data}")
    good, bad, verdicts = [], [], []
    for item in items:
        audio = load_audio(item.audio_path)
        result = engine.align(audio, parse_lyrics(item.lyrics_text, item.language))
        errors = np.abs(np.array([w.start for w in result.words]) - np.array([s for s, _ in item.reference]))
        conf = np.array([w.confidence for w in result.words])
        aligned = np.array([not w.interpolated for w in result.words])
        good.append(conf[aligned & (errors <= args.misplaced)])
        bad.append(conf[aligned & (errors > args.misplaced)])
        song_auc = auc(good[-1], bad[-1])
        verdicts.append(("correct", item.name, result.extras["quality"]))
        print(f"{item.name[:32]:<32} words {aligned.sum():4d} misplaced {len(bad[-1]):3d} AUC {song_auc:.3f}  "
              f"quality {result.extras['quality']['score']:.3f}", flush=True)
        for other in items:
            if other is not item:
                wrong = engine.align(audio, parse_lyrics(other.lyrics_text, other.language))
                verdicts.append(("wrong lyrics", f"{item.name[:20]} <- {other.name[:20]}", wrong.extras["quality"]))
        language = WRONG_LANGUAGE[item.language]
        wrong = engine.align(audio, parse_lyrics(item.lyrics_text, language))
        verdicts.append((f"wrong language ({language})", item.name, wrong.extras["quality"]))
    print(f"pooled word AUC (correct vs misplaced > {args.misplaced:g} s): {auc(np.concatenate(good), np.concatenate(bad)):.3f}")
    for kind, name, quality in verdicts:
        print(f"{kind:<22} {name[:44]:<44} quality {quality['score']:.3f}  {'SUSPECT' if quality['suspect'] else 'ok':<8}"
              f"between words {quality['between_words']:.3f}  words under 0.3: {quality['low_confidence_words']:.3f}")
    for kind in ("correct", "wrong lyrics", "wrong language"):
        rows = [q for k, _, q in verdicts if k.startswith(kind)]
        flagged = sum(q["suspect"] for q in rows)
        print(f"{kind}: {flagged}/{len(rows)} flagged suspect")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
