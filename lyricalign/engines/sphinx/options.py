"""The ``sphinx`` engine's constants and options: pocketsphinx's frame geometry, decode pruning
(:class:`BeamSetting`), memory bounds and the plan (:class:`SphinxOptions`)."""

from __future__ import annotations

from dataclasses import dataclass

from ...audio import SAMPLE_RATE

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
    #: Confidences from a free phone loop over the song
    #: (:func:`~lyricalign.engines.sphinx.diagnostics.word_confidences`); one more pass.
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
