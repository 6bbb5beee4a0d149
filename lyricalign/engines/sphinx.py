"""The reference engine ``sphinx``: pocketsphinx's own C decoder with its pretrained en-us model.

The default engine ``hmm`` runs the same pretrained model through lyricalign's own front end, ONNX
senone scorer and Viterbi (:mod:`lyricalign.engines.hmm`); this engine stays as the reference
for parity tests and benchmarks.

Every lyrics token becomes one dictionary entry (``w17`` -> its ARPAbet phones) so repeated
words, and tokens with several spoken words ("forty two"), are one unit of the alignment;
pronunciations come from :mod:`lyricalign.align.pronounce` (the CMU dictionary for English,
espeak-ng IPA mapped to ARPAbet otherwise).

The default plan is one unpruned word-level pass over the whole song: on held-out songs it beat
the lines-first plan (mean AAE 0.58 vs 1.92 s) that three dev songs had favoured (1.80 vs 1.10 s).
pocketsphinx's default beams lose the path on music, and an unpruned decode keeps about 230
bytes of history per (frame x dictionary entry), so a song whose word-level pass would exceed
``max_cost`` (about 1 GB) is aligned hierarchically: lines first, then each line's words on its
span, every decode bounded by ``max_cost`` (``lines_first=True`` forces that plan). Variants and
their numbers: docs/benchmarks.md ("The pocketsphinx engine's plans (history)").

Confidences come from a free phone loop (pocketsphinx ``allphone``) over each word's frames.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import AlignmentError, EngineUnavailableError, ModelError
from ..acoustic.sphinx_files import read_dictionary
from ..align.pronounce import pronunciations
from ..fsutil import owned_tempdir
from ..phonetics import espeak_binary
from ..text import Lyrics
from ..timing import WordTiming
from .base import Engine, EngineOutput

logger = logging.getLogger(__name__)

HMM_FRAMES_PER_SECOND = 100  # pocketsphinx's feature frame rate
BYTES_PER_FRAME = 2 * SAMPLE_RATE // HMM_FRAMES_PER_SECOND  # int16 samples
MIN_FRAMES_PER_PHONE = 3  # 3-state left-to-right phone HMMs without skips
PADDING_SECONDS = 0.3  # low noise before and after the song so the first/last words can start/end
#: Peak memory of an unpruned decode is about 230 bytes per (frame x dictionary entry): 4.5e6 is about 1 GB.
MAX_DECODE_COST = 4.5e6
#: A lyrics "line" longer than this is lyrics without line breaks: its words are units of their own.
MAX_UNIT_WORDS = 12
#: Pruning of the free phone-loop pass (pocketsphinx ``allphone``) behind the confidences.
PHONE_LOOP_BEAM = 1e-20
PHONE_LOOP_LANGUAGE_WEIGHT = 2.0
#: Long songs (lines merged into units): lines are re-placed in windows of this many units (:meth:`SphinxEngine._slide`).
CONTEXT_UNITS = 3
#: A word held longer than this probably swallowed an instrumental gap or a skipped section.
MAX_PLAUSIBLE_WORD_SECONDS = 4.0
#: This many consecutive words squeezed to their minimum duration mark a section the decoder skipped.
SQUEEZED_RUN_WORDS = 4
SQUEEZE_FACTOR = 1.5  # "squeezed": at most this times the minimum duration of the word's phones
#: Onset refinement (see SphinxEngine._refine_onsets): words this long get a phone-level look ...
REFINE_MIN_WORD_SECONDS = 1.0
#: ... and a phone longer than this, after squeezed phones, is taken to hide a gap before the word.
MAX_PHONE_SECONDS = 0.3


@dataclass(frozen=True)
class BeamSetting:
    """Pruning of one decode (pocketsphinx ``-beam -pbeam -wbeam -maxhmmpf``; 0/-1 = off)."""

    beam: float
    pbeam: float
    wbeam: float
    maxhmmpf: int = -1

    def __post_init__(self) -> None:
        for name in ("beam", "pbeam", "wbeam"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.maxhmmpf != -1 and self.maxhmmpf <= 0:
            raise ValueError(f"maxhmmpf must be positive or -1, got {self.maxhmmpf}")

    @property
    def label(self) -> str:
        if self.beam == self.pbeam == self.wbeam == 0.0 and self.maxhmmpf == -1:
            return "unpruned"
        return f"beam={self.beam:g},pbeam={self.pbeam:g},wbeam={self.wbeam:g},maxhmmpf={self.maxhmmpf}"


UNPRUNED = BeamSetting(beam=0.0, pbeam=0.0, wbeam=0.0, maxhmmpf=-1)
#: Settings tried in order for every decode. Pruned settings are cheap but, measured on real
#: songs, lose the path (hyp() None) on most; so the default is unpruned, bounded by max_cost.
DEFAULT_BEAM_PLAN: tuple[BeamSetting, ...] = (UNPRUNED,)


@dataclass(frozen=True)
class SphinxOptions:
    """Everything that shapes an HMM alignment; validated once."""

    beam_plan: tuple[BeamSetting, ...] = DEFAULT_BEAM_PLAN
    padding: float = PADDING_SECONDS
    dither: bool = True
    silprob: float = 0.005  # pocketsphinx default: optional silence between words
    fillprob: float = 1e-8  # noise fillers (+NSN+, +SPN+) between words
    model_dir: str | None = None  # an acoustic model folder; None: pocketsphinx's en-us
    dictionary: str | None = None  # a CMU-format dictionary for English; None: the shipped one
    alternative_pronunciations: bool = True
    refine_onsets: bool = False  # move onsets past gaps swallowed by a stretched phone (not in the default plan)
    #: Confidences from a free phone loop over the song (:func:`_confidences`); one more pass.
    phone_loop_confidence: bool = True
    #: Lines first, then words (module docstring); False: one word-level pass when affordable.
    lines_first: bool = False
    #: Memory bound of every decode, in frames x dictionary entries (:data:`MAX_DECODE_COST`).
    max_cost: float = MAX_DECODE_COST
    max_unit_words: int = MAX_UNIT_WORDS

    def __post_init__(self) -> None:
        if not self.beam_plan:
            raise ValueError("beam_plan must contain at least one BeamSetting")
        if not all(isinstance(b, BeamSetting) for b in self.beam_plan):
            raise TypeError("beam_plan must contain BeamSetting values")
        if self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {self.padding}")
        for name in ("silprob", "fillprob"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.max_cost <= 0:
            raise ValueError(f"max_cost must be positive, got {self.max_cost}")
        if self.max_unit_words < 1:
            raise ValueError(f"max_unit_words must be >= 1, got {self.max_unit_words}")


@dataclass(frozen=True)
class _Segment:
    """One decoded dictionary entry: its index in the decode's entries, frames [start, end], acoustic score."""

    token: int
    start_frame: int
    end_frame: int
    ascore: int

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame + 1

    def shifted(self, token: int, frames: int) -> "_Segment":
        return _Segment(token, self.start_frame + frames, self.end_frame + frames, self.ascore)


