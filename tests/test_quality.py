"""The song-level quality verdict: its searches against brute force, its statistic on hand-built scores,
the language check, and the engine's verdict on a synthetic song with its own and with other lyrics."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from _synth_utils import make_synthetic_song
from lyricalign.acoustic.checkpoint import load_checkpoint
from lyricalign.api import AlignOptions, align
from lyricalign.align.hmm_graph import GraphOptions, build_word_graph
from lyricalign.align.hmm_viterbi import HMMGraph, viterbi, viterbi_reference
from lyricalign.align.forward import ForwardSearch, PhoneLoop, PhoneLoopSearch, loop_score_reference
from lyricalign.align.quality import (
    MIN_GAIN,
    UNDECIDED,
    QualityProbe,
    QualityVerdict,
    confidence_summary,
    language_mismatch,
    null_hmm,
    quality_probe,
    rotated,
    verdict,
)
from lyricalign.engines.hmm import HMMEngine
from lyricalign.text import parse_lyrics

RNG = np.random.default_rng(7)


def _tmat(stay: float, n_states: int = 3) -> np.ndarray:
    """``(E, E + 1)`` left-to-right log transition matrix (stay or advance; the last column is the exit)."""
    out = np.full((n_states, n_states + 1), -np.inf)
    for j in range(n_states):
        out[j, j], out[j, j + 1] = np.log(stay), np.log(1 - stay)
    return out


def _loop(n_phones: int = 3, n_states: int = 3) -> PhoneLoop:
    columns = np.arange(n_phones * n_states).reshape(n_phones, n_states)
    return PhoneLoop.uniform(columns, np.stack([_tmat(0.5 + 0.1 * p, n_states) for p in range(n_phones)]))


def test_phone_loop_score_equals_brute_force_in_any_blocks():
    loop = _loop()
    scores = RNG.normal(-5, 3, size=(40, 12)).astype(np.float32)  # columns 9-11 are never read
    expected = loop_score_reference(loop, scores, scale=0.2)
    for cuts in ([40], [1, 39], [7, 13, 20]):
        search = PhoneLoopSearch(loop, scale=0.2)
        for block in np.split(scores, np.cumsum(cuts)[:-1]):
            search.feed(block)
        assert search.score() == pytest.approx(expected, abs=1e-6)
    assert loop.entry_logp == pytest.approx(-np.log(3))


def test_phone_loop_follows_the_best_phone_sequence():
    # two one-state phones; frames 0-4 favour phone 0, 5-9 phone 1: one switch, paid once with the prior
    loop = PhoneLoop.uniform(np.array([[0], [1]]), np.stack([_tmat(0.9, 1), _tmat(0.9, 1)]))
    scores = np.full((10, 2), -10.0, dtype=np.float32)
    scores[:5, 0] = scores[5:, 1] = 0.0
    search = PhoneLoopSearch(loop)
    search.feed(scores)
    stay, leave = np.log(0.9), np.log(0.1)
    assert search.score() == pytest.approx(2 * np.log(0.5) + 8 * stay + 2 * leave)


def test_phone_loop_input_checks():
    with pytest.raises(ValueError, match="log_transitions"):
        PhoneLoop.uniform(np.zeros((2, 3), np.int64), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="entry_logp"):
        PhoneLoop(np.zeros((2, 1), np.int64), np.zeros((2, 1, 2)), 0.5)
    search = PhoneLoopSearch(_loop())
    with pytest.raises(ValueError, match="no frames"):
        search.score()
    with pytest.raises(ValueError, match="scores must be"):
        search.feed(np.zeros((4, 3), np.float32))


def _random_graph(n: int = 9, n_columns: int = 4) -> HMMGraph:
    arcs = [(s, s, -0.3) for s in range(n)] + [(s - 1, s, -1.2) for s in range(1, n)]
    arcs += [(0, 3, -2.0), (2, 6, -0.7), (5, 8, -1.5), (7, 2, -3.0)]  # jumps, one of them backwards
    emission = RNG.integers(0, n_columns, size=n)
    initial = np.full(n, -np.inf)
    initial[[0, 1]] = 0.0
    final = np.full(n, -np.inf)
    final[[7, 8]] = [-0.5, 0.0]
    return HMMGraph.from_arcs(emission, arcs, initial, final)


def test_forward_search_scores_like_the_viterbi_search():
    graph = _random_graph()
    scores = RNG.normal(-4, 2, size=(30, 4)).astype(np.float32)
    search = ForwardSearch(graph, 30, scale=0.2)
    search.feed(scores[:11])
    search.feed(scores[11:])
    assert search.score() == pytest.approx(viterbi(graph, scores, 0.2).score, abs=1e-6)
    assert search.score() == pytest.approx(viterbi_reference(graph, scores, 0.2).score, abs=1e-6)
    with pytest.raises(ValueError, match="fed 31 frames"):
        search.feed(scores[:1])
    with pytest.raises(ValueError, match="fed 11 of 30"):
        unfinished = ForwardSearch(graph, 30)
        unfinished.feed(scores[:11])
        unfinished.score()


def test_rotation_puts_the_second_half_first():
    assert rotated([0, 1, 2, 3, 4]) == [2, 3, 4, 0, 1]
    assert rotated([5, 6]) == [6, 5]
    assert rotated([3]) == [3]


def _chain(columns: list[int]) -> HMMGraph:
    """One state per "word" in order, each emitting its column, optional nothing else."""
    n = len(columns)
    arcs = [(s, s, np.log(0.9)) for s in range(n)] + [(s - 1, s, np.log(0.1)) for s in range(1, n)]
    initial, final = np.full(n, -np.inf), np.full(n, -np.inf)
    initial[0], final[-1] = 0.0, 0.0
    return HMMGraph.from_arcs(columns, arcs, initial, final)


def _judge(scores: np.ndarray, lyrics: list[int]) -> QualityVerdict:
    """The verdict of ``lyrics`` (one column per word) against their rotation and a loop over the columns."""
    n_columns = scores.shape[1]
    loop = PhoneLoop.uniform(np.arange(n_columns)[:, None], np.stack([_tmat(0.9, 1)] * n_columns))
    null = _chain([lyrics[i] for i in rotated(range(len(lyrics)))])
    probe = QualityProbe(lambda selection: (null, loop), len(scores), 1.0)
    probe.feed(scores[:15])
    probe.feed(scores[15:])
    return verdict(viterbi(_chain(lyrics), scores).score, probe)


def test_lyrics_that_fit_are_not_suspect_and_unrelated_lyrics_are():
    # four "words" (columns) sung in order 0 1 2 3, ten frames each; the evidence per frame is 2 nats
    scores = np.full((40, 4), -2.0, dtype=np.float32)
    for k in range(4):
        scores[10 * k : 10 * k + 10, k] = 0.0
    right = _judge(scores, [0, 1, 2, 3])
    assert right.gain > 0.5 and not right.suspect and right.warning is None
    assert right.to_dict()["score"] == pytest.approx(min(right.gain, 1.0), abs=1e-4)  # the lyrics may beat the loop
    # the same audio with words it does not contain in that order: no better than their rotation
    noise = RNG.normal(-2, 1, size=(40, 4)).astype(np.float32)
    wrong = _judge(noise, [0, 1, 2, 3])
    assert abs(wrong.gain) < 0.5
    scrambled = _judge(scores, [2, 3, 0, 1])  # the song's words in the rotated order: the null wins
    assert scrambled.gain <= 0 and scrambled.suspect and "another order" in scrambled.warning
    assert scrambled.to_dict()["score"] == 0.0


def test_the_gain_is_the_share_of_the_way_from_the_null_to_the_loop():
    v = QualityVerdict(lyrics_score=-90.0, null_score=-100.0, loop_score=-60.0, n_frames=10)
    assert v.gain == pytest.approx(0.25) and not v.suspect
    assert v.to_dict()["null_llr_per_frame"] == pytest.approx(1.0)
    assert v.to_dict()["loop_llr_per_frame"] == pytest.approx(-3.0)
    low = QualityVerdict(lyrics_score=-99.0, null_score=-100.0, loop_score=-60.0, n_frames=10)
    assert low.gain < MIN_GAIN and low.suspect
    # the null as good as the free loop: only the lead's sign counts
    assert QualityVerdict(-50.0, -60.0, -60.0, 10).gain == 1.0
    assert QualityVerdict(-70.0, -60.0, -60.0, 10).gain == 0.0


@pytest.fixture(scope="module")
def checkpoint(acoustic_checkpoint):
    return load_checkpoint(acoustic_checkpoint)


def test_null_graph_reads_the_lyrics_columns_with_ci_back_off(checkpoint):
    d = checkpoint.definition
    prons = [[("HH", "AH", "L", "OW")], [("W", "ER", "L", "D")], [("S", "IH", "NG")]]
    graph = build_word_graph(prons, [0, 1, 2], d, checkpoint.log_transitions,
                             extra_senones=np.arange(d.n_ci_senones))
    null = build_word_graph(prons, rotated([0, 1, 2]), d, checkpoint.log_transitions)
    hmm = null_hmm(null, graph.selection, d)
    read = graph.selection.senones[hmm.emission]
    ci = d.senone_sequences[d.ci_sseq[null.phone], np.arange(null.hmm.n_states) % 3]
    kept = np.isin(null.senone, graph.selection.senones)
    assert np.array_equal(read[kept], null.senone[kept])  # shared triphones read as themselves
    assert not kept.all() and np.array_equal(read[~kept], ci[~kept])  # junction triphones back off to CI
    assert np.array_equal(hmm.self_logp, null.hmm.self_logp)
    bare = build_word_graph(prons, [0, 1, 2], d, checkpoint.log_transitions)  # no CI senones scored
    with pytest.raises(ValueError, match="not in the selection"):
        null_hmm(null, bare.selection, d)


def test_lyrics_equal_to_their_rotation_get_no_probe(checkpoint):
    d = checkpoint.definition
    la = [("L", "AA")]
    graph = build_word_graph([la] * 4, [0, 1, 2, 3], d, checkpoint.log_transitions,
                             extra_senones=np.arange(d.n_ci_senones))
    args = (d, checkpoint.log_transitions, GraphOptions(), 2, 0.2)
    assert quality_probe([la] * 4, [0, 1, 2, 3], *args) is None  # "la la la la": no null to compare
    assert quality_probe([la, [("OW",)]] * 2, [0, 1, 2, 3], *args) is None  # "la oh la oh": the same rotated
    assert UNDECIDED["score"] is None and not UNDECIDED["suspect"]
    three = [la, [("OW",)], [("M", "IY")]]
    probe = quality_probe(three, [0, 1, 2], *args)
    assert probe is not None
    with pytest.raises(ValueError, match="needs the selection"):
        probe.feed(np.zeros((1, 4), np.float32))
    probe.feed(np.zeros((2, len(graph.selection.senones)), np.float32), graph.selection)
    assert probe.loop.loop.n_phones == 40 and probe.null.n_frames == 2  # speech phones and SIL, no noise fillers
    noisy = quality_probe(three, [0, 1, 2], d, checkpoint.log_transitions, GraphOptions(fillers=("+NSN+",)), 2, 0.2)
    noisy.feed(np.zeros((2, len(graph.selection.senones)), np.float32), graph.selection)
    assert noisy.loop.loop.n_phones == 41  # the graph may use +NSN+: so may the loop


def test_explicit_language_contradicting_the_text_is_reported():
    german = "Ich gehe heute Abend mit meinen Freunden in die Stadt\nund wir singen bis der Morgen kommt"
    mismatch = language_mismatch(parse_lyrics(german, "es"))
    assert mismatch is not None and mismatch.language == "de"
    assert language_mismatch(parse_lyrics(german, "de")) is None
    assert language_mismatch(parse_lyrics(german, "auto")) is None  # detected: nothing to contradict
    v = QualityVerdict(-10.0, -100.0, -5.0, 10, language=mismatch)
    assert v.gain > MIN_GAIN and v.suspect and "'de'" in v.warning
    assert v.to_dict()["text_language"]["language"] == "de"


def test_confidence_summary_of_a_hand_built_ratio():
    ratio = np.log(np.array([0.5, 0.5, 0.2, 0.2, 1.0, 1.0]))
    out = confidence_summary(ratio, [(0, 2), None, (2, 4)])
    assert out["confidence_mean"] == pytest.approx(np.sqrt(0.1), abs=1e-4)
    assert out["between_words"] == pytest.approx(1.0)
    assert out["low_confidence_words"] == pytest.approx(0.5)


SONG = [["hello", "my", "friend", "the", "night", "is", "long"], ["and", "cold", "so", "sing", "with", "me"],
        ["tonight", "we", "dance", "under", "the", "stars"]]
OTHER = [["green", "fields", "of", "barley", "wave"], ["quietly", "beside", "a", "river"],
         ["children", "laughing", "far", "away", "from", "home"]]


def test_engine_flags_other_lyrics_and_not_the_songs_own(caplog):
    song = make_synthetic_song(SONG, "en", seed=5)
    engine = HMMEngine(adaptation_iterations=0)
    own = engine.align(song.audio, parse_lyrics(song.lyrics_text, "en"))
    quality = own.extras["quality"]
    assert not quality["suspect"] and quality["gain"] > MIN_GAIN, quality
    assert not own.warnings and own.extras["seconds"]["quality"] >= 0
    with caplog.at_level(logging.WARNING, logger="lyricalign.api"):  # what the CLI prints on stderr
        other = align(song.audio, "\n".join(" ".join(line) for line in OTHER), AlignOptions(language="en"),
                      engine=engine)
    assert other.extras["quality"]["suspect"], other.extras["quality"]
    assert any("another order" in w for w in other.warnings)
    assert any("another order" in r.getMessage() for r in caplog.records)
