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
from lyricalign.acoustic.scorer import (INPUTS, OUTPUT, MeanTransform, SenoneScorer, SenoneSelection, quadratic_form,
                                       reference_scores)
from lyricalign.acoustic.sphinx_files import SphinxModel, default_dictionary, default_model_folder, read_model
from lyricalign.errors import ModelError

logger = logging.getLogger(__name__)

OPSET = 17
GRAPH_REVISION = 5  # bump when build_scorer_graph changes what it computes or how
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

    Layout: frames last (``(..., N)``) through the graph, so every per-codebook slice is a contiguous
    block and every weight row a contiguous gather; one transpose at the end gives ``(N, S)``.
    """
    import onnx
    from onnx import TensorProto, helper

    n_books, n_streams, n_dens, dim = model.codebooks.means.shape
    g = _GraphBuilder()
    # The Gaussians as weights of [x^2, x, 1]: an input whose default (an initializer of the same
    # name) is the pretrained model; an adapted model passes its own, computed once per call.
    g.const("gaussians", quadratic_form(model.codebooks.means, model.codebooks.variances))  # (C, K, 2d+1, G)
    used, position = _used_codebooks(g)
    dens, peak = _densities(g, n_streams, dim, used)
    _mixtures(g, model, dens, peak, position)
    inputs = [
        helper.make_tensor_value_info("features", TensorProto.FLOAT, ["frames", n_streams * dim]),
        helper.make_tensor_value_info("senones", TensorProto.INT64, ["selected"]),
        helper.make_tensor_value_info("counts", TensorProto.INT64, [n_books]),
        helper.make_tensor_value_info("gaussians", TensorProto.FLOAT, [n_books, n_streams, 2 * dim + 1, n_dens]),
    ]
    assert tuple(i.name for i in inputs) == INPUTS
    outputs = [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["frames", "selected"])]
    graph = helper.make_graph(g.nodes, "lyricalign_senone_scorer", inputs, outputs, g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lyricalign")
    onnx.checker.check_model(proto, full_check=False)
    return proto


def _used_codebooks(g: _GraphBuilder) -> tuple[str, str]:
    """``used (U,)``: the codebooks with selected senones (a song's phones use about two thirds of
    them); ``position (C,)``: each codebook's row among them (any row when it has none: its mixture
    product is then empty)."""
    from onnx import TensorProto

    has_senones = g.node("Greater", ["counts", g.const("zero_i64", np.array(0, np.int64))], "has_senones")
    used = g.node("Squeeze", [g.node("NonZero", [has_senones], "used_2d"), g.const("axis_0", np.array([0], np.int64))],
                  "used")
    cumulative = g.node("CumSum", [g.node("Cast", [has_senones], "has_i64", to=TensorProto.INT64),
                                   g.const("cum_axis", np.array(0, np.int64))], "cum")
    return used, g.node("Sub", [cumulative, g.const("one_i64", np.array(1, np.int64))], "position")


def _densities(g: _GraphBuilder, n_streams: int, dim: int, used: str) -> tuple[str, str]:
    """``dens (U, K, G, N)``: each used Gaussian's density over its stream's peak, and ``peak (U, N)``:
    the log of those peaks summed over the streams (the mixture sums' common factor)."""
    # x_aug (K, 2d+1, N): the frames as [x^2, x, 1] per stream.
    x = g.node("Transpose", [g.node("Reshape", ["features", g.const("shape_nkd", np.array([-1, n_streams, dim],
                                                                                      np.int64))], "x_nkd")],
               "x", perm=[1, 2, 0])  # (K, d, N)
    x_one = g.node("Pad", [x, g.const("pad_one", np.array([0, 0, 0, 0, 1, 0], np.int64)),
                           g.const("one", np.array(1.0, np.float32))], "x_one", mode="constant")
    x_aug = g.node("Concat", [g.node("Mul", [x, x], "x2"), x_one], "x_aug", axis=1)
    form = g.node("Transpose", [g.node("Gather", ["gaussians", used], "form_used", axis=0)], "form_t",
                  perm=[0, 1, 3, 2])  # (U, K, G, 2d+1)
    ll = g.node("MatMul", [form, x_aug], "ll")  # (U, K, G, N)
    peak = g.node("ReduceMax", [ll], "peak", axes=[2], keepdims=1)  # (U, K, 1, N)
    # Denormals (exp below -87) are flushed to zero by the session (scorer.py), so no floor is needed.
    dens = g.node("Exp", [g.node("Sub", [ll, peak], "centered")], "dens")
    peak_sum = g.node("ReduceSum", [peak, g.const("axes_k_g", np.array([1, 2], np.int64))], "peak_sum", keepdims=0)
    return dens, peak_sum


def _mixtures(g: _GraphBuilder, model: SphinxModel, dens: str, peak: str, position: str) -> str:
    """``scores (N, S)``: per codebook ``(K, S_c, G) @ (K, G, N)`` mixture sums, then one product over
    the streams, log and peaks for all senones at once.

    Each stream's sum is >= its largest weight (>= e^-26.1 after sendump's quantisation), so the
    product of three stays above float32's smallest normal number.
    """
    n_books = model.codebooks.means.shape[0]
    weights = np.exp(model.weights.log_weights.astype(np.float64)).astype(np.float32)  # (S, K, G)
    g.const("weights", weights.transpose(1, 0, 2))  # (K, S, G): a senone's weights are contiguous rows
    groups = [f"senones_{i}" for i in range(n_books)]
    g.node("Split", ["senones", "counts"], groups, axis=0)
    sums = []
    for i, group in enumerate(groups):
        row = g.node("Gather", [position, g.const(f"book_{i}", np.array(i, np.int64))], f"row_{i}", axis=0)
        book_dens = g.node("Gather", [dens, row], f"dens_{i}", axis=0)  # (K, G, N)
        book_weights = g.node("Gather", ["weights", group], f"w_{i}", axis=1)  # (K, S_c, G)
        sums.append(g.node("MatMul", [book_weights, book_dens], f"sum_{i}"))  # (K, S_c, N)
    mixture = g.node("ReduceProd", [g.node("Concat", sums, "sums", axis=1)], "mixture", axes=[0], keepdims=0)
    # Each selected senone's row of the peaks: its codebook's position among the used ones.
    rows = g.node("Gather", [position, g.node("Gather", [g.const("senone_codebook", model.definition.senone_codebook
                                                                  .astype(np.int64)), "senones"], "senone_books")],
                  "senone_rows")
    peaks = g.node("Gather", [peak, rows], "senone_peaks", axis=0)  # (S, N)
    log_mixture = g.node("Log", [g.node("Max", [mixture, g.const("tiny", np.array(1e-37, np.float32))], "floored")],
                         "log_mixture")
    return g.node("Transpose", [g.node("Add", [log_mixture, peaks], "scores_t")], OUTPUT, perm=[1, 0])


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
    onnx_scores = SenoneScorer(scorer_path, gaussians=gaussians)(features, selection, transform)
    expected = reference_scores(features, book.means, book.variances, model.weights.log_weights,
                                model.definition.senone_codebook, selection.senones, transform)
    diff = float(np.max(np.abs(onnx_scores - expected)))
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