@dataclass
class _Run:
    """State of one ``align_words`` call: inputs, scratch folder, and what each decode cost."""

    pcm: bytes
    pronunciations: list[list[tuple[str, ...]]]
    line_of: list[int]
    folder: Path
    word_dict: Path
    passes: dict[str, dict] = field(default_factory=dict)
    max_cost: float = 0.0
    unaligned_units: int = 0
    _files: Iterator[int] = field(default_factory=itertools.count)

    def record(self, kind: str, cost: float, seconds: float, ok: bool) -> None:
        entry = self.passes.setdefault(kind, {"kind": kind, "decodes": 0, "failed": 0, "seconds": 0.0})
        entry["decodes"] += 1
        entry["failed"] += 0 if ok else 1
        entry["seconds"] = round(entry["seconds"] + seconds, 2)
        self.max_cost = max(self.max_cost, cost)

    def new_dict_path(self) -> Path:
        return self.folder / f"units{next(self._files)}.dict"


def partition(line_of: Sequence[int], max_units: int, max_words: int = MAX_UNIT_WORDS) -> list[tuple[int, int]]:
    """Split a token sequence into at most ``max_units`` contiguous ``[start, stop)`` ranges.

    Ranges follow line boundaries (``line_of[i]``: line of token ``i``): one per line, but a
    line longer than ``max_words`` is not a sung line (lyrics without line breaks), so each of
    its words is its own range; when that gives more than ``max_units`` ranges, runs of
    adjacent ranges merge into near-equal groups.
    """
    if max_units < 1:
        raise ValueError(f"max_units must be >= 1, got {max_units}")
    pieces: list[tuple[int, int]] = []
    for _, group in itertools.groupby(range(len(line_of)), key=line_of.__getitem__):
        indices = list(group)
        if len(indices) > max_words:
            pieces += [(i, i + 1) for i in indices]
        else:
            pieces.append((indices[0], indices[-1] + 1))
    if len(pieces) <= max_units:
        return pieces
    return [(pieces[int(g[0])][0], pieces[int(g[-1])][1]) for g in np.array_split(np.arange(len(pieces)), max_units)]


