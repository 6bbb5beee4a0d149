"""Readers for pocketsphinx's acoustic-model files (the en-us semi-continuous/PTM model) into numpy.

Formats, as documented by the CMU Sphinx sources (bio.c, ms_gauden.c, tmat.c, ptm_mgau.c, bin_mdef.c):

- ``means``, ``variances``, ``transition_matrices``: "s3" files. A text header (``s3``, ``key value``
  lines, ``endhdr``), a uint32 byte-order magic 0x11223344 (read swapped: the file is other-endian), then
  int32 dimensions and float32 data, and, when the header has ``chksum0``, a trailing uint32 checksum
  (``sum = rotl(sum, 20) + word`` over every 32-bit word after the magic).
- ``sendump``: int32-length-prefixed NUL-terminated strings ending with length 0 (the first length also
  tells the byte order), then int32 rows (densities) and columns (senones) and uint8 weights laid out
  (stream, density, senone). Each byte is ``-log_b(w) >> 10`` with b = 1.0001 (pocketsphinx's log base
  and SENSCR_SHIFT), so ``ln w = -byte * 1024 * ln(1.0001)``. Clustered (4-bit) dumps are not supported.
- ``mdef``: binary model definition, see :mod:`lyricalign.acoustic.sphinx_mdef`.
- ``feat.params`` (``-key value`` lines), ``noisedict`` (``word phone``), CMU dictionaries.

Post-processing matches what pocketsphinx does at load time with its default options:
variances are floored at ``-varfloor`` 1e-4; transition rows are normalised, their non-zero entries
floored at ``-tmatfloor`` 1e-4 and renormalised (zeros stay zero, i.e. -inf in log space).
"""

from __future__ import annotations

import gc
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

import numpy as np

from lyricalign.acoustic.sphinx_mdef import ModelDefinition, read_mdef
from lyricalign.errors import ModelError

__all__ = ["ModelDefinition", "GaussianCodebooks", "MixtureWeights", "SphinxModel", "read_model",
           "read_dictionary", "default_model_folder", "default_dictionary", "VARIANCE_FLOOR",
           "TRANSITION_FLOOR", "LOG_BASE", "SENSCR_SHIFT"]

log = logging.getLogger(__name__)

VARIANCE_FLOOR = 1e-4  #: pocketsphinx -varfloor default
TRANSITION_FLOOR = 1e-4  #: pocketsphinx -tmatfloor default
LOG_BASE = 1.0001  #: pocketsphinx -logbase default, the base of sendump's quantised weights
SENSCR_SHIFT = 10  #: pocketsphinx's senone-score shift: sendump bytes are log_b values >> 10
_S3_MAGIC = 0x11223344


@dataclass(frozen=True, eq=False)
class GaussianCodebooks:
    """One Gaussian codebook per CI phone (PTM): (n_codebooks, n_streams, n_density, dim) float32.

    ``variances`` are floored at :data:`VARIANCE_FLOOR`, as pocketsphinx does (``-varfloor``) before
    it precomputes its Gaussian constants, so scores computed from these match pocketsphinx's.
    """

    means: np.ndarray
    variances: np.ndarray


@dataclass(frozen=True, eq=False)
class MixtureWeights:
    """(n_senones, n_streams, n_density) float32 natural-log mixture weights, dequantised from sendump."""

    log_weights: np.ndarray


@dataclass(frozen=True, eq=False)
class SphinxModel:
    """A whole pocketsphinx acoustic model. ``log_transitions`` is (n_tmat, n_emit, n_emit + 1) float32."""

    definition: ModelDefinition
    codebooks: GaussianCodebooks
    weights: MixtureWeights
    log_transitions: np.ndarray
    feature_params: dict[str, str]
    noise_words: dict[str, str]
    source: Path


# ----------------------------------------------------------------------------------------- locations
def default_model_folder() -> Path:
    """pocketsphinx's bundled en-us acoustic model folder; ModelError if pocketsphinx is missing."""
    try:
        import pocketsphinx
    except ImportError as e:
        raise ModelError("pocketsphinx is not installed, so its en-us acoustic model is unavailable") from e
    return Path(pocketsphinx.get_model_path()) / "en-us" / "en-us"


def default_dictionary() -> Path:
    """pocketsphinx's bundled CMU pronouncing dictionary (cmudict-en-us.dict)."""
    return default_model_folder().parent / "cmudict-en-us.dict"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read model file {path}: {e.strerror or e}") from e


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ModelError(f"cannot read model file {path}: {getattr(e, 'strerror', None) or e}") from e


