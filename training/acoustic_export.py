"""Export pocketsphinx's pretrained en-us GMM-HMM as lyricalign's versioned acoustic checkpoint.

The checkpoint is a folder (see :mod:`lyricalign.acoustic.checkpoint`):

* ``scorer.onnx`` -- every senone's log-likelihood per frame as one ONNX graph (contract in
  :mod:`lyricalign.acoustic.scorer`), with the Gaussians and mixture weights as initializers and
  the model's identity in ``metadata_props``;
* the topology the decoding graph needs, copied unchanged from the model folder (``mdef``,
  ``transition_matrices``, ``feat.params``, ``noisedict``) and the pronunciation dictionary;
* ``checkpoint.json`` -- name, version, source and the scorer's parity check.

Needs the ``onnx`` package (not torch); ``lyricalign export --acoustic`` runs it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lyricalign.acoustic import checkpoint as ckpt
from lyricalign.acoustic.checkpoint import Gaussians
from lyricalign.acoustic.scorer import (FEATURES, OUTPUT, MeanTransform, SenoneScorer, SenoneSelection,
                                       codebook_weights, form_input, quadratic_form, reference_scores,
                                       weights_input)
from lyricalign.acoustic.sphinx_files import SphinxModel, default_dictionary, default_model_folder, read_model
from lyricalign.errors import ModelError

logger = logging.getLogger(__name__)

OPSET = 17
GRAPH_REVISION = 6  # bump when build_scorer_graph changes what it computes or how
PARITY_FRAMES = 64
PARITY_TOLERANCE = 1e-3  # nats; float32 matrix products against the float64 reference


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    tag: str
    n_senones: int
    max_abs_diff: float

    def summary(self) -> str:
        return (f"wrote {self.folder} ({self.tag}, {self.n_senones} senones); "
                f"ONNX vs numpy reference on {PARITY_FRAMES} frames: max |diff| {self.max_abs_diff:.2e} nats")


class _GraphBuilder:
    """Collects ONNX nodes and initializers; each method adds one step and returns its output's name."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.require(value, requirements="C"), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | list[str], **attrs) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output] if isinstance(output, str) else output, **attrs))
        return output if isinstance(output, str) else output[0]


