"""Per-song adaptation options: EM steps per alignment, restarts from the pretrained means, class pooling."""

from __future__ import annotations

import numpy as np
import pytest

from _synth_utils import make_synthetic_song
from lyricalign.acoustic import frontend
from lyricalign.acoustic.adaptation import AdaptationOptions, accumulate, adapt, codebook_classes, estimate
from lyricalign.acoustic.checkpoint import load_checkpoint
from lyricalign.acoustic.scorer import MeanTransform, path_log_likelihoods
from lyricalign.align.hmm_graph import build_word_graph
from lyricalign.align.pronounce import pronunciations
from lyricalign.engines.hmm import HMMEngine
from lyricalign.text import parse_lyrics


@pytest.fixture(scope="module")
def checkpoint(acoustic_checkpoint):
    return load_checkpoint(acoustic_checkpoint)


def _frames(rng, checkpoint, senones, transform):
    """One frame per senone: a Gaussian drawn from its mixture, its mean moved by ``transform``."""
    g, books = checkpoint.gaussians, checkpoint.definition.senone_codebook[senones]
    means = g.means * transform.scale.reshape(42, 3, 1, 13) + transform.bias.reshape(42, 3, 1, 13)
    weights = np.exp(g.log_weights[senones].astype(np.float64))
    frames = np.empty((len(senones), 3, 13))
    for t, (s, book) in enumerate(zip(senones, books)):
        for k in range(3):
            gauss = rng.choice(128, p=weights[t, k] / weights[t, k].sum())
            frames[t, k] = rng.normal(means[book, k, gauss], np.sqrt(g.variances[book, k, gauss]))
    return frames.reshape(len(senones), 39).astype(np.float32)


def _fit(checkpoint, frames, senones, options, steps=6):
    g, d = checkpoint.gaussians, checkpoint.definition
    classes = codebook_classes(d.phones, tuple(d.filler))
    transform = MeanTransform.identity(42, 39)
    for _ in range(steps):
        stats = accumulate(frames, senones, d.senone_codebook, g.means, g.variances, g.log_weights, transform)
        transform, report = estimate(stats, g.means, g.variances, classes, options)
    return transform, report, classes


def test_pooled_groupings_share_one_transform_per_group(checkpoint):
    rng = np.random.default_rng(11)
    d = checkpoint.definition
    silence = np.flatnonzero(d.senone_codebook == d.phone_id("SIL"))
    senones = np.concatenate([rng.integers(0, d.n_senones, 3000), rng.choice(silence, 600)])
    truth = MeanTransform(np.full((42, 39), 0.9, np.float32), np.full((42, 39), 0.4, np.float32))
    frames = _frames(rng, checkpoint, senones, truth)
    pooled, report, classes = _fit(checkpoint, frames, senones, AdaptationOptions(grouping="global"))
    assert set(report) == {"all"} and report["all"]["adapted"]
    assert np.all(pooled.scale == pooled.scale[0]) and np.all(pooled.bias == pooled.bias[0])
    assert np.median(pooled.scale) == pytest.approx(0.9, abs=0.03)
    two, report, _ = _fit(checkpoint, frames, senones, AdaptationOptions(grouping="speech-silence"), steps=2)
    assert set(report) == {"speech", "silence"}
    vowel, other, sil = (np.flatnonzero(classes == c)[0] for c in range(3))
    np.testing.assert_array_equal(two.scale[vowel], two.scale[other])
    assert not np.allclose(two.scale[vowel], two.scale[sil])
    with pytest.raises(ValueError):
        AdaptationOptions(grouping="per-phone")
    with pytest.raises(ValueError):
        AdaptationOptions(grouping="global", classes=("silence",))
    for bad in (0, 11, 1.5, True):
        with pytest.raises(ValueError):
            AdaptationOptions(em_steps=bad)


@pytest.fixture(scope="module")
def song_pass():
    """A synthetic song's graph, features, first pass and a recording re-scoring function (real passes)."""
    song = make_synthetic_song([["hello", "my", "friend"], ["the", "night", "is", "long"]], "en", seed=5)
    engine = HMMEngine(adaptation_iterations=0)
    ck = engine.checkpoint
    lyrics = parse_lyrics(song.lyrics_text, "en")
    prons = pronunciations(lyrics, ck.pronunciations_of({w.spoken for w in lyrics.words}))
    tokens = [i for i, p in enumerate(prons) if p]
    graph = build_word_graph(prons, tokens, ck.definition, ck.log_transitions, engine.options.graph)
    features = frontend.features(song.audio, ck.frontend)
    nothing = lambda stage, fraction: None  # noqa: E731
    first = engine._pass(graph, features, MeanTransform.identity(42, 39), nothing, (0, 1), free_loop=False)
    used: list[MeanTransform] = []

    def rescore(transform, span):
        used.append(transform)
        return engine._pass(graph, features, transform, nothing, span, free_loop=False)

    return ck, graph, features, first, rescore, used


def _step(ck, graph, features, states, transform):
    g, d = ck.gaussians, ck.definition
    stats = accumulate(features, graph.senone[states], d.senone_codebook, g.means, g.variances, g.log_weights,
                       transform)
    return estimate(stats, g.means, g.variances, codebook_classes(d.phones, tuple(d.filler)), AdaptationOptions())[0]