# ---------------------------------------------------------------------------------------- s3 files
def _s3_body(path: Path) -> tuple[dict[str, str], np.ndarray]:
    """Header key/values and the checksum-verified body of an s3 file as int32 words in file order."""
    data = _read_bytes(path)
    end = data.find(b"endhdr\n")
    if not data.startswith(b"s3\n") or end < 0:
        raise ModelError(f"{path}: not an s3 model file (no 's3' ... 'endhdr' header)")
    header = {}
    for line in data[3:end].decode("ascii", errors="replace").splitlines():
        words = line.split()
        if len(words) >= 2 and not words[0].startswith("#"):
            header[words[0]] = words[1]
    start = end + len(b"endhdr\n")
    magic = data[start:start + 4]
    if len(magic) < 4:
        raise ModelError(f"{path}: truncated before the byte-order magic")
    order = {_S3_MAGIC.to_bytes(4, "little"): "<", _S3_MAGIC.to_bytes(4, "big"): ">"}.get(magic)
    if order is None:
        raise ModelError(f"{path}: bad byte-order magic {magic.hex()}, expected 11223344 in either order")
    body = data[start + 4:]
    if len(body) % 4:
        raise ModelError(f"{path}: truncated ({len(body)} data bytes is not a whole number of 32-bit words)")
    words = np.frombuffer(body, dtype=np.dtype("i4").newbyteorder(order))
    if "chksum0" in header:
        if len(words) < 1:
            raise ModelError(f"{path}: truncated before the checksum")
        words, stored = words[:-1], int(words[-1]) & 0xFFFFFFFF
        computed = _checksum(words)
        if computed != stored:
            raise ModelError(f"{path}: checksum mismatch (file says {stored:08x}, data gives {computed:08x}); "
                             "the file is truncated or corrupt")
    return header, words


def _checksum(words: np.ndarray) -> int:
    """Sphinx's s3 checksum: ``sum = rotl32(sum, 20) + w`` over the body words (native values).

    The rotate-and-add chain is inherently sequential (carries make it non-linear), so it cannot be
    vectorised: compiled, since a Python loop took ~40 ms per means/variances file (210k words). It
    catches corrupt files pocketsphinx would also refuse.
    """
    from .s3_checksum import checksum

    return checksum(words)


def _dims(path: Path, words: np.ndarray, count: int, what: str) -> list[int]:
    if len(words) < count:
        raise ModelError(f"{path}: truncated in the {what}")
    dims = [int(v) for v in words[:count]]
    if min(dims) < 0:
        raise ModelError(f"{path}: negative {what} {dims}")
    return dims


def _floats(path: Path, words: np.ndarray, offset: int, count: int) -> np.ndarray:
    """The ``count`` float32 values after ``offset`` words, which must end the file exactly."""
    have = len(words) - offset
    if have != count:
        problem = "truncated" if have < count else "has trailing data"
        raise ModelError(f"{path}: {problem}: expected {count} values, found {have}")
    return words[offset:].view(words.dtype.str.replace("i", "f")).astype(np.float32)


def read_gaussians(path: Path) -> np.ndarray:
    """means/variances file -> (n_codebooks, n_streams, n_density, dim) float32 (equal stream widths)."""
    _, words = _s3_body(path)
    n_mgau, n_feat, n_density = _dims(path, words, 3, "codebook dimensions")
    veclen = _dims(path, words[3:], n_feat, "stream widths")
    (n,) = _dims(path, words[3 + n_feat:], 1, "value count")
    if n != n_mgau * n_density * sum(veclen) or len(set(veclen)) > 1:
        raise ModelError(f"{path}: value count {n} does not match {n_mgau} codebooks x {n_density} "
                         f"densities x stream widths {veclen} (equal widths required)")
    values = _floats(path, words, 4 + n_feat, n)
    return values.reshape(n_mgau, n_feat, n_density, veclen[0] if veclen else 0)


def read_codebooks(means: Path, variances: Path) -> GaussianCodebooks:
    """Means and variances, checked against each other; variances floored at :data:`VARIANCE_FLOOR`."""
    mu, var = read_gaussians(means), read_gaussians(variances)
    if mu.shape != var.shape:
        raise ModelError(f"{variances}: shape {var.shape} differs from {means.name} {mu.shape}")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(var))):
        raise ModelError(f"{means} / {variances}: non-finite Gaussian parameters")
    floored = np.count_nonzero(var < VARIANCE_FLOOR)
    log.debug("%s: %d variance values floored at %g", variances, floored, VARIANCE_FLOOR)
    return GaussianCodebooks(means=mu, variances=np.maximum(var, np.float32(VARIANCE_FLOOR)))