def build_scorer_graph(model: SphinxModel):
    """The ONNX ``ModelProto`` of the senone scorer for ``model`` (PTM: one codebook per CI phone).

    One chain of operators per codebook ``c``, frames first throughout: the Gaussians' log-densities
    ``x_aug (K, N, 2d+1) @ form_c (K, 2d+1, G)``, each frame's peak per stream, the densities over it,
    the mixture sums ``(K, N, G) @ weights_c (K, G, S_c)``, their product over streams, its log, and the
    peaks back. ``form_c`` and ``weights_c`` are overridable initializers holding the pretrained model
    (every senone of the codebook): run with ``features`` alone, the graph scores all senones; the
    runtime (:class:`~lyricalign.acoustic.scorer.SenoneScorer`) feeds a song's own (its senones'
    weights, its adapted forms) once per song instead of gathering them in every call, which was a
    third of revision 5's time.
    """
    import onnx
    from onnx import TensorProto, helper

    n_books, n_streams, n_dens, dim = model.codebooks.means.shape
    g = _GraphBuilder()
    x_aug = _augmented_frames(g, n_streams, dim)
    forms = quadratic_form(model.codebooks.means, model.codebooks.variances)  # (C, K, 2d+1, G)
    every = SenoneSelection.of(np.arange(model.definition.n_senones), model.definition.senone_codebook, n_books)
    weights = codebook_weights(model.weights.log_weights, every)  # each codebook's senones, by id
    inputs = [helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["frames", n_streams * dim])]
    chains = []
    for c in range(n_books):
        form, mixture = form_input(c), weights_input(c)
        g.const(form, forms[c])
        g.const(mixture, weights[c] if weights[c] is not None else np.zeros((n_streams, n_dens, 0), np.float32))
        inputs += [helper.make_tensor_value_info(form, TensorProto.FLOAT, [n_streams, 2 * dim + 1, f"gaussians_{c}"]),
                   helper.make_tensor_value_info(mixture, TensorProto.FLOAT,
                                                 [n_streams, f"gaussians_{c}", f"senones_{c}"])]
        chains.append(_codebook_chain(g, c, x_aug, form, mixture))
    g.node("Concat", chains, OUTPUT, axis=1)
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["frames", "selected"])]
    graph = helper.make_graph(g.nodes, "lyricalign_senone_scorer", inputs, outputs, g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lyricalign")
    onnx.checker.check_model(proto, full_check=False)
    return proto


def _augmented_frames(g: _GraphBuilder, n_streams: int, dim: int) -> str:
    """``x_aug (K, N, 2d+1)``: the frames as ``[x^2, x, 1]`` per stream."""
    x = g.node("Transpose", [g.node("Reshape", [FEATURES, g.const("shape_nkd", np.array([-1, n_streams, dim],
                                                                                      np.int64))], "x_nkd")],
               "x", perm=[1, 0, 2])  # (K, N, d)
    x_one = g.node("Pad", [x, g.const("pad_one", np.array([0, 0, 0, 0, 0, 1], np.int64)),
                           g.const("one", np.array(1.0, np.float32))], "x_one", mode="constant")
    return g.node("Concat", [g.node("Mul", [x, x], "x2"), x_one], "x_aug", axis=2)


def _codebook_chain(g: _GraphBuilder, c: int, x_aug: str, form: str, mixture: str) -> str:
    """``(N, S_c)`` scores of codebook ``c``'s senones.

    Each stream's mixture sum is >= its largest weight (>= e^-26.1 after sendump's quantisation), so
    the product of three stays above float32's smallest normal number; denormals (exp below -87) are
    flushed to zero by the session (scorer.py), so the densities need no floor.
    """
    ll = g.node("MatMul", [x_aug, form], f"ll_{c}")  # (K, N, G)
    peak = g.node("ReduceMax", [ll], f"peak_{c}", axes=[2], keepdims=1)  # (K, N, 1)
    dens = g.node("Exp", [g.node("Sub", [ll, peak], f"centered_{c}")], f"dens_{c}")
    sums = g.node("MatMul", [dens, mixture], f"sums_{c}")  # (K, N, S_c)
    product = g.node("ReduceProd", [sums], f"product_{c}", axes=[0], keepdims=0)  # (N, S_c)
    floored = g.node("Max", [product, g.const(f"tiny_{c}", np.array(1e-37, np.float32))], f"floored_{c}")
    peaks = g.node("ReduceSum", [peak, g.const(f"streams_{c}", np.array([0], np.int64))], f"peaks_{c}",
                   keepdims=0)  # (N, 1)
    return g.node("Add", [g.node("Log", [floored], f"log_{c}"), peaks], f"scores_{c}")


def export_checkpoint(out_dir: str | Path, name: str = ckpt.DEFAULT_NAME, version: str | None = None,
                      model_folder: str | Path | None = None, dictionary: str | Path | None = None) -> ExportReport:
    """Write the checkpoint folder ``out_dir`` (replaced atomically) and check ONNX against numpy."""
    import onnx

    model = read_model(model_folder)
    dictionary = Path(dictionary) if dictionary else default_dictionary()
    proto = build_scorer_graph(model)
    version = version or checkpoint_version(model.source, dictionary)
    meta = ckpt.CheckpointInfo(name=name, version=version, source=_describe_source(model.source),
                               n_senones=model.definition.n_senones, phones=model.definition.phones,
                               feature_params=model.feature_params)
    for key, value in meta.to_metadata_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}-") as tmp:
        staging = Path(tmp) / "checkpoint"
        staging.mkdir()
        onnx.save(proto, staging / ckpt.SCORER_FILE)
        for file in ckpt.MODEL_FILES:
            shutil.copyfile(model.source / file, staging / file)
        shutil.copyfile(dictionary, staging / ckpt.DICTIONARY_FILE)
        diff = parity_check(staging / ckpt.SCORER_FILE, model)
        (staging / ckpt.INFO_FILE).write_text(meta.to_json(parity_max_abs_diff=diff), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    return ExportReport(folder=out_dir, tag=meta.tag, n_senones=meta.n_senones, max_abs_diff=diff)


def parity_check(scorer_path: Path, model: SphinxModel, seed: int = 0) -> float:
    """Max |ONNX - numpy reference| over random frames and senones; ModelError above tolerance."""
    rng = np.random.default_rng(seed)
    book = model.codebooks
    n_books, n_streams, _, dim = book.means.shape
    # Frames near the model's Gaussians, so densities are realistic rather than all underflowing.
    picks = rng.integers(0, [n_books, book.means.shape[2]], size=(PARITY_FRAMES, 2))
    features = book.means[picks[:, 0], :, picks[:, 1], :].reshape(PARITY_FRAMES, n_streams * dim)
    features = features + rng.normal(0, 0.5, features.shape).astype(np.float32)
    senones = rng.choice(model.definition.n_senones, size=200, replace=False)
    selection = SenoneSelection.of(senones, model.definition.senone_codebook, n_books)
    transform = MeanTransform(scale=rng.uniform(0.9, 1.1, (n_books, n_streams * dim)).astype(np.float32),
                              bias=rng.normal(0, 0.2, (n_books, n_streams * dim)).astype(np.float32))
    gaussians = Gaussians(book.means, book.variances, model.weights.log_weights)
    scorer = SenoneScorer(scorer_path, gaussians=gaussians)
    onnx_scores = scorer(features, selection, transform)
    expected = reference_scores(features, book.means, book.variances, model.weights.log_weights,
                                model.definition.senone_codebook, selection.senones, transform)
    # The graph's own initializers (features alone: every senone, in codebook order) must be the model too.
    every = SenoneSelection.of(np.arange(model.definition.n_senones), model.definition.senone_codebook, n_books)
    default_scores = scorer.score_with_defaults(features)[:, every.index_of(selection.senones)]
    untransformed = reference_scores(features, book.means, book.variances, model.weights.log_weights,
                                     model.definition.senone_codebook, selection.senones)
    diff = max(float(np.max(np.abs(onnx_scores - expected))), float(np.max(np.abs(default_scores - untransformed))))
    if not diff <= PARITY_TOLERANCE * max(1.0, float(np.max(np.abs(expected))) / 100):
        raise ModelError(f"ONNX senone scorer disagrees with the numpy reference: max |diff| {diff:.3g} nats")
    return diff


def checkpoint_version(source: Path | None = None, dictionary: Path | None = None) -> str:
    """A version that changes exactly when the model files or the graph change: 12 hex digits of a SHA-256."""
    source = source or default_model_folder()
    dictionary = dictionary or default_dictionary()
    digest = hashlib.sha256(f"scorer-graph-{GRAPH_REVISION}".encode())
    for path in [*(source / f for f in ckpt.MODEL_FILES), dictionary]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _describe_source(source: Path) -> str:
    try:
        from importlib.metadata import version

        return f"pocketsphinx {version('pocketsphinx')} en-us ({source.name})"
    except Exception:  # noqa: BLE001 - metadata is descriptive only
        return f"pocketsphinx en-us ({source})"
