"""Compare offline language detectors on short lyrics (en/es/fr/de/it/pt) and on the dev songs.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_language.py [--align-dev hmm]

Corpora:

* ``benchmarks/data/short_lyrics.tsv``: 144 short lines (24 per supported language, 2-9 words) and
  10 lines in unsupported languages (expected: "other");
* the three JamendoLyrics dev songs (``../shared/data/jamendo-dev``, relative to the repository):
  every non-blank line on its own (short, real lyrics) and each song's whole text.

Detectors (each asked the 6-way question; "wide" variants may also answer another language):
lingua restricted to the six, lingua over the six + lyricalign.language.OTHER_LANGUAGES,
langdetect (best of the six in its ranking; unrestricted for "other"), py3langid restricted to the
six and unrestricted, and lyricalign's own :func:`lyricalign.language.detect_language` (lingua, both
questions). Prints accuracy per corpus, how many wrong and right answers fall below
lyricalign's unsure threshold (a calibrated detector flags the wrong ones, not the right ones),
load and per-call time.
Candidates that are not installed are skipped with a note.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lyricalign.language import UNSURE_BELOW

ROOT = Path(__file__).resolve().parents[1]
SHORT = ROOT / "benchmarks" / "data" / "short_lyrics.tsv"
DEV = ROOT / ".." / "shared" / "data" / "jamendo-dev"
SIX = ("en", "es", "fr", "de", "it", "pt")
DEV_LANGUAGES = {"Spanish": "es", "French": "fr", "German": "de", "English": "en", "Italian": "it", "Portuguese": "pt"}

Detector = Callable[[str], tuple[str, float]]  # text -> (ISO code or "other", confidence)


@dataclass(frozen=True)
class Sample:
    language: str  # ISO code, or "other"
    text: str


def short_samples() -> list[Sample]:
    rows = [line.split("\t") for line in SHORT.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return [Sample(lang, text) for lang, text in rows]


def dev_songs() -> list[tuple[str, str, str]]:
    """``(song, language, lyrics)`` of the dev songs; empty when ../shared is not there."""
    meta = DEV / "JamendoLyrics.csv"
    if not meta.is_file():
        return []
    with meta.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        stem = Path(row["Filepath"]).stem
        out.append((stem, DEV_LANGUAGES[row["Language"]], (DEV / "lyrics" / f"{stem}.txt").read_text(encoding="utf-8")))
    return out


def lingua_detector(wide: bool) -> Detector:
    from lingua import Language, LanguageDetectorBuilder

    from lyricalign.language import OTHER_LANGUAGES

    names = ["ENGLISH", "SPANISH", "FRENCH", "GERMAN", "ITALIAN", "PORTUGUESE"] + (list(OTHER_LANGUAGES) if wide else [])
    detector = LanguageDetectorBuilder.from_languages(*(getattr(Language, n) for n in names)).build()

    def detect(text: str) -> tuple[str, float]:
        best = detector.compute_language_confidence_values(text)[0]
        code = best.language.iso_code_639_1.name.lower()
        return (code if code in SIX else "other"), float(best.value)

    return detect


def langdetect_detector(wide: bool) -> Detector:
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # langdetect is randomised; fixed for reproducible numbers

    def detect(text: str) -> tuple[str, float]:
        try:
            ranked = detect_langs(text)
        except LangDetectException:
            return "other", 0.0
        if wide:
            code = ranked[0].lang.split("-")[0]
            return (code if code in SIX else "other"), float(ranked[0].prob)
        among = [r for r in ranked if r.lang in SIX]
        return (among[0].lang, float(among[0].prob)) if among else ("other", 0.0)

    return detect


def py3langid_detector(wide: bool) -> Detector:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if not wide:
        identifier.set_languages(list(SIX))

    def detect(text: str) -> tuple[str, float]:
        code, prob = identifier.classify(text)
        return (code if code in SIX else "other"), float(prob)

    return detect


def lyricalign_detector(wide: bool) -> Detector:
    from lyricalign.language import detect_language

    def detect(text: str) -> tuple[str, float]:
        found = detect_language(text)
        return ("other" if found.unsupported else found.language), found.confidence

    return detect


CANDIDATES: dict[str, tuple[Callable[[bool], Detector], bool]] = {
    "lingua (6 languages)": (lingua_detector, False),
    "lingua (6 + 17 others)": (lingua_detector, True),
    "langdetect (best of 6)": (langdetect_detector, False),
    "langdetect (all 55)": (langdetect_detector, True),
    "py3langid (6 languages)": (py3langid_detector, False),
    "py3langid (all 97)": (py3langid_detector, True),
    "lyricalign.language (lingua, both questions)": (lyricalign_detector, True),
}


def evaluate(detect: Detector, samples: list[Sample]) -> tuple[int, int, list[float], list[float]]:
    """(correct, total, confidences of wrong answers, confidences of right answers)."""
    correct, wrong_conf, right_conf = 0, [], []
    for s in samples:
        guess, conf = detect(s.text)
        if guess == s.language:
            correct += 1
            right_conf.append(conf)
        else:
            wrong_conf.append(conf)
    return correct, len(samples), wrong_conf, right_conf


def align_dev_songs(method: str) -> None:
    """``lyricalign align`` on each dev song without ``--language`` and with the right one: same words?"""
    import subprocess
    import sys
    import tempfile

    meta = DEV / "JamendoLyrics.csv"
    with meta.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    print(f"lyricalign align --method {method} on the dev songs, no --language vs the right one:")
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            stem = Path(row["Filepath"]).stem
            audio, lyrics = DEV / "mp3" / row["Filepath"], DEV / "lyrics" / f"{stem}.txt"
            outputs = []
            for extra in ([], ["--language", DEV_LANGUAGES[row["Language"]]]):
                out = Path(tmp) / f"{stem}-{len(extra)}.json"
                cmd = [sys.executable, "-m", "lyricalign.cli", "align", str(audio), str(lyrics), "--method", method,
                       "-o", str(out), *extra]
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                outputs.append(json.loads(out.read_text(encoding="utf-8")))
            auto, given = outputs
            same = [(w["text"], w["start"], w["end"]) for w in auto["words"]] == \
                [(w["text"], w["start"], w["end"]) for w in given["words"]]
            detection = auto["extras"]["language_detection"]
            print(f"  {stem:34s} truth {DEV_LANGUAGES[row['Language']]}  detected {detection['language']} "
                  f"({detection['confidence']:.3f})  words {len(auto['words'])}  identical times: {same}")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--align-dev", metavar="METHOD", default=None,
                        help="also run lyricalign align on the dev songs with and without --language (e.g. hmm)")
    args = parser.parse_args()
    compare_detectors()
    if args.align_dev and DEV.is_dir():
        align_dev_songs(args.align_dev)


def compare_detectors() -> None:
    short = short_samples()
    six = [s for s in short if s.language != "other"]
    others = [s for s in short if s.language == "other"]
    songs = dev_songs()
    dev_lines = [Sample(lang, ln.strip()) for _, lang, text in songs for ln in text.splitlines() if ln.strip()]
    dev_whole = [Sample(lang, text) for _, lang, text in songs]
    print(f"corpora: {len(six)} short lines in 6 languages, {len(others)} unsupported-language lines, "
          f"{len(dev_lines)} dev-song lines, {len(dev_whole)} dev songs" + ("" if songs else " (../shared missing)"))
    header = f"{'detector':46s} {'short 6-lang':>13s} {'dev lines':>11s} {'dev songs':>9s} {'other':>7s} " \
             f"{'wrong unsure':>12s} {'right unsure':>12s} {'load s':>7s} {'ms/line':>8s}"
    print(header)
    print(f"(short lines and dev lines: 'wrong/right unsure' = wrong/right answers with confidence < {UNSURE_BELOW})")
    for name, (factory, wide) in CANDIDATES.items():
        try:
            started = time.perf_counter()
            detect = factory(wide)
            detect("warm up the models")
            load = time.perf_counter() - started
        except ImportError as e:
            print(f"{name:46s} not installed ({e.name})")
            continue
        started = time.perf_counter()
        c6, n6, wrong6, right6 = evaluate(detect, six)
        per_line = (time.perf_counter() - started) / n6 * 1000
        cl, nl, wrongl, rightl = evaluate(detect, dev_lines) if dev_lines else (0, 0, [], [])
        cw, nw, _, _ = evaluate(detect, dev_whole) if dev_whole else (0, 0, [], [])
        other = f"{evaluate(detect, others)[0]}/{len(others)}" if wide else "n/a"
        wrong, right = wrong6 + wrongl, right6 + rightl
        wrong_unsure = f"{sum(c < UNSURE_BELOW for c in wrong)}/{len(wrong)}"
        right_unsure = f"{sum(c < UNSURE_BELOW for c in right)}/{len(right)}"
        print(f"{name:46s} {c6 / n6:7.3f} {c6:3d}/{n6} {cl / max(nl, 1):7.3f} {cl:3d} {cw:5d}/{nw} {other:>7s} "
              f"{wrong_unsure:>12s} {right_unsure:>12s} {load:7.2f} {per_line:8.2f}")
        if name.startswith("lingua (6"):
            for lang in SIX:
                subset = [s for s in six if s.language == lang]
                print(f"    {lang}: {evaluate(detect, subset)[0]}/{len(subset)}", end="")
            print()


if __name__ == "__main__":
    main()
