"""The senone scorer's ONNX graph on its own: its initializers are the pretrained model, its contract is checked."""

from __future__ import annotations

import numpy as np
import pytest

from lyricalign.acoustic.checkpoint import load_checkpoint
from lyricalign.acoustic.scorer import MeanTransform, SenoneScorer, SenoneSelection, reference_scores
from lyricalign.errors import ModelError


@pytest.fixture(scope="module")
def checkpoint(acoustic_checkpoint):
    return load_checkpoint(acoustic_checkpoint)


def test_the_graph_alone_scores_every_senone_of_the_pretrained_model(checkpoint):
    """The checkpoint's ONNX file is the model: fed frames only, its initializers score all 5,126 senones."""
    rng = np.random.default_rng(2)
    g = checkpoint.gaussians
    frames = g.means[rng.integers(0, 42, 8), :, rng.integers(0, 128, 8), :].reshape(8, 39) + rng.normal(0, 0.5, (8, 39))
    scorer = SenoneScorer(checkpoint.scorer_path)  # no Gaussians given: the graph's own only
    every = SenoneSelection.of(np.arange(checkpoint.definition.n_senones), checkpoint.definition.senone_codebook, 42)
    scores = scorer.score_with_defaults(frames.astype(np.float32))
    assert scores.shape == (8, checkpoint.definition.n_senones)
    picked = rng.choice(checkpoint.definition.n_senones, 40, replace=False)
    expected = reference_scores(frames, g.means, g.variances, g.log_weights, checkpoint.definition.senone_codebook,
                                picked)
    np.testing.assert_allclose(scores[:, every.index_of(picked)], expected, atol=1e-3, rtol=1e-5)
    with pytest.raises(ValueError, match="without the model's Gaussians"):
        scorer(frames.astype(np.float32), every, MeanTransform.identity(42, 39))


def test_a_scorer_graph_of_another_contract_is_refused(checkpoint, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["features"], ["scores"])], "other",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 39])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 39])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "other.onnx")
    with pytest.raises(ModelError, match="not a lyricalign senone scorer of this version"):
        SenoneScorer(tmp_path / "other.onnx")


def test_selections_that_do_not_fit_the_graph_are_refused(checkpoint):
    scorer = SenoneScorer.for_checkpoint(checkpoint, threads=1)
    identity = MeanTransform.identity(42, 39)
    frames = np.zeros((2, 39), np.float32)
    books = checkpoint.definition.senone_codebook
    good = SenoneSelection.of(np.array([3, 900, 2000]), books, 42)
    assert scorer(frames, good, identity).shape == (2, 3)
    for bad, message in ((SenoneSelection(good.senones[::-1].copy(), good.counts), "not grouped by codebook"),
                         (SenoneSelection(good.senones, good.counts[:41]), "does not fit"),
                         (SenoneSelection(np.array([3, 900, 99999]), good.counts), "senone ids must be")):
        with pytest.raises(ValueError, match=message):
            scorer(frames, bad, identity)
