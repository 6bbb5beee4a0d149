"""Readers for pocketsphinx's en-us model files, against the real installed pocketsphinx model."""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from lyricalign.acoustic.sphinx_files import (
    VARIANCE_FLOOR, SphinxModel, default_dictionary, default_model_folder, read_dictionary, read_model,
    read_transitions,
)
from lyricalign.errors import ModelError

MODEL_FILES = ("feat.params", "mdef", "means", "variances", "sendump", "transition_matrices", "noisedict")
BINARY_FILES = ("mdef", "means", "variances", "sendump", "transition_matrices")
POSITION_CODES = {"i": 0, "b": 1, "e": 2, "s": 3}


@pytest.fixture(scope="module")
def model() -> SphinxModel:
    return read_model()


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "en-us"
    shutil.copytree(default_model_folder(), folder)
    return folder


def test_default_locations_exist():
    assert all((default_model_folder() / name).is_file() for name in MODEL_FILES)
    assert default_dictionary().is_file()


def test_counts_and_shapes(model: SphinxModel):
    d = model.definition
    assert len(d.phones) == len(d.filler) == 42
    assert {"+NSN+", "+SPN+", "SIL"} == {p for p, f in zip(d.phones, d.filler) if f}
    assert d.n_triphones == 137_053
    assert (d.n_senones, d.n_ci_senones) == (5126, 126)
    assert d.senone_sequences.shape == (29_324, 3) and d.senone_sequences.dtype == np.int32
    assert d.senone_codebook.shape == (5126,) and d.senone_codebook.dtype == np.int32
    assert model.codebooks.means.shape == model.codebooks.variances.shape == (42, 3, 128, 13)
    assert model.codebooks.means.dtype == np.float32
    assert model.weights.log_weights.shape == (5126, 3, 128)
    assert model.weights.log_weights.dtype == np.float32
    assert model.log_transitions.shape == (42, 3, 4) and model.log_transitions.dtype == np.float32
    assert model.feature_params["-lowerf"] == "130" and model.feature_params["-remove_noise"] == "yes"
    assert model.noise_words == {"<s>": "SIL", "</s>": "SIL", "<sil>": "SIL", "[NOISE]": "+NSN+",
                                 "[SPEECH]": "+SPN+"}


def test_senone_ids_in_range_and_ci_phones(model: SphinxModel):
    d = model.definition
    assert d.senone_sequences.min() >= 0 and d.senone_sequences.max() < d.n_senones
    assert np.array_equal(np.unique(d.senone_sequences), np.arange(d.n_senones))
    ci_states = d.senone_sequences[d.ci_sseq]
    assert np.all(ci_states < d.n_ci_senones)
    # A CI phone's senones belong to its own codebook; so do the senones of every triphone on that base.
    assert np.array_equal(d.senone_codebook[ci_states], np.repeat(np.arange(42), 3).reshape(42, 3))
    aa = d.phone_id("AA")
    assert np.all(d.senone_codebook[d.senone_sequences[d.triphone("AA", "B", "K", "i")]] == aa)
    assert sorted(set(d.tmat_of_phone.tolist())) == list(range(42))


def _tree_walk(data: bytes, base: int, left: int, right: int, position: int) -> int | None:
    """Independent slow lookup: walk the binary mdef's CD tree the way pocketsphinx's bin_mdef_phone_id does."""
    (desc_len,) = struct.unpack_from("<i", data, 8)
    offset = 12 + desc_len
    n_ci, n_phone, *_, n_tree, _sil = struct.unpack_from("<10i", data, offset)
    offset += 40
    start = offset
    for _ in range(n_ci):
        offset = data.index(b"\0", offset) + 1
    tree = start + ((offset - start + 3) & ~3)
    phones = tree + 8 * n_tree
    first, count = 0, 4
    for ctx in (position, base, left, right):
        for node in range(first, first + count):
            node_ctx, n_down, down = struct.unpack_from("<hhi", data, tree + 8 * node)
            if node_ctx == ctx:
                break
        else:
            return None
        if n_down == 0:
            return None if down < 0 else struct.unpack_from("<i", data, phones + 12 * down)[0]
        first, count = down, n_down
    return None


def test_triphone_lookup_matches_cd_tree_walk(model: SphinxModel):
    d = model.definition
    data = (model.source / "mdef").read_bytes()
    sil = d.phone_id("SIL")
    rng = np.random.default_rng(7)
    names = d.phones
    found = absent = 0
    for _ in range(1500):
        b, lc, rc = (names[i] for i in rng.integers(0, len(names), 3))
        pos = "ibes"[rng.integers(0, 4)]
        ctx = [sil if d.filler[d.phone_id(p)] else d.phone_id(p) for p in (lc, rc)]
        expected = _tree_walk(data, d.phone_id(b), ctx[0], ctx[1], POSITION_CODES[pos])
        assert d.triphone(b, lc, rc, pos) == expected, (b, lc, rc, pos)
        found += expected is not None
        absent += expected is None
    assert found > 100 and absent > 100
    for args in [("AA", "B", "K", "i"), ("K", "SIL", "AE", "b"), ("T", "AE", "SIL", "e"), ("AH", "SIL", "SIL", "s")]:
        expected = _tree_walk(data, d.phone_id(args[0]), d.phone_id(args[1]), d.phone_id(args[2]),
                              POSITION_CODES[args[3]])
        assert expected is not None and d.triphone(*args) == expected
        assert expected not in d.ci_sseq  # a real triphone, not the CI fallback