def test_em_steps_iterate_the_transform_on_the_first_path(song_pass):
    ck, graph, features, first, rescore, used = song_pass
    identity = MeanTransform.identity(42, 39)
    one = _step(ck, graph, features, first.result.states, identity)
    two = _step(ck, graph, features, first.result.states, one)
    used.clear()
    done = adapt(first, graph, features, ck, AdaptationOptions(em_steps=2), rescore)
    assert len(used) == 1  # EM steps re-estimate without re-aligning
    np.testing.assert_allclose(used[0].scale, two.scale, rtol=1e-6)
    np.testing.assert_allclose(used[0].bias, two.bias, rtol=1e-6, atol=1e-6)
    assert not np.allclose(one.scale, two.scale)
    g, d = ck.gaussians, ck.definition
    senones = graph.senone[first.result.states]

    def likelihood(t):
        return path_log_likelihoods(features, senones, d.senone_codebook, g.means, g.variances, g.log_weights,
                                    t).sum()

    assert likelihood(two) >= likelihood(one) >= likelihood(identity)  # EM on a fixed path
    assert done.report["iterations"] in (0, 1)


def test_restart_estimates_each_iteration_from_the_pretrained_means(song_pass):
    ck, graph, features, first, rescore, used = song_pass
    used.clear()
    done = adapt(first, graph, features, ck, AdaptationOptions(iterations=2, restart=True), rescore)
    assert len(used) == 2
    second_path = done.passes[1].result.states
    fresh = _step(ck, graph, features, second_path, MeanTransform.identity(42, 39))
    compounded = _step(ck, graph, features, second_path, used[0])
    np.testing.assert_allclose(used[1].scale, fresh.scale, rtol=1e-6)
    assert not np.allclose(used[1].scale, compounded.scale)


def test_codebooks_with_enough_frames_get_their_own_transform(checkpoint):
    rng = np.random.default_rng(12)
    d = checkpoint.definition
    sil, aa = d.phone_id("SIL"), d.phone_id("AA")
    senones = np.concatenate([rng.choice(np.flatnonzero(d.senone_codebook == sil), 1200), rng.choice(np.flatnonzero(d.senone_codebook == aa), 1100),
                              rng.integers(0, d.n_senones, 400)])
    scale, bias = np.ones((42, 39), np.float32), np.zeros((42, 39), np.float32)
    scale[aa], bias[aa] = 0.8, 1.0  # AA moves, the other vowels do not
    frames = _frames(rng, checkpoint, senones, MeanTransform(scale, bias))
    tree, report, classes = _fit(checkpoint, frames, senones, AdaptationOptions(grouping="codebooks"))
    assert report["own_codebooks"] == sorted([sil, aa])
    assert np.median(tree.scale[aa]) == pytest.approx(0.8, abs=0.05)
    pooled, _, _ = _fit(checkpoint, frames, senones, AdaptationOptions())
    assert abs(np.median(pooled.scale[aa]) - 0.8) > abs(np.median(tree.scale[aa]) - 0.8)  # the class blurs AA
    others = [c for c in np.flatnonzero(classes == classes[aa]) if c != aa]
    assert all(np.array_equal(tree.scale[c], tree.scale[others[0]]) for c in others)  # backed off to the class


def _bench_module():
    """benchmarks/bench_adaptation.py (not a package: loaded from its path)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_adaptation.py"
    spec = importlib.util.spec_from_file_location("bench_adaptation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_feature_space_transform_recovers_a_known_one(checkpoint):
    """The bench-only diagonal CMLLR: features drawn from the model, then moved by x = (y - b) / a per class,
    so that a x + b is the model's again; EM from the identity finds (a, b)."""
    bench = _bench_module()
    rng = np.random.default_rng(13)
    d = checkpoint.definition
    classes = codebook_classes(d.phones, tuple(d.filler))
    silence = np.flatnonzero(d.senone_codebook == d.phone_id("SIL"))
    senones = np.concatenate([rng.integers(0, d.n_senones, 3000), rng.choice(silence, 800)])
    truth_a, truth_b = np.array([1.2, 0.9, 1.1]), np.array([0.5, -0.4, 2.0])
    y = _frames(rng, checkpoint, senones, MeanTransform.identity(42, 39)).astype(np.float64)
    c = classes[d.senone_codebook[senones]]
    x = (y - truth_b[c][:, None]) / truth_a[c][:, None]
    scale, shift = np.ones((42, 3, 13)), np.zeros((42, 3, 13))
    frames, weights = np.arange(len(x)), np.ones(len(x))
    for _ in range(8):
        mu, var = bench.feature_space_gaussians(scale, shift, checkpoint)
        count, total, square = bench._moments(x, frames, senones, weights, checkpoint, mu, var)
        scale, shift = bench.solve_feature_space(count, total, square, classes, checkpoint)
    for k in range(3):
        books = classes == k
        assert np.median(scale[books]) == pytest.approx(truth_a[k], rel=0.05), k
        assert np.median(shift[books]) == pytest.approx(truth_b[k], abs=0.25), k
