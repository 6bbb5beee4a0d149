"""The acoustic stack piece by piece: checkpoint, ONNX scorer vs numpy, graph, adaptation, engine."""

from __future__ import annotations

import numpy as np
import pytest

from _synth_utils import make_synthetic_song
from lyricalign.acoustic import frontend
from lyricalign.acoustic.adaptation import (
    CLASS_NAMES,
    AdaptationOptions,
    accumulate,
    codebook_classes,
    estimate,
)
from lyricalign.acoustic.checkpoint import CheckpointInfo, load_checkpoint
from lyricalign.acoustic.scorer import MeanTransform, SenoneScorer, SenoneSelection, reference_scores
from lyricalign.align.hmm_graph import GraphOptions, build_word_graph, word_spans
from lyricalign.align.hmm_viterbi import viterbi
from lyricalign.engines.hmm import HMMEngine, HMMOptions
from lyricalign.errors import AlignmentError, ModelError
from lyricalign.text import parse_lyrics


@pytest.fixture(scope="module")
def checkpoint(acoustic_checkpoint):
    return load_checkpoint(acoustic_checkpoint)


def test_checkpoint_describes_the_model(checkpoint, acoustic_checkpoint):
    info = checkpoint.info
    assert info.name == "lyricalign-acoustic" and len(info.version) == 12
    assert info.n_senones == 5126 and len(info.phones) == 42 and "SIL" in info.phones
    assert checkpoint.n_codebooks == 42 and checkpoint.frontend.remove_noise
    scorer = SenoneScorer.for_checkpoint(checkpoint)
    assert scorer.metadata["lyricalign.model_id"] == "lyricalign-acoustic"
    assert scorer.metadata["lyricalign.n_senones"] == "5126"
    assert scorer.metadata["lyricalign.svspec"] == "0-12/13-25/26-38"
    assert CheckpointInfo.from_json(info.to_json(), acoustic_checkpoint) == info


