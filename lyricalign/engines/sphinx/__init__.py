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

from .engine import SphinxEngine
from .options import (
    DEFAULT_BEAM_PLAN,
    HMM_FRAMES_PER_SECOND,
    MAX_DECODE_COST,
    MAX_UNIT_WORDS,
    UNPRUNED,
    BeamSetting,
    SphinxOptions,
)
from .plan import partition

__all__ = [
    "DEFAULT_BEAM_PLAN", "HMM_FRAMES_PER_SECOND", "MAX_DECODE_COST", "MAX_UNIT_WORDS", "UNPRUNED", "BeamSetting",
    "SphinxEngine", "SphinxOptions", "partition",
]
