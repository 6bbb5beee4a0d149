"""The Sphinx MFCC front end, computed the way pocketsphinx computes it for its en-us model.

The ONNX senone scorer is trained on, and scores, the very features pocketsphinx's decoder feeds its
en-us acoustic model, so this module re-implements pocketsphinx 5's float build of ``src/fe`` and
``src/feat`` (``feat.params``: ``-lowerf 130 -upperf 6800 -nfilt 25 -transform dct -lifter 22
-feat 1s_c_d_dd -agc none -cmn batch -varnorm no -remove_noise yes``), vectorised with numpy:

1. **Quantise**: pocketsphinx reads int16 PCM, so float audio in [-1, 1] becomes
   ``clip(rint(audio * 32768), -32768, 32767)``. Optional dither (pocketsphinx's ``-dither``, off by
   default there and here) adds 1 to a sample with probability 1/4, drawn from the same MT19937 as
   pocketsphinx's ``s3_rand_int31`` seeded with ``seed`` (one draw per sample, in order; pocketsphinx
   re-draws for the final partial frame, which we do not).
2. **Pre-emphasis** ``y[n] = x[n] - alpha * x[n-1]`` with ``x[-1] = 0`` (``fe_pre_emphasis_int16``
   keeps the prior across frames, which makes it this global filter).
3. **Frames** of 410 samples every 160 (``frame_size = int(wlen * rate + 0.5)``,
   ``frame_shift = int(rate / frate + 0.5)``), symmetric Hamming window, zero-padded to ``n_fft``.
   Frame ``t`` starts at sample ``t * shift``, i.e. at ``t / frame_rate`` seconds: the time
   pocketsphinx reports for segment boundaries. After the last full frame pocketsphinx's
   ``fe_end_utt`` emits one more, shorter frame from the leftover samples (zero-padded): see
   :func:`frame_count`.
4. **Power spectrum** ``|rfft|^2`` (bins 0..n_fft/2), **mel filterbank** of 25 triangles between
   130 and 6800 Hz, edges rounded to FFT bins, unit area (``fe_build_melfilters``, in float32 as
   pocketsphinx builds it).
5. **Noise removal** (``fe_noise.c``): smoothed power, lower-envelope noise and floor trackers,
   temporal masking, a gain in [1/20, 20] smoothed over +-4 filters, applied to the mel energies.
   These are recurrences over frames: they run over blocks of ``_NOISE_BLOCK_FRAMES`` frames (state
   carried between blocks), frame by frame in a compiled kernel (``noise_removal._track``).
6. ``log(mel + 1e-4)`` (the floor keeps digital silence finite), **DCT-II** with the unitary scale
   (``-transform dct``: ``c0 = sqrt(1/N) sum``, ``ci = sqrt(2/N) sum cos(pi i (j + 0.5) / N)``),
   accumulated in float32 like pocketsphinx's ``mfcc_t``, then the sine **lifter** 22.
7. :func:`features`: **batch CMN** (``cmn.c``: subtract the mean of the frames whose c0 >= 0) and
   **1s_c_d_dd** (``feat.c``): ``[c, c[t+2] - c[t-2], (c[t+3] - c[t-1]) - (c[t+1] - c[t-3])]`` with
   the first and last frames replicated 3 times at the edges, giving ``(T, 39)``.

The signal is processed ``_CHUNK_FRAMES`` frames at a time (a few MB of FFT scratch per chunk), so
a 20-minute song needs memory for its input and its (T, 39) output, not for its spectrogram. Every
per-frame step is independent of the FFT chunk boundaries (the noise blocks are fixed), so chunked
output equals unchunked output bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .frontend_options import FrontEndOptions, mel_filters
from .noise_removal import NoiseRemover

_CHUNK_FRAMES = 1024  # frames per FFT chunk: 1024 x 257 complex128 ~ 4 MB transient
_NOISE_BLOCK_FRAMES = 32 * 1024  # frames per noise-removal block (5.5 min; its arrays ~7 MB each)
_LOG_FLOOR = 1e-4  # fe_sigproc.c LOG_FLOOR, added to the mel energies before the log
_DELTA_WINDOW = 2  # feat.c FEAT_DCEP_WIN; 1s_c_d_dd needs DCEP_WIN + 1 frames either side
_FEATURE_WINDOW = _DELTA_WINDOW + 1

def frame_count(n_samples: int, options: FrontEndOptions = FrontEndOptions()) -> int:
    """Frames pocketsphinx makes from ``n_samples`` samples in one utterance.

    ``fe_process_frames`` makes ``1 + (n - size) // shift`` full frames and ``fe_end_utt`` one more
    from the leftover samples (there always are some, since size > shift); fewer samples than one
    window make that single partial frame; none make none. Frame ``t`` starts at ``t * shift``.
    These are the frames pocketsphinx's search scores (its last segment ends at frame T - 1);
    ``Decoder.n_frames()`` reports one more (``acmod->output_frame + 1``).
    """
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    if n_samples == 0:
        return 0
    size, shift = options.frame_size, options.frame_shift
    if n_samples < size:
        return 1
    return 2 + (n_samples - size) // shift


def frame_times(n_frames: int, options: FrontEndOptions = FrontEndOptions()) -> np.ndarray:
    """``(n_frames,)`` float64 start time in seconds of each frame: ``t * shift / rate`` (= t / frame_rate)."""
    return np.arange(n_frames, dtype=np.float64) * (options.frame_shift / options.sample_rate)


def cepstra(audio: np.ndarray, options: FrontEndOptions = FrontEndOptions()) -> np.ndarray:
    """MFCCs of ``audio`` before CMN.

    Args:
        audio: ``(N,)`` float samples in [-1, 1] at ``options.sample_rate`` (scaled by 32768 to the
            int16 values pocketsphinx reads; values beyond +-1 clip).
    Returns:
        ``(T, n_cepstra)`` float32, ``T = frame_count(N, options)``; frame t starts at t / frame_rate s.
    """
    return _cepstra(audio, options, _CHUNK_FRAMES)


def features(audio: np.ndarray, options: FrontEndOptions = FrontEndOptions()) -> np.ndarray:
    """``(T, 3 * n_cepstra)`` float32 1s_c_d_dd features: :func:`cepstra`, then CMN (``options.cmn``), then deltas."""
    cep = cepstra(audio, options)
    if options.cmn == "batch":
        cep = cep - cmn_mean(cep)
    return dynamic_features(cep)


def cmn_mean(cep: np.ndarray) -> np.ndarray:
    """``(n_cepstra,)`` float32 batch-CMN mean of ``(T, n_cepstra)`` cepstra.

    As ``cmn.c``: the mean over frames whose c0 >= 0 (lower-energy frames are skipped). If no frame
    qualifies (pocketsphinx would divide by zero), the mean is zero, i.e. nothing is subtracted.
    """
    cep = np.asarray(cep, dtype=np.float32)
    if cep.ndim != 2:
        raise ValueError(f"cepstra must be (T, n_cepstra), got shape {cep.shape}")
    kept = cep[cep[:, 0] >= 0]
    if len(kept) == 0:
        return np.zeros(cep.shape[1], dtype=np.float32)
    return (kept.sum(axis=0, dtype=np.float64) / len(kept)).astype(np.float32)


def dynamic_features(cep: np.ndarray) -> np.ndarray:
    """1s_c_d_dd: ``(T, D)`` cepstra -> ``(T, 3D)`` float32 ``[c, delta, double delta]``.

    ``delta[t] = c[t+2] - c[t-2]``, ``ddelta[t] = (c[t+3] - c[t-1]) - (c[t+1] - c[t-3])``, where frames
    before the first / after the last are copies of the first / last (``feat_s2mfc2feat_live``).
    """
    cep = np.asarray(cep, dtype=np.float32)
    if cep.ndim != 2:
        raise ValueError(f"cepstra must be (T, D), got shape {cep.shape}")
    n = len(cep)
    if n == 0:
        return np.zeros((0, 3 * cep.shape[1]), dtype=np.float32)
    w = _FEATURE_WINDOW
    padded = np.concatenate([np.repeat(cep[:1], w, axis=0), cep, np.repeat(cep[-1:], w, axis=0)])

    def at(offset: int) -> np.ndarray:  # c[t + offset] for t in 0..n-1
        return padded[w + offset : w + offset + n]

    delta = at(2) - at(-2)
    ddelta = (at(3) - at(-1)) - (at(1) - at(-3))
    return np.concatenate([cep, delta, ddelta], axis=1)


# --- the per-chunk pipeline ---------------------------------------------------------------------


def _cepstra(audio: np.ndarray, options: FrontEndOptions, chunk_frames: int) -> np.ndarray:
    """:func:`cepstra` with an explicit chunk size (frames per FFT batch), so tests can vary it."""
    audio = _validated(audio)
    n = len(audio)
    n_frames = frame_count(n, options)
    out = np.empty((n_frames, options.n_cepstra), dtype=np.float32)
    if n_frames == 0:
        return out
    tables = _tables(options)
    dither = _dither_bits(n, options.seed) if options.dither else None
    noise = NoiseRemover(options.n_mels) if options.remove_noise else None
    for block in range(0, n_frames, _NOISE_BLOCK_FRAMES):
        block_end = min(block + _NOISE_BLOCK_FRAMES, n_frames)
        mel = np.empty((block_end - block, options.n_mels))
        for first in range(block, block_end, chunk_frames):
            last = min(first + chunk_frames, block_end)
            mel[first - block : last - block] = _chunk_mel(audio, first, last, options, tables, dither)
        if noise is not None:
            noise.apply(mel)
        out[block:block_end] = _mel_to_cepstra(mel, tables)
    return out


def _chunk_mel(
    audio: np.ndarray, first: int, last: int, options: FrontEndOptions, tables: "_Tables", dither: np.ndarray | None
) -> np.ndarray:
    """``(last - first, n_mels)`` mel energies of frames first..last-1 (each row independent of the others)."""
    n, shift, size = len(audio), options.frame_shift, options.frame_size
    # samples [first*shift - 1, (last-1)*shift + size): one before for the pre-emphasis prior
    lo, hi = first * shift, (last - 1) * shift + size
    x = _int16_samples(audio, max(lo - 1, 0), min(hi, n), dither)
    if lo == 0:
        x = np.concatenate([[0.0], x])  # pocketsphinx's initial prior is 0
    y = x[1:] - tables.alpha * x[:-1]
    if len(y) < hi - lo:  # the final partial frame is zero-padded
        y = np.concatenate([y, np.zeros(hi - lo - len(y))])
    return _mel_energies(y, last - first, options, tables)


def _validated(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"audio must be 1-D (N,), got shape {audio.shape}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"audio must be float samples in [-1, 1], got dtype {audio.dtype}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("audio contains NaN or infinite samples")
    return audio


def _int16_samples(audio: np.ndarray, start: int, stop: int, dither: np.ndarray | None) -> np.ndarray:
    """float64 copies of the int16 values pocketsphinx would read for ``audio[start:stop]``."""
    pcm = np.clip(np.rint(audio[start:stop].astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    if dither is not None:
        pcm += dither[start:stop]  # int16 arithmetic: wraps at 32767 exactly as pocketsphinx's does
    return pcm.astype(np.float64)


def _dither_bits(n: int, seed: int) -> np.ndarray:
    """``(n,)`` int16 0/1: ``genrand_int31() % 4 == 0`` per sample from MT19937 ``init_genrand(seed)``."""
    generator = np.random.RandomState(seed & 0xFFFFFFFF).get_state(legacy=False)  # init_genrand seeding
    bitgen = np.random.MT19937()
    bitgen.state = generator
    bits = np.empty(n, dtype=np.int16)
    block = 1 << 20
    for start in range(0, n, block):
        raw = bitgen.random_raw(min(block, n - start))
        bits[start : start + len(raw)] = ((raw >> np.uint64(1)) % np.uint64(4)) == 0
    return bits


def _mel_energies(y: np.ndarray, n_frames: int, options: FrontEndOptions, tables: "_Tables") -> np.ndarray:
    """Pre-emphasised samples ``(shift*(n-1) + size,)`` -> ``(n, n_mels)`` float64 mel energies."""
    frames = np.lib.stride_tricks.sliding_window_view(y, options.frame_size)[:: options.frame_shift][:n_frames]
    spectrum = np.fft.rfft(frames * tables.window, n=options.n_fft, axis=1)  # zero-pads to n_fft
    squares = spectrum.view(np.float64)  # (n, 2 * (n_fft/2 + 1)): re, im interleaved
    np.square(squares, out=squares)
    # |X|^2 = re^2 + im^2 and the filterbank in one product: each weight appears for re and for im
    return squares @ tables.interleaved_filters


def _mel_to_cepstra(mel: np.ndarray, tables: "_Tables") -> np.ndarray:
    """``(n, n_mels)`` energies -> ``(n, n_cepstra)`` float32 liftered DCT-II of their log.

    Accumulates filter by filter into float32, as ``fe_dct2`` does into its ``mfcc_t`` output.
    """
    logmel = np.log(mel + _LOG_FLOOR)
    cosines = tables.cosines.astype(np.float64)  # (n_cepstra, n_mels), float32 values
    acc = np.zeros((len(logmel), cosines.shape[0]), dtype=np.float32)
    for j in range(logmel.shape[1]):
        acc = (acc + logmel[:, j : j + 1] * cosines[:, j]).astype(np.float32)
    acc *= tables.dct_scale
    if tables.lifter is not None:
        acc *= tables.lifter
    return acc


# --- constant tables, built once per options ----------------------------------------------------


@dataclass(frozen=True)
class _Tables:
    alpha: float  # pre-emphasis, float32-rounded as pocketsphinx stores it
    window: np.ndarray  # (frame_size,) float64 Hamming
    filters: tuple[tuple[int, np.ndarray], ...]  # per mel filter: first FFT bin, float32 weights
    interleaved_filters: np.ndarray  # (2 * (n_fft/2 + 1), n_mels) float64, rows 2k and 2k+1 = bin k
    cosines: np.ndarray  # (n_cepstra, n_mels) float32 DCT basis
    dct_scale: np.ndarray  # (n_cepstra,) float32: sqrt(1/N) for c0, sqrt(2/N) for the rest
    lifter: np.ndarray | None  # (n_cepstra,) float32 or None


_TABLE_CACHE: dict[FrontEndOptions, _Tables] = {}


def _tables(options: FrontEndOptions) -> _Tables:
    key = options
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = _build_tables(options)
    return _TABLE_CACHE[key]


def _build_tables(options: FrontEndOptions) -> _Tables:
    size, n_mels, n_cep = options.frame_size, options.n_mels, options.n_cepstra
    half = np.array([0.54 - 0.46 * math.cos(2 * math.pi * i / (size - 1.0)) for i in range(size // 2)])
    window = np.ones(size)  # an odd-length window's middle sample is left as is (weight 1)
    window[: size // 2] = half
    window[size - size // 2 :] = half[::-1]
    step = math.pi / n_mels
    cosines = np.array(
        [[math.cos(step * i * (j + 0.5)) for j in range(n_mels)] for i in range(n_cep)], dtype=np.float32
    )
    scale = np.full(n_cep, np.float32(math.sqrt(2.0 / n_mels)), dtype=np.float32)
    scale[0] = np.float32(math.sqrt(1.0 / n_mels))
    lifter = None
    if options.lifter:
        half_l = options.lifter // 2  # C integer division, as pocketsphinx's lifter_val / 2
        lifter = np.array(
            [1 + half_l * math.sin(i * math.pi / options.lifter) for i in range(n_cep)], dtype=np.float32
        )
    filters = tuple(mel_filters(options))
    dense = np.zeros((options.n_fft // 2 + 1, n_mels))
    for i, (start, weights) in enumerate(filters):
        dense[start : start + len(weights), i] = weights
    return _Tables(
        alpha=float(np.float32(options.preemphasis)),
        window=window,
        filters=filters,
        interleaved_filters=np.repeat(dense, 2, axis=0),
        cosines=cosines,
        dct_scale=scale,
        lifter=lifter,
    )
