"""Reader for pocketsphinx's *binary* model definition (``mdef``, format "BMDF" version 1).

The layout (from the format description pocketsphinx writes into every binary mdef):

    int32 magic 'BMDF', int32 version, int32 desc_len, char desc[desc_len]
    int32 n_ciphone, n_phone, n_emit_state, n_ci_sen, n_sen, n_tmat, n_sseq, n_ctx, n_cd_tree, sil
    char ciphones[][] (NUL-terminated, sorted), zero padding to a 4-byte boundary
    struct {int16 ctx; int16 n_down; int32 pid_or_down} cd_tree[n_cd_tree]
    struct {int32 ssid; int32 tmat; uint8 attr[4]} phones[n_phone]
        CI phone: attr[0] = filler flag; triphone: attr = (word position, base, left, right)
    int32 sseq_size; uint16 sseq[sseq_size]   (n_sseq x n_emit_state for homogeneous models)

We read the ``phones`` table directly (every triphone carries its own base/left/right/position), so the
CD tree (a search structure over the same data) is only skipped, not walked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lyricalign.errors import ModelError

log = logging.getLogger(__name__)

_MAGIC = 0x46444D42  # 'BMDF' read as a little-endian int32
_VERSION = 1
_HEADER_FIELDS = ("n_ciphone", "n_phone", "n_emit_state", "n_ci_sen", "n_sen",
                  "n_tmat", "n_sseq", "n_ctx", "n_cd_tree", "sil")
#: Word-position codes as pocketsphinx numbers them (WPOS_NAME = "ibesu").
POSITIONS = {"i": 0, "b": 1, "e": 2, "s": 3}


@dataclass(frozen=True, eq=False)
class ModelDefinition:
    """Phone inventory, triphones and their senone sequences of a semi-continuous (PTM) model.

    ``senone_sequences`` is (n_sseq, n_emit_state) int32 senone ids, one row per distinct HMM;
    ``senone_codebook`` (n_senones,) is the CI phone whose Gaussian codebook a senone uses
    (pocketsphinx's ``sen2cimap``: the base phone of the first phone using the senone);
    ``ci_sseq`` / ``tmat_of_phone`` (n_phones,) give each CI phone's senone sequence and
    transition matrix. Triphones share their base phone's transition matrix.
    """

    phones: tuple[str, ...]
    filler: tuple[bool, ...]
    n_senones: int
    n_ci_senones: int
    senone_sequences: np.ndarray
    senone_codebook: np.ndarray
    ci_sseq: np.ndarray
    tmat_of_phone: np.ndarray
    # (4, n_phones, n_phones, n_phones) int32 senone-sequence id indexed [position, base, left, right], -1 if
    # absent: a dense key table makes triphone() O(1) and costs ~1 MB for 42 phones.
    _triphone_table: np.ndarray = field(repr=False)
    _phone_index: dict[str, int] = field(repr=False)

    def phone_id(self, name: str) -> int:
        """CI phone id of ``name`` (mdef order); ModelError if the model has no such phone."""
        try:
            return self._phone_index[name]
        except KeyError:
            raise ModelError(f"the acoustic model has no phone {name!r}") from None

    def triphone(self, base: str, left: str, right: str, position: str) -> int | None:
        """Senone-sequence id of triphone ``left-base+right`` at word ``position`` ("b","e","i","s").

        Like pocketsphinx's ``bin_mdef_phone_id``, filler contexts (+NSN+, +SPN+) are looked up as SIL,
        the only filler that occurs as context in the model. Returns None when the model has no such
        triphone (the caller then backs off, e.g. to ``ci_sseq``). Unknown phones raise ModelError.
        """
        if position not in POSITIONS:
            raise ModelError(f"word position must be one of b, e, i, s, not {position!r}")
        b, lc, rc = self.phone_id(base), self._context(left), self._context(right)
        ssid = int(self._triphone_table[POSITIONS[position], b, lc, rc])
        return None if ssid < 0 else ssid

    def _context(self, name: str) -> int:
        pid = self.phone_id(name)
        if self.filler[pid] and "SIL" in self._phone_index:
            return self._phone_index["SIL"]
        return pid

    @property
    def n_triphones(self) -> int:
        """Number of context-dependent phones (triphones) in the model."""
        return int(np.count_nonzero(self._triphone_table >= 0))


class _Cursor:
    """Bounds-checked reader over a byte buffer: every short read becomes a ModelError naming the file."""

    def __init__(self, data: bytes, path: Path, order: str = "<"):
        self.data, self.path, self.order, self.pos = data, path, order, 0

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype).newbyteorder(self.order)
        end = self.pos + dt.itemsize * count
        if count < 0 or end > len(self.data):
            raise ModelError(f"{self.path}: truncated while reading {what} "
                             f"(needs {end} bytes, file has {len(self.data)})")
        out = np.frombuffer(self.data, dtype=dt, count=count, offset=self.pos)
        self.pos = end
        return out

    def skip_to(self, pos: int, what: str) -> None:
        if pos > len(self.data):
            raise ModelError(f"{self.path}: truncated in {what}")
        self.pos = pos


def read_mdef(path: Path) -> ModelDefinition:
    """Read a binary mdef file; ModelError for a missing, truncated or inconsistent one."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read model definition {path}: {e.strerror or e}") from e
    cur = _Cursor(data, path)
    head = _read_header(cur)
    names = _read_phone_names(cur, head["n_ciphone"])
    cur.array("i2", 4 * head["n_cd_tree"], "the CD tree")  # search tree over `phones`; not needed
    phones = cur.array("i4", 3 * head["n_phone"], "the phone table").reshape(-1, 3)
    (sseq_size,) = cur.array("i4", 1, "the senone-sequence size")
    n_sseq, n_emit = head["n_sseq"], head["n_emit_state"]
    if sseq_size != n_sseq * n_emit:
        raise ModelError(f"{path}: senone-sequence table has {sseq_size} entries, "
                         f"expected {n_sseq} x {n_emit}")
    sseq = cur.array("u2", int(sseq_size), "the senone sequences").astype(np.int32).reshape(n_sseq, n_emit)
    if cur.pos != len(data):
        raise ModelError(f"{path}: {len(data) - cur.pos} unexpected bytes after the senone sequences")
    return _build(path, head, names, phones, sseq)


