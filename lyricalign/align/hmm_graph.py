"""The decoding graph of a song: its words' phone HMMs in order, with optional silences.

Lyrics tokens (each with one or more pronunciations, ARPAbet phones) become one left-to-right
graph over the whole song::

    [SIL?] word0 (variant a | variant b ...) [SIL?] word1 (...) [SIL?] ... wordN [SIL?]

Every phone is its word-position-aware triphone from the model definition (``b``/``i``/``e``
positions inside a word, ``s`` for one-phone words); across word boundaries the context is the
neighbouring word's first pronunciation (measured better than SIL as the context: 0.96 vs
1.63 s AAE on the dev songs, docs/benchmarks.md). A triphone the model lacks backs off to its
CI phone. Each phone is three emitting states with the model's transition matrix; a word's last
state exits into the next word directly or through an optional silence (log penalty
``silence_logp``). Without optional silences alignment collapses (18 s AAE): music needs them.

States are laid out in graph order, so most arcs are "stay" or "advance to the next state" and
only word entries and silences need jumps (the layout :class:`~lyricalign.align.hmm_viterbi.HMMGraph`
is fast for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..acoustic.scorer import SenoneSelection
from ..acoustic.sphinx_mdef import ModelDefinition
from ..errors import AlignmentError
from .hmm_viterbi import MAX_JUMPS_PER_STATE, HMMGraph

SILENCE = "SIL"
Pronunciation = tuple[str, ...]


@dataclass(frozen=True)
class GraphOptions:
    """Shape of the decoding graph; validated once."""

    silence_logp: float = 0.0  # log-probability added on entering an optional silence between words
    optional_silence: bool = True
    edge_silence: bool = True  # optional silence before the first and after the last word
    cross_word_context: bool = True  # False: SIL is the context at word boundaries
    max_variants: int = 8  # pronunciations kept per word (word entries then have <= 9 + fillers incoming jumps)
    #: Noise fillers of the model (e.g. "+NSN+") allowed wherever an optional silence is, in parallel to it.
    fillers: tuple[str, ...] = ()
    #: Weight of the phones' own transition log-probabilities (self-loops, advances, exits) against the
    #: emissions' (which the engine scales by its acoustic scale).
    transition_scale: float = 1.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.transition_scale) or not 0 < self.transition_scale <= 1:
            raise ValueError(f"transition_scale must be in (0, 1], got {self.transition_scale}")
        if not np.isfinite(self.silence_logp) or self.silence_logp > 0:
            raise ValueError(f"silence_logp must be a finite log-probability <= 0, got {self.silence_logp}")
        if not 1 <= self.max_variants + len(self.fillers) < MAX_JUMPS_PER_STATE:
            raise ValueError(f"max_variants + fillers must be in [1, {MAX_JUMPS_PER_STATE - 1}], got "
                             f"{self.max_variants} + {len(self.fillers)}")


@dataclass(frozen=True, eq=False)
class WordGraph:
    """A song's graph and what each of its ``N`` states stands for.

    Attributes:
        hmm: the graph; ``hmm.emission`` indexes the columns of ``selection``.
        selection: the senones to score, grouped by codebook (graph senones + ``extra_senones``).
        senone: ``(N,)`` model senone id of each state.
        phone: ``(N,)`` CI phone id of each state (its triphone's base phone).
        slot: ``(N,)`` index into ``tokens`` of the word a state belongs to, -1 for silences.
        tokens: lyrics token index of each word slot, in graph order.
    """

    hmm: HMMGraph
    selection: SenoneSelection
    senone: np.ndarray
    phone: np.ndarray
    slot: np.ndarray
    tokens: tuple[int, ...]


@dataclass
class _Builder:
    definition: ModelDefinition
    log_transitions: np.ndarray
    senones: list[int] = field(default_factory=list)
    phones: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    arcs: list[tuple[int, int, float]] = field(default_factory=list)

    def chain(self, units: Sequence[tuple[int, int]], slot: int) -> tuple[int, int, float]:
        """Append phones ``(senone-sequence id, CI phone id)`` back to back; ``(first, last, exit logp)``."""
        first, exit_logp = len(self.senones), None
        for sseq, phone in units:
            tmat = self.log_transitions[self.definition.tmat_of_phone[phone]]
            start = len(self.senones)
            if exit_logp is not None:
                self.arcs.append((start - 1, start, exit_logp))
            for j, senone in enumerate(self.definition.senone_sequences[sseq]):
                self.senones.append(int(senone))
                self.phones.append(phone)
                self.slots.append(slot)
                self.arcs.append((start + j, start + j, float(tmat[j, j])))
                if j:
                    self.arcs.append((start + j - 1, start + j, float(tmat[j - 1, j])))
            exit_logp = float(tmat[-1, -1])
        return first, len(self.senones) - 1, exit_logp


def build_word_graph(
    pronunciations: Sequence[Sequence[Pronunciation]],
    tokens: Sequence[int],
    definition: ModelDefinition,
    log_transitions: np.ndarray,
    options: GraphOptions = GraphOptions(),
    extra_senones: np.ndarray | None = None,
) -> WordGraph:
    """The graph of the words ``tokens`` (lyrics indices), each with its ``pronunciations[i]`` variants.

    Raises:
        AlignmentError: no words, or a word without a pronunciation.
        ModelError: a phone the model does not know.
    """
    if not tokens:
        raise AlignmentError("no lyrics word has a pronunciation")
    variants = [list(dict.fromkeys(pronunciations[t]))[: options.max_variants] for t in tokens]
    if any(not v or not all(v) for v in variants):
        raise AlignmentError("every aligned word needs a non-empty pronunciation")
    b = _Builder(definition, log_transitions * options.transition_scale)
    initial: dict[int, float] = {}
    gaps = [[(definition.ci_sseq[definition.phone_id(name)], definition.phone_id(name))]
            for name in (SILENCE, *options.fillers)]  # each an alternative for a pause
    exits: list[tuple[int, float]] = []
    if options.edge_silence:
        for gap in gaps:
            first, last, out = b.chain(gap, -1)
            initial[first] = 0.0
            exits.append((last, out))
    for k, word in enumerate(variants):
        left = variants[k - 1][0][-1] if k and options.cross_word_context else SILENCE
        right = variants[k + 1][0][0] if k + 1 < len(variants) and options.cross_word_context else SILENCE
        ends = []
        for pron in word:
            first, last, out = b.chain(_triphones(pron, left, right, definition), k)
            b.arcs += [(src, first, logp) for src, logp in exits]
            if k == 0:
                initial[first] = 0.0
            ends.append((last, out))
        exits = ends
        is_last = k + 1 == len(variants)
        if options.edge_silence if is_last else options.optional_silence:
            exits = list(ends)
            for gap in gaps:
                first, last, out = b.chain(gap, -1)
                b.arcs += [(src, first, logp + options.silence_logp) for src, logp in ends]
                exits.append((last, out))
    return _finish(b, initial, exits, tokens, definition, extra_senones)


def _finish(b: _Builder, initial: dict[int, float], exits: list[tuple[int, float]], tokens: Sequence[int],
            definition: ModelDefinition, extra_senones: np.ndarray | None) -> WordGraph:
    n = len(b.senones)
    start, final = np.full(n, -np.inf), np.full(n, -np.inf)
    for s, logp in initial.items():
        start[s] = logp
    for s, logp in exits:
        final[s] = logp
    senone = np.array(b.senones, dtype=np.int64)
    wanted = senone if extra_senones is None else np.concatenate([senone, np.asarray(extra_senones, np.int64)])
    selection = SenoneSelection.of(wanted, definition.senone_codebook, int(definition.senone_codebook.max()) + 1)
    hmm = HMMGraph.from_arcs(selection.index_of(senone), b.arcs, start, final)
    return WordGraph(hmm=hmm, selection=selection, senone=senone, phone=np.array(b.phones, dtype=np.int32),
                     slot=np.array(b.slots, dtype=np.int32), tokens=tuple(tokens))


def _triphones(pron: Pronunciation, left: str, right: str, definition: ModelDefinition) -> list[tuple[int, int]]:
    """``(senone-sequence id, CI phone id)`` of each phone of ``pron`` in its context."""
    units = []
    n = len(pron)
    for i, base in enumerate(pron):
        position = "s" if n == 1 else "b" if i == 0 else "e" if i == n - 1 else "i"
        before = pron[i - 1] if i else left
        after = pron[i + 1] if i + 1 < n else right
        phone = definition.phone_id(base)
        sseq = definition.triphone(base, before, after, position)
        units.append((int(definition.ci_sseq[phone]) if sseq is None else sseq, phone))
    return units


def word_spans(graph: WordGraph, states: np.ndarray) -> list[tuple[int, int] | None]:
    """``[start, stop)`` frames of each word slot on a state path (None for a slot the path skips)."""
    slots = graph.slot[states]
    spans: list[tuple[int, int] | None] = [None] * len(graph.tokens)
    inside = np.flatnonzero(slots >= 0)
    if len(inside) == 0:
        return spans
    change = np.flatnonzero(np.diff(slots[inside]) != 0) + 1
    for run in np.split(inside, change):
        slot = int(slots[run[0]])
        spans[slot] = (int(run[0]), int(run[-1]) + 1)
    return spans