class SphinxEngine(Engine):
    """Forced alignment of phone HMMs (pocketsphinx): lyrics lines first, then their words."""

    name = "sphinx"

    def __init__(self, options: SphinxOptions | None = None, **overrides) -> None:
        if options is None:
            if "beam_plan" in overrides:
                overrides["beam_plan"] = tuple(overrides["beam_plan"])
            options = SphinxOptions(**overrides)
        elif overrides:
            raise TypeError("pass either options= or keyword overrides, not both")
        self.options = options
        espeak_binary()  # fail now, with the how-to, rather than on the first non-English word
        try:
            import pocketsphinx
        except ImportError as e:
            raise EngineUnavailableError(
                "method 'sphinx' needs pocketsphinx: pip install 'lyricalign[classic]'"
            ) from e
        self._ps = pocketsphinx
        base = Path(pocketsphinx.get_model_path()) / "en-us"
        self._model_dir = Path(options.model_dir) if options.model_dir else base / "en-us"
        if not (self._model_dir / "mdef").is_file():
            raise ModelError(f"{self._model_dir}: not a pocketsphinx acoustic model (no mdef)")
        self._phone_lm = base / "en-us-phone.lm.bin"  # phone bigram of the en-us model
        dictionary = Path(options.dictionary) if options.dictionary else base / "cmudict-en-us.dict"
        self._cmudict = read_dictionary(dictionary)

    @property
    def model_name(self) -> str:
        return f"pocketsphinx:{self._model_dir.name}"

    # --- alignment -------------------------------------------------------------------------
    def align_words(self, audio: np.ndarray, lyrics: Lyrics) -> EngineOutput:
        """Decode ``audio`` (``(N,)`` float32, 16 kHz) against the lyrics' phone sequence; diagnostics:
        decodes per kind, the largest decode cost, refined onsets, and the section-jump flags of
        :func:`_diagnose`. All per-call state lives in locals, so one engine serves concurrent threads."""
        pronunciations = self.pronunciations(lyrics)
        tokens = [i for i, p in enumerate(pronunciations) if p]
        if not tokens:
            raise AlignmentError("no lyrics word has a pronunciation")
        pcm = _to_pcm16(audio, self.options.padding)
        n_frames = len(pcm) // BYTES_PER_FRAME
        min_frames = sum(MIN_FRAMES_PER_PHONE * min(len(v) for v in pronunciations[i]) for i in tokens)
        if min_frames > n_frames:
            raise AlignmentError(
                f"audio too short for the lyrics: {n_frames / HMM_FRAMES_PER_SECOND:.1f} s of audio, "
                f"{len(tokens)} words need at least {min_frames / HMM_FRAMES_PER_SECOND:.1f} s"
            )
        o = self.options
        with owned_tempdir("lyricalign-sphinx-") as tmp:
            run = _Run(pcm=pcm, pronunciations=pronunciations, line_of=[w.line for w in lyrics.words],
                       folder=Path(tmp), word_dict=Path(tmp) / "words.dict")
            _write_dictionary(run.word_dict, [(f"w{i}", pronunciations[i]) for i in tokens])
            segments = self._align_span(run, 0, n_frames, tokens, by_units=o.lines_first)
            tried_units = any(kind.startswith("units") for kind in run.passes)
            if segments is None and tried_units and n_frames * len(tokens) <= o.max_cost:
                logger.info("hmm: the line pass failed; trying one word-level pass")
                segments = self._align_span(run, 0, n_frames, tokens, by_units=False)
            onsets = self._refine_onsets(run, segments) if segments and o.refine_onsets else {}
            phone_loop = None
            if segments and o.phone_loop_confidence:
                started = time.perf_counter()
                phone_loop = self._phone_loop_scores(pcm)
                run.record("phone loop", 0.0, time.perf_counter() - started, phone_loop is not None)
        if not segments:
            tried = "; ".join(f"{p['kind']}: {p['failed']} of {p['decodes']} decodes failed"
                              for p in run.passes.values())
            raise AlignmentError(
                f"HMM alignment failed: no decoding pass reached the end of the lyrics ({tried}); "
                "the lyrics may not match the audio"
            )
        timings = self._timings(segments, onsets, len(lyrics.words), phone_loop)
        extras = {
            "passes": list(run.passes.values()), "max_decode_cost": run.max_cost,
            "unaligned_units": run.unaligned_units, "refined_onsets": len(onsets),
            **_diagnose(segments, pronunciations),
        }
        return EngineOutput(timings, extras)

    def _align_span(self, run: _Run, start: int, stop: int, tokens: list[int], by_units: bool) -> list[_Segment] | None:
        """Segments of ``tokens`` (lyrics indices) in frames ``[start, stop)``; None when the decode failed.

        Word-level when affordable and ``by_units`` is off (or the tokens are one unit);
        otherwise units (lines, or runs of lines merged to fit ``max_cost``) first, then each
        unit's tokens on its span, recursively, so no decode exceeds ``max_cost``.
        """
        o = self.options
        frames = stop - start
        affordable = frames * len(tokens) <= o.max_cost
        if len(tokens) == 1 or affordable and not by_units:
            return self._decode_words(run, start, stop, tokens)
        units = partition([run.line_of[t] for t in tokens], max(1, int(o.max_cost // frames)), o.max_unit_words)
        if len(units) == 1:
            if affordable:
                return self._decode_words(run, start, stop, tokens)
            raise AlignmentError(
                f"audio too long for the HMM engine: {frames / HMM_FRAMES_PER_SECOND:.0f} s for {len(tokens)} words "
                f"exceeds its memory bound (max_cost={o.max_cost:g} frames x dictionary entries)"
            )
        unit_tokens = [tokens[a:b] for a, b in units]
        spans = self._decode_units(run, start, stop, unit_tokens)
        if spans is None:
            return None
        if by_units and len(units) < len(self._lines(run, tokens)):
            return self._slide(run, start, stop, unit_tokens, spans)
        segments: list[_Segment] = []
        for words, span in zip(unit_tokens, spans):
            segments += self._unit_words(run, span, words, by_units)
        return segments

    def _unit_words(self, run: _Run, span: _Segment, tokens: list[int], by_units: bool) -> list[_Segment]:
        """The words of a unit decoded as ``span``; a one-word unit is its own word segment."""
        if len(tokens) == 1:
            return [_Segment(tokens[0], span.start_frame, span.end_frame, span.ascore)]
        return self._align_unit(run, span.start_frame, span.end_frame + 1, tokens, by_units)

    def _align_unit(self, run: _Run, start: int, stop: int, tokens: list[int], by_units: bool) -> list[_Segment]:
        """:meth:`_align_span` of one unit; a failure leaves its words without timing."""
        found = self._align_span(run, start, stop, tokens, by_units) if stop > start else None
        if found is None:
            run.unaligned_units += 1
            logger.warning(
                "hmm: no word alignment for lyrics words %d-%d; they will be interpolated", tokens[0], tokens[-1]
            )
            return []
        return found

    def _lines(self, run: _Run, tokens: list[int]) -> list[list[int]]:
        """``tokens`` cut into lines (long "lines" into words, as in :func:`partition`)."""
        pieces = partition([run.line_of[t] for t in tokens], len(tokens), self.options.max_unit_words)
        return [tokens[a:b] for a, b in pieces]

    def _slide(self, run: _Run, start: int, stop: int, units: list[list[int]], spans: list[_Segment]) -> list[_Segment]:
        """Re-place the lines of merged units in windows seeded by the units' spans.

        When lines had to merge into units (long songs), a unit's boundaries lack the pauses
        between its lines. So, in order, the lines of units ``j .. j+CONTEXT_UNITS-1`` are
        aligned line by line from where unit ``j-1`` ended to where the window's last unit ended
        (the span's end for the last window; never fewer frames than the lines' phones need);
        unit ``j``'s lines are kept, so every boundary is decided with the audio after it in
        view. Windows shrink to fit ``max_cost``.
        """
        segments: list[_Segment] = []
        position = start
        for j, unit in enumerate(units):
            for n_context in range(min(CONTEXT_UNITS, len(units) - j), 0, -1):
                last = j + n_context
                lines = self._lines(run, [t for u in units[j:last] for t in u])
                needed = sum(MIN_FRAMES_PER_PHONE * len(run.pronunciations[t][0]) for t in itertools.chain(*lines))
                end = stop if last == len(units) else min(stop, max(spans[last - 1].end_frame + 1, position + needed))
                if (end - position) * len(lines) <= self.options.max_cost:
                    break
            else:
                lines = []  # even unit j alone is too costly from here
            placed = self._decode_units(run, position, end, lines) if lines and end > position else None
            if placed is None:  # unit j on its own span, recursively
                own = max(position, spans[j].start_frame)
                segments += self._align_unit(run, own, spans[j].end_frame + 1, unit, True)
                position = max(position, spans[j].end_frame + 1)
                continue
            kept = len(lines) if last == len(units) else len(self._lines(run, unit))
            for words, span in zip(lines[:kept], placed[:kept]):
                segments += self._unit_words(run, span, words, False)
            position = placed[kept - 1].end_frame + 1
            if last == len(units):
                break
        return segments

    def _decode_units(self, run: _Run, start: int, stop: int, units: list[list[int]]) -> list[_Segment] | None:
        """Each unit as one dictionary entry: its words' first pronunciations back to back (a
        one-word unit keeps all its variants)."""

        def variants(words: list[int]) -> list[tuple[str, ...]]:
            if len(words) == 1:
                return run.pronunciations[words[0]]
            return [tuple(ph for t in words for ph in run.pronunciations[t][0])]

        path = run.new_dict_path()
        _write_dictionary(path, [(f"u{k}", variants(words)) for k, words in enumerate(units)])
        return self._decode(run, "units", start, stop, path, [f"u{k}" for k in range(len(units))])

    def _decode_words(self, run: _Run, start: int, stop: int, tokens: list[int]) -> list[_Segment] | None:
        segments = self._decode(run, "words", start, stop, run.word_dict, [f"w{t}" for t in tokens])
        return None if segments is None else [s.shifted(tokens[s.token], 0) for s in segments]

    def pronunciations(self, lyrics: Lyrics) -> list[list[tuple[str, ...]]]:
        """ARPAbet variants of each lyrics token (``[]`` when it has nothing to align)."""
        return pronunciations(lyrics, self._cmudict, self.options.alternative_pronunciations)

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
        self, run: _Run, kind: str, start: int, stop: int, dict_path: Path, keys: list[str]
    ) -> list[_Segment] | None:
        """Force-align dictionary entries ``keys`` in order to frames ``[start, stop)`` of the song.

        Tries the beam plan's settings in order. Returns one segment per key (``token`` = its
        index in ``keys``, frames relative to the song), or None when every setting failed.
        """
        chunk = run.pcm[start * BYTES_PER_FRAME : stop * BYTES_PER_FRAME]
        cost = float(stop - start) * len(keys)
        for setting in self.options.beam_plan:
            started = time.perf_counter()
            decoder = self._decoder(dict_path, setting)
            try:
                decoder.set_align_text(" ".join(keys))
                decoder.start_utt()
                decoder.process_raw(chunk, no_search=False, full_utt=True)
                decoder.end_utt()
            except (RuntimeError, ValueError) as e:
                raise AlignmentError(f"pocketsphinx failed: {e}") from e
            segments = list(_entry_segments(decoder.seg(), keys)) if decoder.hyp() is not None else []
            ok = [s.token for s in segments] == list(range(len(keys)))
            del decoder  # free the search history before the next decode
            run.record(f"{kind} {setting.label}", cost, time.perf_counter() - started, ok)
            if ok:
                return [s.shifted(s.token, start) for s in segments]
            logger.debug("hmm %s decode (%s) of %d entries failed", kind, setting.label, len(keys))
        return None

    def _refine_onsets(self, run: _Run, segments: list[_Segment]) -> dict[int, int]:
        """New start frames for words whose onset swallowed a stretch of non-vocal audio.

        HMM phone durations are geometric, so on music a phone (often a sonorant or the first
        vowel) can absorb a whole instrumental before the word. For each word longer than
        :data:`REFINE_MIN_WORD_SECONDS`, a phone-level pass over its span finds its longest
        phone; when that phone exceeds :data:`MAX_PHONE_SECONDS` and every phone before it is
        squeezed to its minimum duration, the excess is taken as audio *before* the word and
        the onset moves to the end of the excess. (A held note keeps its onset: the phones
        before it are sung at normal length.)
        """
        cap = int(MAX_PHONE_SECONDS * HMM_FRAMES_PER_SECOND)
        onsets: dict[int, int] = {}
        for seg in segments:
            if seg.n_frames < REFINE_MIN_WORD_SECONDS * HMM_FRAMES_PER_SECOND:
                continue
            chunk = run.pcm[seg.start_frame * BYTES_PER_FRAME : (seg.end_frame + 1) * BYTES_PER_FRAME]
            realigned = self._realign_word(chunk, run.word_dict, seg.token)
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

    def _phone_loop_scores(self, pcm: bytes) -> np.ndarray | None:
        """``(frames,)`` acoustic score per frame of the best free phone sequence over the song.

        pocketsphinx's ``allphone`` search with the model's phone bigram: how well *any* speech
        explains each frame. None when the model has no phone bigram or the pass fails.
        """
        if not self._phone_lm.is_file():
            return None
        o = self.options
        config = self._ps.Config(
            hmm=str(self._model_dir), allphone=str(self._phone_lm), lm=None, dict=None,
            samprate=float(SAMPLE_RATE), beam=PHONE_LOOP_BEAM, pbeam=PHONE_LOOP_BEAM,
            lw=PHONE_LOOP_LANGUAGE_WEIGHT, dither=o.dither, loglevel="FATAL", bestpath=False,
        )
        try:
            decoder = self._ps.Decoder(config)
            decoder.start_utt()
            decoder.process_raw(pcm, no_search=False, full_utt=True)
            decoder.end_utt()
            scores = np.zeros(len(pcm) // BYTES_PER_FRAME + 1, dtype=np.float64)
            for seg in decoder.seg():
                scores[seg.start_frame : seg.end_frame + 1] = seg.ascore / (seg.end_frame - seg.start_frame + 1)
        except RuntimeError as e:
            logger.warning("hmm: phone-loop pass failed (%s); confidences from the alignment scores", e)
            return None
        return scores

    def _timings(
        self, segments: list[_Segment], onsets: dict[int, int], n_words: int, phone_loop: np.ndarray | None
    ) -> list[WordTiming | None]:
        pad = self.options.padding
        confidences = _confidences(segments, phone_loop)
        timings: list[WordTiming | None] = [None] * n_words
        for seg, confidence in zip(segments, confidences):
            start = onsets.get(seg.token, seg.start_frame) / HMM_FRAMES_PER_SECOND - pad
            end = (seg.end_frame + 1) / HMM_FRAMES_PER_SECOND - pad
            timings[seg.token] = WordTiming(start=max(0.0, start), end=max(0.0, end), confidence=confidence)
        return timings


def _entry_segments(segs: Iterator, keys: list[str]) -> Iterator[_Segment]:
    """pocketsphinx segments -> indices into ``keys`` (fillers, silences and sentence marks dropped)."""
    index = {key: k for k, key in enumerate(keys)}
    for seg in segs:
        key = seg.word.split("(")[0]  # "w17(2)": alternative pronunciation of w17
        if key in index:
            yield _Segment(token=index[key], start_frame=seg.start_frame, end_frame=seg.end_frame, ascore=seg.ascore)


def _confidences(segments: Sequence[_Segment], phone_loop: np.ndarray | None = None) -> list[float]:
    """Per-word confidence in [0, 1], relative to the song.

    With ``phone_loop`` (``(frames,)`` scores of a free phone loop): the mean over the word's
    frames, i.e. how well *some* speech explains the audio the word was placed on; a word
    pushed onto an instrumental scores low. Without: the word's own acoustic score per frame
    (weak: stretched phones on steady instruments score well). Scores are log-likelihoods whose
    level depends on the recording, so each word is compared with the song's median: logistic
    of the robust z-score (median/MAD), shifted so a median word scores about 0.73 and clear
    outliers approach 0.
    """
    if phone_loop is not None:
        per_frame = np.array([phone_loop[s.start_frame : s.end_frame + 1].mean() for s in segments])
    else:
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


def _write_dictionary(path: Path, entries: Sequence[tuple[str, Sequence[tuple[str, ...]]]]) -> None:
    """CMU-format dictionary: each key with its variants (``key``, ``key(2)``, ...)."""
    with open(path, "w", encoding="utf-8") as f:
        for key, variants in entries:
            for k, phones in enumerate(variants):
                f.write(f"{key if k == 0 else f'{key}({k + 1})'} {' '.join(phones)}\n")