def read_transitions(path: Path) -> np.ndarray:
    """transition_matrices (stored as counts) -> (n_tmat, n_src, n_src + 1) float32 natural logs.

    Each row is normalised, non-zero entries below :data:`TRANSITION_FLOOR` raised to it and the row
    renormalised (pocketsphinx's tmat_init); structural zeros give -inf.
    """
    _, words = _s3_body(path)
    n_tmat, n_src, n_dst, n = _dims(path, words, 4, "matrix dimensions")
    if n_dst != n_src + 1 or n != n_tmat * n_src * n_dst:
        raise ModelError(f"{path}: {n} values for {n_tmat} matrices of {n_src} x {n_dst} "
                         "(need n_dst = n_src + 1)")
    counts = _floats(path, words, 4, n).reshape(n_tmat, n_src, n_dst).astype(np.float64)
    if np.any(~np.isfinite(counts)) or np.any(counts < 0):
        raise ModelError(f"{path}: negative or non-finite transition counts")
    if np.any(np.tril(np.ones((n_src, n_dst), dtype=bool), -1) & (counts > 0)):
        raise ModelError(f"{path}: a transition matrix is not left-to-right (upper triangular)")
    sums = counts.sum(axis=2, keepdims=True)
    if np.any(sums == 0):
        raise ModelError(f"{path}: a transition matrix has a row of zeros")
    prob = counts / sums
    prob = np.where(prob > 0, np.maximum(prob, TRANSITION_FLOOR), 0.0)
    prob /= prob.sum(axis=2, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.log(prob).astype(np.float32)


# ------------------------------------------------------------------------------------------ sendump
def read_mixture_weights(path: Path, n_streams: int) -> MixtureWeights:
    """sendump -> (n_senones, n_streams, n_density) natural-log weights (see the module docstring)."""
    data = _read_bytes(path)
    strings, pos, order = _sendump_strings(path, data)
    counts = {}
    for text in strings:  # e.g. "cluster_count 0", "feature_count 3"; the rest is free-form description
        name, _, value = text.partition(" ")
        if name.endswith("_count"):
            if not value.strip().isdigit():
                raise ModelError(f"{path}: bad header line {text!r}")
            counts[name] = int(value)
    if counts.get("cluster_count", 0) != 0:
        raise ModelError(f"{path}: clustered (4-bit) sendump files are not supported")
    if counts.get("feature_count", n_streams) != n_streams:
        raise ModelError(f"{path}: {counts['feature_count']} feature streams, the codebooks have {n_streams}")
    if len(data) < pos + 8:
        raise ModelError(f"{path}: truncated before the table dimensions")
    rows, cols = (int(v) for v in np.frombuffer(data, np.dtype("i4").newbyteorder(order), 2, pos))
    expected = n_streams * rows * cols
    have = len(data) - pos - 8
    if rows <= 0 or cols <= 0 or have != expected:
        problem = "truncated" if have < expected else "wrong size"
        raise ModelError(f"{path}: {problem}: {have} weight bytes for {n_streams} streams x {rows} densities "
                         f"x {cols} senones")
    quantised = np.frombuffer(data, np.uint8, expected, pos + 8).reshape(n_streams, rows, cols)
    scale = np.float32(-(1 << SENSCR_SHIFT) * math.log(LOG_BASE))
    return MixtureWeights(log_weights=np.ascontiguousarray(quantised.transpose(2, 0, 1)) * scale)


def _sendump_strings(path: Path, data: bytes) -> tuple[list[str], int, str]:
    """Header strings of a sendump, the offset after them and the byte order ('<' or '>')."""
    if len(data) < 4:
        raise ModelError(f"{path}: truncated before the title length")
    # Like pocketsphinx: the title length (1..999) is what reveals the byte order.
    if 1 <= int.from_bytes(data[:4], "little", signed=True) <= 999:
        order = "<"
    elif 1 <= int.from_bytes(data[:4], "big", signed=True) <= 999:
        order = ">"
    else:
        raise ModelError(f"{path}: not a sendump file (title length out of range in either byte order)")
    strings, pos = [], 0
    while True:
        if pos + 4 > len(data):
            raise ModelError(f"{path}: truncated in the header strings")
        n = int.from_bytes(data[pos:pos + 4], "little" if order == "<" else "big", signed=True)
        pos += 4
        if n == 0:
            return strings, pos, order
        if n < 0 or pos + n > len(data):
            raise ModelError(f"{path}: truncated or corrupt header string at byte {pos}")
        strings.append(data[pos:pos + n].rstrip(b"\0").decode("ascii", errors="replace"))
        pos += n


# ------------------------------------------------------------------------------------- text files
def read_feature_params(path: Path) -> dict[str, str]:
    """feat.params: ``-key value`` lines -> {"-key": "value"} (front-end settings the model expects)."""
    params = {}
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        if not key.startswith("-") or not value.strip():
            raise ModelError(f"{path}:{number}: expected '-name value', got {line!r}")
        params[key] = value.strip()
    if not params:
        raise ModelError(f"{path}: no feature parameters")
    return params


def read_noise_dictionary(path: Path, definition: ModelDefinition) -> dict[str, str]:
    """noisedict: ``word phone`` lines; every phone must be a filler phone of the model."""
    fillers = {phone for phone, filler in zip(definition.phones, definition.filler) if filler}
    words = {}
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 2 or fields[1] not in fillers:
            raise ModelError(f"{path}:{number}: expected 'word filler-phone', got {line.strip()!r}")
        words[fields[0]] = fields[1]
    if not words:
        raise ModelError(f"{path}: no noise words")
    return words


def read_dictionary(path: str | Path, words: Collection[str] | None = None) -> dict[str, list[tuple[str, ...]]]:
    """CMU pronouncing dictionary -> word -> pronunciations (phone tuples) in file order.

    ``word(2)`` lines are further variants of ``word``; text after ``#`` is a comment. Words keep the
    file's case (cmudict-en-us is lower case). A word without phones is a ModelError naming the line.
    With ``words``, only those entries are kept (a song's words: ~0.1 s and no 70 MB of dictionary).
    """
    path = Path(path)
    text = _read_text(path)
    if words is not None:
        wanted = set(words)
        text = "\n".join(line for line in text.splitlines() if line.split("(", 1)[0].split(" ", 1)[0] in wanted)
    # ~250k small containers: the cyclic GC would rescan them repeatedly (4x slower); none can be cyclic.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_dictionary(path, text)
    finally:
        if was_enabled:
            gc.enable()


def _parse_dictionary(path: Path, text: str) -> dict[str, list[tuple[str, ...]]]:
    entries: dict[str, list[tuple[str, ...]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if "#" in line:
            line = line[:line.index("#")]
        word, *phones = line.split() or ("",)
        if not phones:
            if word:
                raise ModelError(f"{path}:{number}: {word!r} has no phones")
            continue
        if word[-1] == ")" and "(" in word[1:]:
            word = word[:word.rindex("(")]
        if word in entries:
            entries[word].append(tuple(phones))
        else:
            entries[word] = [tuple(phones)]
    return entries


# ----------------------------------------------------------------------------------------- model
def read_model(folder: str | Path | None = None) -> SphinxModel:
    """Read and cross-check a whole model folder (default: pocketsphinx's en-us). Nothing is cached."""
    started = time.perf_counter()
    root = Path(folder) if folder is not None else default_model_folder()
    if not root.is_dir():
        raise ModelError(f"acoustic model folder {root} does not exist")
    definition = read_mdef(root / "mdef")
    codebooks = read_codebooks(root / "means", root / "variances")
    weights = read_mixture_weights(root / "sendump", codebooks.means.shape[1])
    transitions = read_transitions(root / "transition_matrices")
    model = SphinxModel(definition=definition, codebooks=codebooks, weights=weights,
                        log_transitions=transitions, feature_params=read_feature_params(root / "feat.params"),
                        noise_words=read_noise_dictionary(root / "noisedict", definition), source=root)
    _check_consistent(model)
    log.debug("read %s in %.3f s", root, time.perf_counter() - started)
    return model


def _check_consistent(model: SphinxModel) -> None:
    """Sizes that must agree between files (PTM: one codebook per CI phone)."""
    d, root = model.definition, model.source
    n_cb, n_streams, n_density, _ = model.codebooks.means.shape
    n_tmat, n_emit, _ = model.log_transitions.shape
    problems = []
    if n_cb != len(d.phones) or d.senone_codebook.max(initial=0) >= n_cb:
        problems.append(f"means has {n_cb} codebooks for {len(d.phones)} CI phones")
    if model.weights.log_weights.shape != (d.n_senones, n_streams, n_density):
        problems.append(f"sendump is {model.weights.log_weights.shape}, "
                        f"expected ({d.n_senones}, {n_streams}, {n_density})")
    if n_emit != d.senone_sequences.shape[1] or d.tmat_of_phone.max(initial=0) >= n_tmat:
        problems.append(f"transition_matrices has {n_tmat} of {n_emit} states, mdef needs "
                        f"{d.tmat_of_phone.max(initial=0) + 1} of {d.senone_sequences.shape[1]}")
    if problems:
        raise ModelError(f"{root}: model files do not fit together: " + "; ".join(problems))