def _read_header(cur: _Cursor) -> dict[str, int]:
    (magic,) = cur.array("<u4", 1, "the byte-order marker")
    if magic == _MAGIC:
        cur.order = "<"
    elif magic == int.from_bytes(_MAGIC.to_bytes(4, "little"), "big"):
        cur.order = ">"
    else:
        raise ModelError(f"{cur.path}: not a binary mdef (byte-order marker {int(magic):#010x})")
    version, desc_len = (int(v) for v in cur.array("i4", 2, "the version"))
    if version > _VERSION or desc_len < 0:
        raise ModelError(f"{cur.path}: unsupported binary mdef version {version}")
    cur.skip_to(cur.pos + desc_len, "the format description")
    head = dict(zip(_HEADER_FIELDS, (int(v) for v in cur.array("i4", 10, "the header"))))
    if min(head[k] for k in _HEADER_FIELDS[:-1]) < 0 or not 0 < head["n_ciphone"] <= 255:
        raise ModelError(f"{cur.path}: impossible header counts {head}")
    if head["n_emit_state"] == 0 or head["n_ctx"] != 3:
        raise ModelError(f"{cur.path}: only homogeneous triphone models are supported "
                         f"(n_emit_state={head['n_emit_state']}, n_ctx={head['n_ctx']})")
    return head


def _read_phone_names(cur: _Cursor, n: int) -> tuple[str, ...]:
    start, names = cur.pos, []
    for _ in range(n):
        end = cur.data.find(b"\0", cur.pos)
        if end < 0:
            raise ModelError(f"{cur.path}: truncated in the phone names")
        names.append(cur.data[cur.pos:end].decode("ascii", errors="replace"))
        cur.pos = end + 1
    cur.skip_to(start + ((cur.pos - start + 3) & ~3), "the phone-name padding")
    if names != sorted(names) or len(set(names)) != n:
        raise ModelError(f"{cur.path}: phone names are not sorted and unique")
    return tuple(names)


def _build(path: Path, head: dict[str, int], names: tuple[str, ...], phones: np.ndarray,
           sseq: np.ndarray) -> ModelDefinition:
    n_ci, n_sen = head["n_ciphone"], head["n_sen"]
    ssid, tmat = phones[:, 0].astype(np.int32), phones[:, 1].astype(np.int32)
    attr = phones[:, 2:3].copy().view(np.uint8).reshape(-1, 4).astype(np.int64)  # raw bytes, any order
    cd = attr[n_ci:]
    if (ssid.min(initial=0) < 0 or ssid.max(initial=0) >= head["n_sseq"]
            or tmat.min(initial=0) < 0 or tmat.max(initial=0) >= head["n_tmat"]):
        raise ModelError(f"{path}: a phone refers to a missing senone sequence or transition matrix")
    if sseq.size and sseq.max() >= n_sen or head["n_ci_sen"] > n_sen:
        raise ModelError(f"{path}: a senone sequence refers to a senone >= n_sen={n_sen}")
    if cd.size and (cd[:, 0].max() >= len(POSITIONS) or cd[:, 1:].max() >= n_ci):
        raise ModelError(f"{path}: a triphone has an invalid word position or context phone")
    if np.any(tmat[n_ci:] != tmat[cd[:, 1]]):  # the API exposes one transition matrix per base phone
        raise ModelError(f"{path}: unsupported: a triphone uses another transition matrix than its base phone")
    table = np.full((len(POSITIONS), n_ci, n_ci, n_ci), -1, dtype=np.int32)
    table[cd[:, 0], cd[:, 1], cd[:, 2], cd[:, 3]] = ssid[n_ci:]
    base = np.concatenate([np.arange(n_ci), cd[:, 1]])
    return ModelDefinition(
        phones=names, filler=tuple(bool(f) for f in attr[:n_ci, 0]), n_senones=n_sen,
        n_ci_senones=head["n_ci_sen"], senone_sequences=sseq,
        senone_codebook=_senone_codebook(path, sseq[ssid], base, n_sen),
        ci_sseq=ssid[:n_ci].copy(), tmat_of_phone=tmat[:n_ci].copy(),
        _triphone_table=table, _phone_index={name: i for i, name in enumerate(names)})


def _senone_codebook(path: Path, states: np.ndarray, base: np.ndarray, n_sen: int) -> np.ndarray:
    """(n_sen,) base phone of the first phone (in mdef order) using each senone, as pocketsphinx does.

    ``states`` is (n_phone, n_emit) senone ids per phone, ``base`` (n_phone,) its base CI phone.
    """
    flat_sen = states.ravel()
    flat_ci = np.repeat(base, states.shape[1])
    uniq, first = np.unique(flat_sen, return_index=True)
    if len(uniq) != n_sen:
        raise ModelError(f"{path}: {n_sen - len(uniq)} senones are used by no phone")
    codebook = flat_ci[first].astype(np.int32)
    shared = np.count_nonzero(codebook[flat_sen] != flat_ci)
    if shared:
        log.warning("%s: %d phone states use a senone of another base phone", path, shared)
    return codebook