def test_incomplete_checkpoint_is_a_model_error(tmp_path):
    (tmp_path / "scorer.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="missing checkpoint.json"):
        load_checkpoint(tmp_path)


def test_onnx_scores_equal_the_numpy_reference(checkpoint):
    g = checkpoint.gaussians
    rng = np.random.default_rng(1)
    picks = rng.integers(0, [42, 128], size=(40, 2))
    features = (g.means[picks[:, 0], :, picks[:, 1], :].reshape(40, 39) + rng.normal(0, 0.3, (40, 39))).astype(np.float32)
    senones = rng.choice(5126, 300, replace=False)
    selection = SenoneSelection.of(senones, checkpoint.definition.senone_codebook, 42)
    assert sorted(selection.senones) == sorted(senones) and selection.counts.sum() == 300
    books = checkpoint.definition.senone_codebook[selection.senones]
    assert np.all(np.diff(books) >= 0)  # grouped by codebook
    scorer = SenoneScorer.for_checkpoint(checkpoint)
    for transform in (MeanTransform.identity(42, 39),
                      MeanTransform(rng.uniform(0.8, 1.2, (42, 39)).astype(np.float32),
                                    rng.normal(0, 0.5, (42, 39)).astype(np.float32))):
        expected = reference_scores(features, g.means, g.variances, g.log_weights,
                                    checkpoint.definition.senone_codebook, selection.senones, transform)
        np.testing.assert_allclose(scorer(features, selection, transform), expected, atol=1e-3, rtol=1e-5)


def test_selection_maps_senones_to_columns(checkpoint):
    selection = SenoneSelection.of(np.array([700, 5, 700, 42]), checkpoint.definition.senone_codebook, 42)
    assert len(selection.senones) == 3
    np.testing.assert_array_equal(selection.senones[selection.index_of(np.array([42, 700]))], [42, 700])
    with pytest.raises(ValueError, match="not in the selection"):
        selection.index_of(np.array([6]))


def test_graph_uses_word_position_triphones_and_optional_silences(checkpoint):
    d = checkpoint.definition
    prons = [[("HH", "AH", "L", "OW"), ("HH", "EH", "L", "OW")], [("W", "ER", "L", "D")]]
    graph = build_word_graph(prons, [0, 1], d, checkpoint.log_transitions)
    n_phones = 4 + 4 + 4 + 3  # two variants, one word, three silences (before, between, after)
    assert graph.hmm.n_states == 3 * n_phones
    assert list(graph.tokens) == [0, 1] and set(graph.slot) == {-1, 0, 1}
    # the last phone of "hello" (variant 1) sees "W" of the next word as its right context
    last_ow = np.flatnonzero((graph.slot == 0) & (graph.phone == d.phone_id("OW")))[:3]
    sseq = d.triphone("OW", "L", "W", "e")
    np.testing.assert_array_equal(graph.senone[last_ow], d.senone_sequences[sseq])
    assert np.diff(graph.hmm.jump_start).max() <= 3
    no_context = build_word_graph(prons, [0, 1], d, checkpoint.log_transitions, GraphOptions(cross_word_context=False))
    ow = np.flatnonzero((no_context.slot == 0) & (no_context.phone == d.phone_id("OW")))[:3]
    np.testing.assert_array_equal(no_context.senone[ow], d.senone_sequences[d.triphone("OW", "L", "SIL", "e")])
    noisy = build_word_graph(prons, [0, 1], d, checkpoint.log_transitions, GraphOptions(fillers=("+NSN+",)))
    assert noisy.hmm.n_states == graph.hmm.n_states + 3 * 3  # a noise filler beside each of the three pauses
    assert np.count_nonzero(noisy.phone == d.phone_id("+NSN+")) == 9
    halved = build_word_graph(prons, [0, 1], d, checkpoint.log_transitions, GraphOptions(transition_scale=0.5))
    np.testing.assert_allclose(halved.hmm.self_logp, 0.5 * graph.hmm.self_logp)
    np.testing.assert_allclose(halved.hmm.next_logp, 0.5 * graph.hmm.next_logp)


def test_graph_input_checks(checkpoint):
    d = checkpoint.definition
    with pytest.raises(AlignmentError):
        build_word_graph([], [], d, checkpoint.log_transitions)
    with pytest.raises(ModelError, match="no phone"):
        build_word_graph([[("XX",)]], [0], d, checkpoint.log_transitions)
    with pytest.raises(ValueError):
        GraphOptions(silence_logp=1.0)
    with pytest.raises(ValueError):
        GraphOptions(max_variants=0)
    for bad in (0.0, -1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="transition_scale"):
            GraphOptions(transition_scale=bad)


def test_word_spans_follow_the_path(checkpoint):
    graph = build_word_graph([[("AA",)], [("B", "IY")]], [0, 1], checkpoint.definition, checkpoint.log_transitions)
    slot_of = graph.slot
    states = np.concatenate([np.flatnonzero(slot_of == -1)[:3], np.flatnonzero(slot_of == 0),
                             np.flatnonzero(slot_of == 1), np.flatnonzero(slot_of == -1)[-3:]])
    assert word_spans(graph, states) == [(3, 6), (6, 12)]


def _sample_frames(rng, g, senones, transform, classes_of_book, codebook):
    """One frame per senone: a Gaussian drawn from its mixture, the means transformed."""
    means = g.means * transform.scale.reshape(42, 3, 1, 13) + transform.bias.reshape(42, 3, 1, 13)
    frames = np.empty((len(senones), 3, 13), np.float32)
    weights = np.exp(g.log_weights.astype(np.float64))
    for t, s in enumerate(senones):
        book = codebook[s]
        for k in range(3):
            p = weights[s, k] / weights[s, k].sum()
            gauss = rng.choice(128, p=p)
            frames[t, k] = rng.normal(means[book, k, gauss], np.sqrt(g.variances[book, k, gauss]))
    return frames.reshape(len(senones), 39)


def test_mllr_estimate_recovers_a_known_diagonal_transform(checkpoint):
    rng = np.random.default_rng(4)
    g, d = checkpoint.gaussians, checkpoint.definition
    classes = codebook_classes(d.phones)
    truth_a = {0: 1.1, 1: 0.9, 2: 1.05}
    truth_b = {0: 0.5, 1: -0.3, 2: 2.0}
    scale = np.array([[truth_a[c]] * 39 for c in classes], np.float32)
    bias = np.array([[truth_b[c]] * 39 for c in classes], np.float32)
    truth = MeanTransform(scale, bias)
    silence = np.flatnonzero(d.senone_codebook == d.phone_id("SIL"))
    senones = np.concatenate([rng.integers(0, d.n_senones, 5000), rng.choice(silence, 1000)])
    frames = _sample_frames(rng, g, senones, truth, classes, d.senone_codebook)
    transform = MeanTransform.identity(42, 39)
    for _ in range(6):  # EM: posteriors under the current estimate
        stats = accumulate(frames, senones, d.senone_codebook, g.means, g.variances, g.log_weights, transform)
        transform, report = estimate(stats, g.means, g.variances, classes, AdaptationOptions())
    # What the data identify: the transformed means of the Gaussians the frames used, in units of their
    # standard deviation (a and b alone are confounded where a class's means barely spread).
    def transformed(t):
        return g.means * t.scale.reshape(42, 3, 1, 13) + t.bias.reshape(42, 3, 1, 13)

    error = np.abs(transformed(transform) - transformed(truth)) / np.sqrt(g.variances)
    used = stats.count > 5  # (C, K, G) Gaussians that explained at least a few frames
    for c, name in enumerate(CLASS_NAMES):
        assert report[name]["adapted"]
        in_class = used & (classes == c)[:, None, None]
        assert np.median(error[in_class]) < 0.1, name
    assert np.median(error[used]) < 0.05
    vowels = classes == 0
    assert np.median(transform.scale[vowels]) == pytest.approx(truth_a[0], abs=0.03)


def _statistics_reference(features, senones, senone_codebook, means, variances, log_weights):
    """The statistics' definition in plain numpy: Gaussian posteriors within each frame's senone."""
    x = features.reshape(len(features), 3, 1, 13).astype(np.float64)
    books = senone_codebook[senones]
    mu, var = means[books].astype(np.float64), variances[books].astype(np.float64)  # (T, K, G, d)
    ll = -0.5 * np.sum(np.log(var) + (x - mu) ** 2 / var, axis=-1) + log_weights[senones]
    post = np.exp(ll - ll.max(axis=-1, keepdims=True))
    post /= post.sum(axis=-1, keepdims=True)  # (T, K, G)
    count = np.zeros(means.shape[:3])
    total = np.zeros(means.shape)
    np.add.at(count, books, post)
    np.add.at(total, books, post[..., None] * x)
    return count, total


@pytest.mark.parametrize("min_part_frames", [2_000, 100])  # one part; one per core, summed
def test_statistics_kernel_equals_the_numpy_definition(checkpoint, monkeypatch, min_part_frames):
    from lyricalign.acoustic import path_kernel

    monkeypatch.setattr(path_kernel, "MIN_PART_FRAMES", min_part_frames)
    monkeypatch.setattr(path_kernel.os, "cpu_count", lambda: 2)
    assert len(path_kernel._frame_parts(300)) == (1 if min_part_frames > 300 else 2)
    rng = np.random.default_rng(7)
    g, d = checkpoint.gaussians, checkpoint.definition
    senones = rng.integers(0, d.n_senones, 300)
    classes = codebook_classes(d.phones)
    features = _sample_frames(rng, g, senones, MeanTransform.identity(42, 39), classes, d.senone_codebook)
    stats = accumulate(features, senones, d.senone_codebook, g.means, g.variances, g.log_weights)
    count, total = _statistics_reference(features, senones, d.senone_codebook, g.means, g.variances, g.log_weights)
    assert stats.count.sum() == pytest.approx(300 * 3)
    np.testing.assert_allclose(stats.count, count, atol=1e-9)
    np.testing.assert_allclose(stats.total, total, rtol=1e-9, atol=1e-8)


def test_adaptation_options_are_validated():
    for bad in (dict(iterations=-1), dict(iterations=1.5), dict(iterations=True), dict(classes=("vowels",)),
                dict(classes=()), dict(min_frames=0)):
        with pytest.raises(ValueError):
            AdaptationOptions(**bad)
    with pytest.raises(ValueError):
        HMMOptions(acoustic_scale=0.0)
    with pytest.raises(ValueError):
        HMMEngine(adaptation_iterations=9)


SONG = [["hello", "my", "friend"], ["the", "night", "is", "long", "and", "cold"], ["sing", "with", "me", "tonight"]]


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic_song(SONG, "en", seed=3)


def test_engine_aligns_a_synthetic_song(synthetic):
    engine = HMMEngine(adaptation_iterations=0)
    result = engine.align(synthetic.audio, parse_lyrics(synthetic.lyrics_text, "en"))
    errors = np.array([abs(w.start - s) for w, (s, _) in zip(result.words, synthetic.word_times, strict=True)])
    assert errors.mean() < 0.15 and np.median(errors) < 0.08, errors.round(2)
    assert result.method == "hmm" and result.model.startswith("lyricalign-acoustic:")
    assert not any(w.interpolated for w in result.words)
    assert all(0.0 < w.confidence <= 1.0 for w in result.words)
    assert result.extras["states"] > 3 * 3 * 13 and result.extras["adaptation"]["iterations"] == 0


def test_prepared_lyrics_are_not_prepared_again_and_give_the_same_alignment(synthetic, monkeypatch):
    from lyricalign.engines import hmm as hmm_module

    engine = HMMEngine(adaptation_iterations=0)
    lyrics = parse_lyrics(synthetic.lyrics_text, "en")
    plain = engine.align(synthetic.audio, lyrics)
    built = []
    real_build = hmm_module.build_word_graph
    monkeypatch.setattr(hmm_module, "build_word_graph", lambda *a, **k: built.append(1) or real_build(*a, **k))
    engine.prepare_text(lyrics)
    assert len(built) == 1
    prepared = engine.align(synthetic.audio, lyrics)
    assert len(built) == 1  # the prepared graph was used
    assert [(w.start, w.end) for w in prepared.words] == [(w.start, w.end) for w in plain.words]
    engine.align(synthetic.audio, parse_lyrics(synthetic.lyrics_text, "en"))  # equal text, another object
    assert len(built) == 2


def test_prepared_features_give_the_same_alignment_and_foreign_ones_are_ignored(synthetic, monkeypatch):
    from dataclasses import replace

    from lyricalign.engines import PreparedAudio
    from lyricalign.engines import hmm as hmm_module

    engine = HMMEngine(adaptation_iterations=0)
    lyrics = parse_lyrics(synthetic.lyrics_text, "en")
    prepared = engine.prepare(synthetic.audio)
    assert prepared.waveform is None and prepared.n_samples == len(synthetic.audio)  # features only
    assert prepared.analysis.features.shape == (frontend.frame_count(len(synthetic.audio)), 39)
    direct = engine.align(synthetic.audio, lyrics)
    computed = []
    real_features = hmm_module.frontend.features
    monkeypatch.setattr(hmm_module.frontend, "features", lambda *a: computed.append(1) or real_features(*a))
    via_prepare = engine.align(prepared, lyrics)
    assert computed == [] and [w.start for w in via_prepare.words] == [w.start for w in direct.words]
    assert via_prepare.duration == direct.duration
    assert via_prepare.extras["seconds"]["features"] == round(prepared.analysis.seconds, 4)
    foreign = PreparedAudio(synthetic.audio, analysis="another engine's")  # not the hmm engine's record
    assert [w.start for w in engine.align(foreign, lyrics).words] == [w.start for w in direct.words]
    options = prepared.analysis.options
    other_front_end = replace(prepared.analysis, options=replace(options, dither=not options.dither))
    engine.align(PreparedAudio(synthetic.audio, other_front_end), lyrics)
    assert computed == [1, 1]  # both recomputed from the waveform
    with pytest.raises(ValueError, match="did not keep the waveform"):
        engine.align(PreparedAudio(None, other_front_end, n_samples=len(synthetic.audio)), lyrics)
    with pytest.raises(ValueError, match="do not belong"):
        engine.align(replace(prepared, n_samples=len(synthetic.audio) - 1600), lyrics)


def test_engine_reports_progress_to_the_callers_context(synthetic):
    from lyricalign.engines.hmm import PROGRESS_STAGE
    from lyricalign.progress import progress_callback

    engine = HMMEngine()
    seen: list[tuple[str, float]] = []
    engine.align(synthetic.audio[:16000], parse_lyrics("hello", "en"))  # no callback installed: nothing seen
    with progress_callback(lambda stage, fraction: seen.append((stage, fraction))):
        engine.align(synthetic.audio, parse_lyrics(synthetic.lyrics_text, "en"))
    assert {stage for stage, _ in seen} == {PROGRESS_STAGE}
    fractions = [f for _, f in seen]
    assert fractions[0] == pytest.approx(0.05) and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert len(fractions) >= 4  # the first pass and the adapted pass each report per chunk


def test_adaptation_never_lowers_the_path_score(synthetic):
    lyrics = parse_lyrics(synthetic.lyrics_text, "en")
    result = HMMEngine(adaptation_iterations=2).align(synthetic.audio, lyrics)
    report = result.extras["adaptation"]
    assert report["iterations"] >= 1
    assert report["final_pass_score"] >= report["first_pass_score"]
    assert set(report["classes"]) == set(CLASS_NAMES)


def test_engine_refuses_audio_too_short_for_the_lyrics():
    engine = HMMEngine(adaptation_iterations=0)
    with pytest.raises(AlignmentError, match="too short"):
        engine.align(np.zeros(1600, np.float32) + 0.01, parse_lyrics("a b c d e f g h i j", "en"))


def test_viterbi_on_the_real_graph_prefers_the_planted_words(checkpoint):
    """Scores that favour a known state path through a real song graph give that path back."""
    graph = build_word_graph([[("AA", "B")], [("IY",)]], [0, 1], checkpoint.definition, checkpoint.log_transitions)
    path = np.repeat(np.arange(graph.hmm.n_states)[3:-3][[0, 1, 2, 3, 4, 5, 9, 10, 11]], 4)  # skips the middle SIL
    scores = np.full((len(path), len(graph.selection.senones)), -50.0, np.float32)
    scores[np.arange(len(path)), graph.hmm.emission[path]] = 0.0
    np.testing.assert_array_equal(viterbi(graph.hmm, scores, 1.0).states, path)


@pytest.mark.slow
@pytest.mark.parametrize("language,lines", [
    ("en", SONG),
    ("es", [["hola", "mi", "amigo"], ["la", "noche", "es", "larga", "y", "fría"], ["canta", "conmigo", "esta", "noche"]]),
])
def test_parity_with_the_pocketsphinx_decoder(language, lines):
    """Same model, same pronunciations: word starts agree with pocketsphinx's own unpruned word-level
    pass within 50 ms for >= 95 % of the words, or ours are closer to the truth."""
    from lyricalign.engines.sphinx import SphinxEngine

    song = make_synthetic_song(lines, language, seed=5)
    lyrics = parse_lyrics(song.lyrics_text, language)
    ours = HMMEngine(adaptation_iterations=0).align(song.audio, lyrics)
    theirs = SphinxEngine(phone_loop_confidence=False).align(song.audio, lyrics)
    ours_starts, theirs_starts = np.array([w.start for w in ours.words]), np.array([w.start for w in theirs.words])
    truth = np.array([s for s, _ in song.word_times])
    agree = np.mean(np.abs(ours_starts - theirs_starts) <= 0.05)
    assert agree >= 0.95 or np.abs(ours_starts - truth).mean() < np.abs(theirs_starts - truth).mean(), (
        ours_starts.round(2), theirs_starts.round(2), truth.round(2))


def test_path_log_likelihoods_equal_the_reference_on_the_path(checkpoint):
    from lyricalign.acoustic.scorer import path_log_likelihoods

    g, codebook = checkpoint.gaussians, checkpoint.definition.senone_codebook
    rng = np.random.default_rng(3)
    features = rng.normal(0, 2, (700, 39)).astype(np.float32)
    path = rng.integers(0, 5126, 700)
    transform = MeanTransform(rng.uniform(0.9, 1.1, (42, 39)).astype(np.float32),
                              rng.normal(0, 0.3, (42, 39)).astype(np.float32))
    expected = np.array([reference_scores(features[t:t + 1], g.means, g.variances, g.log_weights, codebook,
                                          path[t:t + 1], transform)[0, 0] for t in range(0, 700, 50)])
    got = path_log_likelihoods(features, path, codebook, g.means, g.variances, g.log_weights, transform)
    np.testing.assert_allclose(got[::50], expected, rtol=1e-6, atol=1e-3)


def test_vocables_get_their_sung_readings_in_every_language():
    from lyricalign.align.pronounce import pronunciations, vocable_readings

    assert vocable_readings("Oooh") == (("UW",), ("OW",)) and vocable_readings("oh")[0] == ("OW",)
    assert vocable_readings("mmmm") == (("M",),) and vocable_readings("fantasma") == ()
    for language in ("es", "de", "en"):
        lyrics = parse_lyrics("ooh mmm yeah", language)
        prons = pronunciations(lyrics, {})
        assert prons[0][0] == ("UW",) and prons[1] == [("M",)], (language, prons)  # not spelled letters
        assert prons[2][0] == ("Y", "EH")


def test_models_install_acoustic_installs_once_and_lists_it(tmp_path, monkeypatch, capsys, acoustic_checkpoint):
    from lyricalign.cli import main

    monkeypatch.setenv("LYRICALIGN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LYRICALIGN_ACOUSTIC")
    version = load_checkpoint(acoustic_checkpoint).info.version
    assert main(["models", "install-acoustic"]) == 0
    folder = tmp_path / "home" / "models" / "acoustic" / f"lyricalign-acoustic-{version}"
    assert (folder / "scorer.onnx").is_file() and (folder / "checkpoint.json").is_file()
    modified = (folder / "scorer.onnx").stat().st_mtime_ns
    assert main(["models", "install-acoustic"]) == 0  # the same version: nothing to do
    assert (folder / "scorer.onnx").stat().st_mtime_ns == modified
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.split() == ["*", f"lyricalign-acoustic:{version}", "hmm", str(folder)]


def test_a_discarded_adapted_pass_keeps_the_first_pass_with_its_confidences(synthetic, checkpoint):
    """When the adapted pass scores worse, the first pass is final; its free loop is scored afterwards."""
    local = SenoneScorer.for_checkpoint(checkpoint)

    def worse_when_adapted(features, selection, transform):
        scores = local(features, selection, transform)
        return scores if transform.is_identity else scores - 100.0

    engine = HMMEngine(score_function=worse_when_adapted)
    result = engine.align(synthetic.audio, parse_lyrics(synthetic.lyrics_text, "en"))
    assert result.extras["adaptation"]["iterations"] == 0
    assert result.extras["path_score"] == pytest.approx(result.extras["adaptation"]["first_pass_score"], abs=0.01)
    assert all(0.0 < w.confidence <= 1.0 for w in result.words)
    plain = HMMEngine(adaptation_iterations=0).align(synthetic.audio, parse_lyrics(synthetic.lyrics_text, "en"))
    assert [w.confidence for w in result.words] == pytest.approx([w.confidence for w in plain.words], abs=1e-6)
