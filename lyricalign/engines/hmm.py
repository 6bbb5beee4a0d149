"""HMM forced alignment with pocketsphinx 5 and its pretrained en-us acoustic model, for any language.

Every lyrics token becomes one dictionary entry (``w17`` -> its ARPAbet phones) so repeated
words, and tokens with several spoken words ("forty two"), are one unit of the alignment.
English words take their pronunciations (all variants) from the CMU dictionary that ships with
pocketsphinx; other languages, and English words missing from it, take espeak-ng's IPA mapped
to ARPAbet (:mod:`lyricalign.phonetics`).

One ``set_align_text`` pass over the whole song is the most accurate, but pocketsphinx's
default beams lose the path on music (``hyp()`` is None), and with pruning switched off memory
grows with ``frames x words`` (about 1 GB for a 2.7-minute, 266-word song). So the engine follows
a :class:`BeamSetting` plan: the first setting whose decode reaches the end of the lyrics wins;
settings whose ``frames x words`` exceed their ``max_cost`` are skipped. When all are skipped
(long songs), sequential unpruned windows with a free end align the song in bounded memory.
When every pass fails, :class:`AlignmentError` says so (never a crash or a partial result).

Afterwards, words stretched over more than a second are re-aligned alone on their span to move
onsets past instrumental audio a phone swallowed (:meth:`HMMEngine._refine_onsets`), and
:func:`_diagnose` flags section-level jumps in ``extras()``.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import AlignmentError, EngineUnavailableError, ModelError
from ..phonetics import ARPABET, arpabet_words, espeak_binary
from ..text import Lyrics
from ..timing import WordTiming
from .base import Engine

logger = logging.getLogger(__name__)

HMM_FRAMES_PER_SECOND = 100  # pocketsphinx's feature frame rate
MIN_FRAMES_PER_PHONE = 3  # 3-state left-to-right phone HMMs without skips
PADDING_SECONDS = 0.3  # low noise before and after the song so the first/last words can start/end
#: A word held longer than this probably swallowed an instrumental gap or a skipped section.
MAX_PLAUSIBLE_WORD_SECONDS = 4.0
#: This many consecutive words squeezed to their minimum duration mark a section the decoder skipped.
SQUEEZED_RUN_WORDS = 4
SQUEEZE_FACTOR = 1.5  # "squeezed": at most this times the minimum duration of the word's phones
#: Onset refinement (see HMMEngine._refine_onsets): words this long get a phone-level look ...
REFINE_MIN_WORD_SECONDS = 1.0
#: ... and a phone longer than this, after squeezed phones, is taken to hide a gap before the word.
MAX_PHONE_SECONDS = 0.3


@dataclass(frozen=True)
class BeamSetting:
    """Pruning of one decoding pass (pocketsphinx ``-beam -pbeam -wbeam -maxhmmpf``; 0/-1 = off).

    ``max_cost`` bounds memory: the pass is skipped when ``frames x words`` exceeds it
    (None: no bound; use it only on pruned settings, whose memory does not grow that way).
    """

    beam: float
    pbeam: float
    wbeam: float
    maxhmmpf: int = -1
    max_cost: float | None = None

    def __post_init__(self) -> None:
        for name in ("beam", "pbeam", "wbeam"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.maxhmmpf != -1 and self.maxhmmpf <= 0:
            raise ValueError(f"maxhmmpf must be positive or -1, got {self.maxhmmpf}")
        if self.max_cost is not None and self.max_cost <= 0:
            raise ValueError(f"max_cost must be positive, got {self.max_cost}")

    @property
    def label(self) -> str:
        if self.beam == self.pbeam == self.wbeam == 0.0 and self.maxhmmpf == -1:
            return "unpruned"
        return f"beam={self.beam:g},pbeam={self.pbeam:g},wbeam={self.wbeam:g},maxhmmpf={self.maxhmmpf}"


#: Peak memory of an unpruned pass is about 230 bytes per (frame x word): 4.5e6 is about 1 GB.
MAX_UNPRUNED_COST = 4.5e6
UNPRUNED = BeamSetting(beam=0.0, pbeam=0.0, wbeam=0.0, maxhmmpf=-1, max_cost=MAX_UNPRUNED_COST)
#: One unpruned pass while affordable; longer songs go to the windowed pass (:class:`HMMOptions`).
#: Pruned settings are cheap but, measured on real songs, lose the path (hyp() None) on most.
DEFAULT_BEAM_PLAN: tuple[BeamSetting, ...] = (UNPRUNED,)
WINDOW_SECONDS = 90.0
WINDOW_MARGIN_SECONDS = 30.0  # words ending this close to a window's end are re-aligned in the next
WINDOW_WORD_RATE_FACTOR = 2.5  # a window holds at most this times the song's mean words per second
MIN_WINDOW_WORDS = 40


@dataclass(frozen=True)
class HMMOptions:
    """Everything that shapes an HMM alignment; validated once."""

    beam_plan: tuple[BeamSetting, ...] = DEFAULT_BEAM_PLAN
    padding: float = PADDING_SECONDS
    dither: bool = True
    silprob: float = 0.005  # pocketsphinx default: optional silence between words
    fillprob: float = 1e-8  # noise fillers (+NSN+, +SPN+) between words
    model_dir: str | None = None  # an acoustic model folder; None: pocketsphinx's en-us
    dictionary: str | None = None  # a CMU-format dictionary for English; None: the shipped one
    alternative_pronunciations: bool = True
    refine_onsets: bool = True  # move onsets past gaps swallowed by a stretched phone
    #: Songs too costly for every beam-plan pass are aligned by sequential unpruned windows.
    window_seconds: float = WINDOW_SECONDS
    window_margin_seconds: float = WINDOW_MARGIN_SECONDS
    window_max_cost: float = MAX_UNPRUNED_COST

    def __post_init__(self) -> None:
        if not 0 < self.window_margin_seconds < self.window_seconds:
            raise ValueError("window_margin_seconds must be positive and shorter than window_seconds")
        if self.window_max_cost < self.window_seconds * HMM_FRAMES_PER_SECOND:
            raise ValueError("window_max_cost must afford at least one word per window")
        if not self.beam_plan:
            raise ValueError("beam_plan must contain at least one BeamSetting")
        if not all(isinstance(b, BeamSetting) for b in self.beam_plan):
            raise TypeError("beam_plan must contain BeamSetting values")
        if self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {self.padding}")
        for name in ("silprob", "fillprob"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")


@dataclass(frozen=True)
class _Segment:
    """One decoded dictionary entry: lyrics token index, frames [start, end], acoustic score."""

    token: int
    start_frame: int
    end_frame: int
    ascore: int

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame + 1


@dataclass
class _Report:
    passes: list[dict] = field(default_factory=list)


class HMMEngine(Engine):
    """Forced alignment of phone HMMs (pocketsphinx) to the whole song in one pass."""

    name = "hmm"

    def __init__(self, options: HMMOptions | None = None, **overrides) -> None:
        if options is None:
            if "beam_plan" in overrides:
                overrides["beam_plan"] = tuple(overrides["beam_plan"])
            options = HMMOptions(**overrides)
        elif overrides:
            raise TypeError("pass either options= or keyword overrides, not both")
        self.options = options
        espeak_binary()  # fail now, with the how-to, rather than on the first non-English word
        try:
            import pocketsphinx
        except ImportError as e:
            raise EngineUnavailableError(
                "method 'hmm' needs pocketsphinx: pip install 'lyricalign[classic]'"
            ) from e
        self._ps = pocketsphinx
        base = Path(pocketsphinx.get_model_path()) / "en-us"
        self._model_dir = Path(options.model_dir) if options.model_dir else base / "en-us"
        if not (self._model_dir / "mdef").is_file():
            raise ModelError(f"{self._model_dir}: not a pocketsphinx acoustic model (no mdef)")
        self._cmudict = _read_dictionary(Path(options.dictionary) if options.dictionary else base / "cmudict-en-us.dict")
        self._local = threading.local()

    @property
    def model_name(self) -> str:
        return f"pocketsphinx:{self._model_dir.name}"

    def extras(self) -> dict:
        return dict(getattr(self._local, "extras", {}))

    # --- alignment -------------------------------------------------------------------------
    def align_words(self, audio: np.ndarray, lyrics: Lyrics) -> list[WordTiming | None]:
        """Decode ``audio`` (``(N,)`` float32, 16 kHz) against the lyrics' phone sequence."""
        self._local.extras = {}
        pronunciations = self.pronunciations(lyrics)
        tokens = [i for i, p in enumerate(pronunciations) if p]
        if not tokens:
            raise AlignmentError("no lyrics word has a pronunciation")
        pcm = _to_pcm16(audio, self.options.padding)
        n_frames = len(pcm) // 2 * HMM_FRAMES_PER_SECOND // SAMPLE_RATE
        min_frames = sum(MIN_FRAMES_PER_PHONE * min(len(v) for v in pronunciations[i]) for i in tokens)
        if min_frames > n_frames:
            raise AlignmentError(
                f"audio too short for the lyrics: {n_frames / HMM_FRAMES_PER_SECOND:.1f} s of audio, "
                f"{len(tokens)} words need at least {min_frames / HMM_FRAMES_PER_SECOND:.1f} s"
            )
        report = _Report()
        segments = None
        with tempfile.TemporaryDirectory(prefix="lyricalign-hmm-") as tmp:
            dict_path = Path(tmp) / "song.dict"
            _write_dictionary(dict_path, tokens, pronunciations)
            for setting in self.options.beam_plan:
                cost = float(n_frames) * len(tokens)
                if setting.max_cost is not None and cost > setting.max_cost:
                    report.passes.append({"setting": setting.label, "skipped": f"cost {cost:.3g} > {setting.max_cost:.3g}"})
                    continue
                started = time.perf_counter()
                segments = self._decode(pcm, dict_path, tokens, setting)
                elapsed = time.perf_counter() - started
                report.passes.append({"setting": setting.label, "seconds": round(elapsed, 2), "ok": segments is not None})
                logger.info("hmm pass %s: %s in %.1f s", setting.label, "aligned" if segments else "failed", elapsed)
                if segments is not None:
                    break
            if segments is None and all("skipped" in p for p in report.passes):
                started = time.perf_counter()
                segments = self._decode_windowed(pcm, dict_path, tokens)
                report.passes.append({
                    "setting": f"windowed unpruned ({self.options.window_seconds:g} s)",
                    "seconds": round(time.perf_counter() - started, 2), "ok": segments is not None,
                })
            onsets = self._refine_onsets(pcm, dict_path, segments) if segments and self.options.refine_onsets else {}
        if segments is None:
            self._local.extras = {"passes": report.passes}
            raise AlignmentError(
                "HMM alignment failed: no decoding pass reached the end of the lyrics "
                f"({'; '.join(p['setting'] for p in report.passes)}); the lyrics may not match the audio"
            )
        timings = self._timings(segments, onsets, len(lyrics.words))
        self._local.extras = {
            "passes": report.passes, "refined_onsets": len(onsets), **_diagnose(segments, pronunciations)
        }
        return timings

    def pronunciations(self, lyrics: Lyrics) -> list[list[tuple[str, ...]]]:
        """ARPAbet variants of each lyrics token (``[]`` when it has nothing to align)."""
        parts = [w.spoken.split() for w in lyrics.words]
        english = lyrics.language == "en"
        unknown = sorted({p for ps in parts for p in ps if not (english and p in self._cmudict)})
        from_espeak = dict(zip(unknown, arpabet_words(unknown, lyrics.language))) if unknown else {}

        def variants(part: str) -> list[tuple[str, ...]]:
            if english and part in self._cmudict:
                return self._cmudict[part]
            return [tuple(from_espeak[part])] if from_espeak[part] else []

        result: list[list[tuple[str, ...]]] = []
        for token_parts in parts:
            per_part = [variants(p) for p in token_parts]
            per_part = [v for v in per_part if v]
            if not per_part:
                result.append([])
                continue
            first = tuple(ph for v in per_part for ph in v[0])
            prons = [first]
            if self.options.alternative_pronunciations and len(per_part) == 1:
                prons.extend(v for v in per_part[0][1:] if v != first)
            result.append(prons)
        return result

    def _decoder(self, dict_path: Path, setting: BeamSetting):
        o = self.options
        config = self._ps.Config(
            hmm=str(self._model_dir), dict=str(dict_path), lm=None, samprate=float(SAMPLE_RATE),
            beam=setting.beam, pbeam=setting.pbeam, wbeam=setting.wbeam, maxhmmpf=setting.maxhmmpf,
            dither=o.dither, silprob=o.silprob, fillprob=o.fillprob, loglevel="FATAL",
            bestpath=False,  # the lattice of an unpruned pass is huge and alignment needs no rescoring
        )
        return self._ps.Decoder(config)

    def _decode(
        self, pcm: bytes, dict_path: Path, tokens: list[int], setting: BeamSetting, partial: bool = False
    ) -> list[_Segment] | None:
        """One pass over ``pcm`` (int16 bytes) against ``tokens`` in order; None when it failed.

        ``partial``: the decode may stop after any word (a window of a longer song); otherwise
        it must reach the last word.
        """
        decoder = self._decoder(dict_path, setting)
        names = [f"w{i}" for i in tokens]
        try:
            if partial:
                # chain of words; every state after a word may exit to the final state
                final = len(names) + 1
                transitions = [(k, k + 1, 1.0, name) for k, name in enumerate(names)]
                transitions += [(k, final, 1.0) for k in range(1, len(names) + 1)]
                decoder.add_fsg("window", decoder.create_fsg("window", 0, final, transitions))
                decoder.activate_search("window")
            else:
                decoder.set_align_text(" ".join(names))
            decoder.start_utt()
            decoder.process_raw(pcm, no_search=False, full_utt=True)
            decoder.end_utt()
        except (RuntimeError, ValueError) as e:
            raise AlignmentError(f"pocketsphinx failed: {e}") from e
        if decoder.hyp() is None:
            return None
        segments = list(_word_segments(decoder.seg()))
        expected = tokens[: len(segments)] if partial else tokens
        if not segments or [s.token for s in segments] != expected:
            logger.warning("hmm pass %s returned %d of %d words", setting.label, len(segments), len(tokens))
            return None
        return segments

    def _decode_windowed(self, pcm: bytes, dict_path: Path, tokens: list[int]) -> list[_Segment] | None:
        """Sequential unpruned windows: memory bounded by ``window_max_cost`` whatever the length.

        Each window decodes ``window_seconds`` of audio from the current position against the
        next words and may stop after any of them; words ending before the last
        ``window_margin_seconds`` are kept, and the next window starts where the first word not
        kept was placed (so it is re-aligned with the audio that follows it).
        """
        o = self.options
        bytes_per_frame = 2 * SAMPLE_RATE // HMM_FRAMES_PER_SECOND
        total_frames = len(pcm) // bytes_per_frame
        window = int(o.window_seconds * HMM_FRAMES_PER_SECOND)
        keep_until = window - int(o.window_margin_seconds * HMM_FRAMES_PER_SECOND)
        rate = len(tokens) / total_frames  # words per frame, song average
        n_words = max(MIN_WINDOW_WORDS, math.ceil(WINDOW_WORD_RATE_FACTOR * rate * window))
        n_words = max(1, min(n_words, int(o.window_max_cost // window)))
        kept: list[_Segment] = []
        position, k = 0, 0
        while k < len(tokens):
            end = min(position + window, total_frames)
            words = tokens[k : k + n_words]
            last = end == total_frames and k + len(words) == len(tokens)
            chunk = pcm[position * bytes_per_frame : end * bytes_per_frame]
            segments = self._decode(chunk, dict_path, words, UNPRUNED, partial=not last)
            if segments is None:
                return None
            segments = [replace(s, start_frame=s.start_frame + position, end_frame=s.end_frame + position) for s in segments]
            if last:
                return kept + segments
            accepted = [s for s in segments if s.end_frame < position + keep_until] or segments[:1]
            if len(accepted) == len(segments) and end == total_frames:
                accepted = accepted[:-1] or accepted  # leave the tail to a final, complete pass
            kept += accepted
            k += len(accepted)
            position = accepted[-1].end_frame + 1
            logger.debug("hmm window to frame %d: kept %d words, %d left", end, len(accepted), len(tokens) - k)
        return kept

    def _refine_onsets(self, pcm: bytes, dict_path: Path, segments: list[_Segment]) -> dict[int, int]:
        """New start frames for words whose onset swallowed a stretch of non-vocal audio.

        HMM phone durations are geometric, so on music a phone (often a sonorant or the first
        vowel) can absorb a whole instrumental before the word. For each word longer than
        :data:`REFINE_MIN_WORD_SECONDS`, a phone-level pass over its span finds its longest
        phone; when that phone exceeds :data:`MAX_PHONE_SECONDS` and every phone before it is
        squeezed to its minimum duration, the excess is taken as audio *before* the word and
        the onset moves to the end of the excess. (A held note keeps its onset: the phones
        before it are sung at normal length.)
        """
        bytes_per_frame = 2 * SAMPLE_RATE // HMM_FRAMES_PER_SECOND
        cap = int(MAX_PHONE_SECONDS * HMM_FRAMES_PER_SECOND)
        onsets: dict[int, int] = {}
        for seg in segments:
            if seg.n_frames < REFINE_MIN_WORD_SECONDS * HMM_FRAMES_PER_SECOND:
                continue
            chunk = pcm[seg.start_frame * bytes_per_frame : (seg.end_frame + 1) * bytes_per_frame]
            realigned = self._realign_word(chunk, dict_path, seg.token)
            if realigned is None:
                continue
            offset, phones = realigned
            longest = max(range(len(phones)), key=phones.__getitem__)
            squeezed_prefix = all(d <= SQUEEZE_FACTOR * MIN_FRAMES_PER_PHONE for d in phones[:longest])
            if phones[longest] > cap and squeezed_prefix:
                offset += phones[longest] - cap
            if offset > 0:
                onsets[seg.token] = seg.start_frame + offset
        return onsets

    def _realign_word(self, chunk: bytes, dict_path: Path, token: int) -> tuple[int, list[int]] | None:
        """Word ``token`` force-aligned alone to ``chunk``: its start frame and phone durations."""
        decoder = self._decoder(dict_path, UNPRUNED)
        try:
            decoder.set_align_text(f"w{token}")
            decoder.start_utt()
            decoder.process_raw(chunk, no_search=False, full_utt=True)
            decoder.end_utt()
            if decoder.hyp() is None:
                return None
            decoder.set_alignment()  # second, state-level pass over the same audio
            decoder.start_utt()
            decoder.process_raw(chunk, no_search=False, full_utt=True)
            decoder.end_utt()  # (hyp() of the state-level search crashes pocketsphinx 5.0: not called)
            alignment = decoder.get_alignment()
            if alignment is None:
                return None
            found = []
            for word in alignment:
                if word.name.split("(")[0] == f"w{token}":
                    found.append((word.start, [phone.duration for phone in word]))
        except RuntimeError as e:
            logger.debug("phone alignment of w%d failed: %s", token, e)
            return None
        return found[0] if len(found) == 1 else None

    def _timings(self, segments: list[_Segment], onsets: dict[int, int], n_words: int) -> list[WordTiming | None]:
        pad = self.options.padding
        confidences = _confidences(segments)
        timings: list[WordTiming | None] = [None] * n_words
        for seg, confidence in zip(segments, confidences):
            start = onsets.get(seg.token, seg.start_frame) / HMM_FRAMES_PER_SECOND - pad
            end = (seg.end_frame + 1) / HMM_FRAMES_PER_SECOND - pad
            timings[seg.token] = WordTiming(start=max(0.0, start), end=max(0.0, end), confidence=confidence)
        return timings


def _word_segments(segs: Iterator) -> Iterator[_Segment]:
    """pocketsphinx segments -> lyrics tokens (fillers, silences and sentence marks dropped)."""
    for seg in segs:
        word = seg.word.split("(")[0]  # "w17(2)": alternative pronunciation of w17
        if word.startswith("w") and word[1:].isdigit():
            yield _Segment(token=int(word[1:]), start_frame=seg.start_frame, end_frame=seg.end_frame, ascore=seg.ascore)


def _confidences(segments: Sequence[_Segment]) -> list[float]:
    """Per-word confidence in [0, 1] from the acoustic score per frame, relative to the song.

    Scores are log-likelihoods whose absolute level depends on the recording, so each word is
    compared with the song's median: logistic of the robust z-score (median/MAD), shifted so a
    median word scores about 0.73 and clear outliers approach 0.
    """
    per_frame = np.array([s.ascore / max(1, s.n_frames) for s in segments], dtype=np.float64)
    median = float(np.median(per_frame))
    mad = float(np.median(np.abs(per_frame - median))) * 1.4826 or 1.0
    z = (per_frame - median) / mad
    return [float(1.0 / (1.0 + math.exp(-(v + 1.0)))) for v in np.clip(z, -30, 30)]


def _diagnose(segments: Sequence[_Segment], pronunciations: list[list[tuple[str, ...]]]) -> dict:
    """Song-level plausibility: words stretched over gaps, runs squeezed to minimum duration.

    Both are the signature of a section-level jump: the decoder squeezes lyrics it could not
    place (e.g. a chorus matched to the wrong repetition) and stretches a neighbour over the gap.
    """
    stretched = [s.token for s in segments if s.n_frames / HMM_FRAMES_PER_SECOND > MAX_PLAUSIBLE_WORD_SECONDS]
    runs: list[list[int]] = []
    current: list[int] = []
    for s in segments:
        minimum = MIN_FRAMES_PER_PHONE * min(len(p) for p in pronunciations[s.token])
        if s.n_frames <= SQUEEZE_FACTOR * minimum:
            current.append(s.token)
            continue
        if len(current) >= SQUEEZED_RUN_WORDS:
            runs.append([current[0], current[-1]])
        current = []
    if len(current) >= SQUEEZED_RUN_WORDS:
        runs.append([current[0], current[-1]])
    durations = [s.n_frames / HMM_FRAMES_PER_SECOND for s in segments]
    return {
        "suspect_alignment": bool(stretched or runs),
        "stretched_words": stretched,
        "squeezed_runs": runs,
        "max_word_seconds": round(max(durations), 2),
        "median_word_seconds": round(float(np.median(durations)), 3),
    }


def _to_pcm16(audio: np.ndarray, padding: float) -> bytes:
    """``(N,)`` float32 in [-1, 1] -> little-endian int16 bytes with ``padding`` s of silence each side."""
    pad = np.zeros(int(round(padding * SAMPLE_RATE)), dtype=np.float32)
    samples = np.concatenate([pad, np.asarray(audio, dtype=np.float32).reshape(-1), pad])
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _read_dictionary(path: Path) -> dict[str, list[tuple[str, ...]]]:
    """CMU-format dictionary (``word PH ON ES``, variants ``word(2)``) -> word -> variants."""
    entries: dict[str, list[tuple[str, ...]]] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 2 or line.startswith(";;;"):
                    continue
                word = fields[0].split("(")[0]
                phones = tuple(p for p in fields[1:] if not p.startswith("#"))
                if all(p in ARPABET for p in phones):
                    entries.setdefault(word, []).append(phones)
    except OSError as e:
        raise ModelError(f"{path}: cannot read pronunciation dictionary: {e}") from e
    return entries


def _write_dictionary(path: Path, tokens: list[int], pronunciations: list[list[tuple[str, ...]]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in tokens:
            for k, phones in enumerate(pronunciations[i]):
                key = f"w{i}" if k == 0 else f"w{i}({k + 1})"
                f.write(f"{key} {' '.join(phones)}\n")
