"""The ``sphinx`` engine: the plan of decodes (whole song, or units then words on sliding windows),
pocketsphinx decoders, onset refinement and the phone-loop pass (see :mod:`lyricalign.engines.sphinx`)."""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import AlignmentError, EngineUnavailableError, ModelError
from ...acoustic.sphinx_files import read_dictionary
from ...align.pronounce import pronunciations
from ...fsutil import owned_tempdir
from ...phonetics import espeak_binary
from ...text import Lyrics
from ...timing import WordTiming
from ..base import Engine, EngineOutput
from .diagnostics import diagnose, word_confidences
from .options import (
    BYTES_PER_FRAME,
    CONTEXT_UNITS,
    HMM_FRAMES_PER_SECOND,
    MAX_PHONE_SECONDS,
    MIN_FRAMES_PER_PHONE,
    PHONE_LOOP_BEAM,
    PHONE_LOOP_LANGUAGE_WEIGHT,
    REFINE_MIN_WORD_SECONDS,
    SQUEEZE_FACTOR,
    UNPRUNED,
    BeamSetting,
    SphinxOptions,
)
from .plan import Run, Segment, entry_segments, partition, to_pcm16, write_dictionary

logger = logging.getLogger("lyricalign.engines.sphinx")

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
        :func:`diagnose`. All per-call state lives in locals, so one engine serves concurrent threads."""
        pronunciations = self.pronunciations(lyrics)
        tokens = [i for i, p in enumerate(pronunciations) if p]
        if not tokens:
            raise AlignmentError("no lyrics word has a pronunciation")
        pcm = to_pcm16(audio, self.options.padding)
        n_frames = len(pcm) // BYTES_PER_FRAME
        min_frames = sum(MIN_FRAMES_PER_PHONE * min(len(v) for v in pronunciations[i]) for i in tokens)
        if min_frames > n_frames:
            raise AlignmentError(
                f"audio too short for the lyrics: {n_frames / HMM_FRAMES_PER_SECOND:.1f} s of audio, "
                f"{len(tokens)} words need at least {min_frames / HMM_FRAMES_PER_SECOND:.1f} s"
            )
        o = self.options
        with owned_tempdir("lyricalign-sphinx-") as tmp:
            run = Run(pcm=pcm, pronunciations=pronunciations, line_of=[w.line for w in lyrics.words],
                       folder=Path(tmp), word_dict=Path(tmp) / "words.dict")
            write_dictionary(run.word_dict, [(f"w{i}", pronunciations[i]) for i in tokens])
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
            **diagnose(segments, pronunciations),
        }
        return EngineOutput(timings, extras)

    def _align_span(self, run: Run, start: int, stop: int, tokens: list[int], by_units: bool) -> list[Segment] | None:
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
        segments: list[Segment] = []
        for words, span in zip(unit_tokens, spans):
            segments += self._unit_words(run, span, words, by_units)
        return segments

    def _unit_words(self, run: Run, span: Segment, tokens: list[int], by_units: bool) -> list[Segment]:
        """The words of a unit decoded as ``span``; a one-word unit is its own word segment."""
        if len(tokens) == 1:
            return [Segment(tokens[0], span.start_frame, span.end_frame, span.ascore)]
        return self._align_unit(run, span.start_frame, span.end_frame + 1, tokens, by_units)

    def _align_unit(self, run: Run, start: int, stop: int, tokens: list[int], by_units: bool) -> list[Segment]:
        """:meth:`_align_span` of one unit; a failure leaves its words without timing."""
        found = self._align_span(run, start, stop, tokens, by_units) if stop > start else None
        if found is None:
            run.unaligned_units += 1
            logger.warning(
                "hmm: no word alignment for lyrics words %d-%d; they will be interpolated", tokens[0], tokens[-1]
            )
            return []
        return found

    def _lines(self, run: Run, tokens: list[int]) -> list[list[int]]:
        """``tokens`` cut into lines (long "lines" into words, as in :func:`partition`)."""
        pieces = partition([run.line_of[t] for t in tokens], len(tokens), self.options.max_unit_words)
        return [tokens[a:b] for a, b in pieces]

    def _slide(self, run: Run, start: int, stop: int, units: list[list[int]], spans: list[Segment]) -> list[Segment]:
        """Re-place the lines of merged units in windows seeded by the units' spans.

        When lines had to merge into units (long songs), a unit's boundaries lack the pauses
        between its lines. So, in order, the lines of units ``j .. j+CONTEXT_UNITS-1`` are
        aligned line by line from where unit ``j-1`` ended to where the window's last unit ended
        (the span's end for the last window; never fewer frames than the lines' phones need);
        unit ``j``'s lines are kept, so every boundary is decided with the audio after it in
        view. Windows shrink to fit ``max_cost``.
        """
        segments: list[Segment] = []
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

    def _decode_units(self, run: Run, start: int, stop: int, units: list[list[int]]) -> list[Segment] | None:
        """Each unit as one dictionary entry: its words' first pronunciations back to back (a
        one-word unit keeps all its variants)."""

        def variants(words: list[int]) -> list[tuple[str, ...]]:
            if len(words) == 1:
                return run.pronunciations[words[0]]
            return [tuple(ph for t in words for ph in run.pronunciations[t][0])]

        path = run.new_dict_path()
        write_dictionary(path, [(f"u{k}", variants(words)) for k, words in enumerate(units)])
        return self._decode(run, "units", start, stop, path, [f"u{k}" for k in range(len(units))])

    def _decode_words(self, run: Run, start: int, stop: int, tokens: list[int]) -> list[Segment] | None:
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
        self, run: Run, kind: str, start: int, stop: int, dict_path: Path, keys: list[str]
    ) -> list[Segment] | None:
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
            segments = list(entry_segments(decoder.seg(), keys)) if decoder.hyp() is not None else []
            ok = [s.token for s in segments] == list(range(len(keys)))
            del decoder  # free the search history before the next decode
            run.record(f"{kind} {setting.label}", cost, time.perf_counter() - started, ok)
            if ok:
                return [s.shifted(s.token, start) for s in segments]
            logger.debug("hmm %s decode (%s) of %d entries failed", kind, setting.label, len(keys))
        return None

    def _refine_onsets(self, run: Run, segments: list[Segment]) -> dict[int, int]:
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
        self, segments: list[Segment], onsets: dict[int, int], n_words: int, phone_loop: np.ndarray | None
    ) -> list[WordTiming | None]:
        pad = self.options.padding
        confidences = word_confidences(segments, phone_loop)
        timings: list[WordTiming | None] = [None] * n_words
        for seg, confidence in zip(segments, confidences):
            start = onsets.get(seg.token, seg.start_frame) / HMM_FRAMES_PER_SECOND - pad
            end = (seg.end_frame + 1) / HMM_FRAMES_PER_SECOND - pad
            timings[seg.token] = WordTiming(start=max(0.0, start), end=max(0.0, end), confidence=confidence)
        return timings