def test_triphone_fallback_and_errors(model: SphinxModel):
    d = model.definition
    assert d.triphone("SIL", "AA", "AA", "i") is None  # fillers have no triphones: use ci_sseq
    assert d.triphone("AA", "+NSN+", "K", "b") == d.triphone("AA", "SIL", "K", "b")
    sseq = d.senone_sequences[d.ci_sseq[d.phone_id("AA")]]
    assert sseq.tolist() == [6, 7, 8]
    with pytest.raises(ModelError, match="no phone"):
        d.triphone("XX", "B", "K", "i")
    with pytest.raises(ModelError, match="word position"):
        d.triphone("AA", "B", "K", "x")


def test_transitions_are_normalised_left_to_right(model: SphinxModel):
    prob = np.exp(model.log_transitions.astype(np.float64))
    assert np.allclose(prob.sum(axis=2), 1.0, atol=1e-6)
    for src in range(3):
        assert np.all(prob[:, src, src] > 0) and np.all(prob[:, src, src + 1] > 0)
        others = [k for k in range(4) if k not in (src, src + 1)]
        assert np.all(np.isneginf(model.log_transitions[:, src, others]))  # no back or skip transitions
    assert prob[prob > 0].min() >= 1e-4 * 0.99


def test_mixture_weights_and_variances(model: SphinxModel):
    sums = np.exp(model.weights.log_weights.astype(np.float64)).sum(axis=2)
    assert sums.min() >= 0.9 and sums.max() <= 1.0
    assert np.all(model.weights.log_weights <= 0)
    assert model.codebooks.variances.min() == pytest.approx(VARIANCE_FLOOR)
    assert np.all(np.isfinite(model.codebooks.means))


def test_read_model_is_fast():
    read_model()  # warm the page cache
    started = time.perf_counter()
    read_model()
    assert time.perf_counter() - started < 1.0  # ~0.15 s measured; generous for a loaded machine


@pytest.mark.parametrize("name", MODEL_FILES)
def test_truncated_file_raises_model_error(model_copy: Path, name: str):
    path = model_copy / name
    data = path.read_bytes()
    # Text files: empty, or cut inside the last line's value ("-remove_noise", "[SPEECH] +"); a text file
    # cut exactly at a line break is indistinguishable from a shorter valid one.
    cuts = [0, 3, 11, len(data) // 2, len(data) - 1] if name in BINARY_FILES else [0, len(data) - 5]
    for cut in cuts:
        path.write_bytes(data[:cut])
        with pytest.raises(ModelError, match=name):
            read_model(model_copy)


@pytest.mark.parametrize("name", MODEL_FILES)
def test_missing_file_raises_model_error(model_copy: Path, name: str):
    (model_copy / name).unlink()
    with pytest.raises(ModelError, match=name):
        read_model(model_copy)


@pytest.mark.parametrize("name", ["mdef", "means", "transition_matrices"])
def test_bad_byte_order_magic(model_copy: Path, name: str):
    path = model_copy / name
    data = bytearray(path.read_bytes())
    at = 0 if name == "mdef" else data.index(b"endhdr\n") + 7
    data[at:at + 4] = b"\xde\xad\xbe\xef"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="byte-order"):
        read_model(model_copy)


def test_checksum_mismatch(model_copy: Path):
    path = model_copy / "variances"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="variances.*checksum"):
        read_model(model_copy)


def test_trailing_data_is_an_error(model_copy: Path):
    with (model_copy / "sendump").open("ab") as fh:
        fh.write(b"\0" * 8)
    with pytest.raises(ModelError, match="sendump"):
        read_model(model_copy)


def test_big_endian_s3_file_reads_the_same(model: SphinxModel, tmp_path: Path):
    data = (model.source / "transition_matrices").read_bytes()
    body = data.index(b"endhdr\n") + 7
    swapped = np.frombuffer(data[body:], dtype="<u4").astype(">u4").tobytes()  # magic, data and checksum
    path = tmp_path / "transition_matrices"
    path.write_bytes(data[:body] + swapped)
    assert np.array_equal(read_transitions(path), model.log_transitions)


def test_read_dictionary_variants_and_comments(tmp_path: Path):
    path = tmp_path / "tiny.dict"
    path.write_text("# a comment line\n"
                    "read R IY D\n"
                    "read(2) R EH D  # past tense\n"
                    "\n"
                    "a(1) AH\n"
                    "a(2) EY\n"
                    "(paren) P ER EH N\n"
                    "x(3)y EH K S\n", encoding="utf-8")
    assert read_dictionary(path) == {"read": [("R", "IY", "D"), ("R", "EH", "D")], "a": [("AH",), ("EY",)],
                                     "(paren)": [("P", "ER", "EH", "N")], "x(3)y": [("EH", "K", "S")]}
    path.write_text("good G UH D\nbad # phones commented out\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"tiny\.dict:2"):
        read_dictionary(path)
    with pytest.raises(ModelError, match="missing.dict"):
        read_dictionary(tmp_path / "missing.dict")


def test_read_real_dictionary():
    words = read_dictionary(default_dictionary())
    assert len(words) > 100_000
    assert words["read"] == [("R", "EH", "D"), ("R", "IY", "D")]
    phones = set(read_model().definition.phones)
    assert all(set(p) <= phones for prons in words.values() for p in prons)


def test_compiled_checksum_equals_the_python_definition():
    from lyricalign.acoustic.s3_checksum import checksum, checksum_reference

    words = np.random.default_rng(3).integers(-2**31, 2**31, 10_001, dtype=np.int64).astype(np.int32)
    assert checksum(words) == checksum_reference(words)
    assert checksum(words[:0]) == 0
