"""pocketsphinx's noise removal (``fe_noise.c``, ``-remove_noise yes``) on mel energies, vectorised.

Part of the Sphinx front end (:mod:`lyricalign.acoustic.frontend`), which applies it between the mel
filter bank and the log. The en-us model was trained with it: the batch-CMN mean of the features
matches pocketsphinx's own only with it (c0 69.3 without vs 64.0 with, on a synthetic vowel).
"""

from __future__ import annotations

import numpy as np

from .. import native
from ..jit import njit

# fe_noise.c constants
_SMOOTH_WINDOW = 4
_LAMBDA_POWER = 0.7
_LAMBDA_A = 0.995
_LAMBDA_B = 0.5
_LAMBDA_T = 0.85
_MU_T = 0.2
_MAX_GAIN = 20.0


class NoiseRemover:
    """fe_noise.c's spectral subtraction over consecutive blocks of frames, state kept between blocks.

    Per filter: smoothed power ``P`` (``0.7 P + 0.3 m``); noise ``N`` and floor ``F`` track lower
    envelopes of ``P`` and of the signal ``S = max(P - N, 1)`` (rise with 0.995, fall with 0.5);
    ``S`` is masked by a peak decaying with 0.85 and floored at ``F``; the gain ``S / P`` clipped to
    [1/20, 20] is averaged over +-4 filters and multiplies the mel energies. The first frame sets
    ``P = m, N = F = m / 20, peak = 0``. The recurrences run frame by frame in :func:`_track`
    (compiled); the rest is vectorised over frames.
    """

    def __init__(self, n_mels: int) -> None:
        self.power: np.ndarray | None = None  # (n_mels,) states after the last frame seen
        self.noise = np.zeros(n_mels)
        self.floor = np.zeros(n_mels)
        self.peak = np.zeros(n_mels)
        # filters lo..hi-1 whose gains fe_weight_smooth averages for each filter
        self.windows = [
            (max(i - _SMOOTH_WINDOW, 0), min(i + _SMOOTH_WINDOW, n_mels - 1) + 1) for i in range(n_mels)
        ]

    def apply(self, mel: np.ndarray) -> None:
        """Scale ``(n, n_mels)`` float64 ``mel`` (consecutive frames) in place by the noise gains."""
        if len(mel) == 0:
            return
        if self.power is None:
            self.power = np.array(mel[0], dtype=np.float64)
            self.noise = self.power / _MAX_GAIN
            self.floor = self.power / _MAX_GAIN
        power, signal, floor, decayed = (np.empty(mel.shape) for _ in range(4))
        _track(np.ascontiguousarray(mel, dtype=np.float64), self.power, self.noise, self.floor, self.peak,
               power, signal, floor, decayed)  # the states now hold the last frame's
        masked = np.where(signal < _LAMBDA_T * decayed, decayed * _MU_T, signal)
        signal = np.maximum(masked, floor)
        with np.errstate(divide="ignore", invalid="ignore"):  # P == 0 takes the other branch
            gain = np.where(signal < _MAX_GAIN * power, signal / power, _MAX_GAIN)
        gain = np.maximum(gain, 1.0 / _MAX_GAIN)
        for i, (lo, hi) in enumerate(self.windows):  # row-wise sums: independent of the block size
            mel[:, i] *= gain[:, lo:hi].sum(axis=1) / (hi - lo)


@njit(cache=True, nogil=True)
def _track_numba(mel, power, noise, floor, peak, out_power, out_signal, out_floor, out_decayed):  # pragma: no cover
    """fe_noise.c's trackers frame by frame, per filter (compiled: a Python loop over frames was the
    front end's slowest part). ``power``, ``noise``, ``floor``, ``peak`` ``(F,)``: the states before
    ``mel``'s first frame, updated in place to those after its last. Per frame: the smoothed power,
    the signal ``max(P - N, 1)``, its floor, and the masking peak of the frame before, decayed.
    fe_lower_envelope (``noise`` and ``floor``): follow up slowly (0.995), down fast (0.5)."""
    n, width = mel.shape
    for t in range(n):
        for f in range(width):
            p = _LAMBDA_POWER * power[f] + (1.0 - _LAMBDA_POWER) * mel[t, f]
            if p >= noise[f]:
                noise[f] = _LAMBDA_A * noise[f] + (1.0 - _LAMBDA_A) * p
            else:
                noise[f] = _LAMBDA_B * noise[f] + (1.0 - _LAMBDA_B) * p
            s = max(p - noise[f], 1.0)
            if s >= floor[f]:
                floor[f] = _LAMBDA_A * floor[f] + (1.0 - _LAMBDA_A) * s
            else:
                floor[f] = _LAMBDA_B * floor[f] + (1.0 - _LAMBDA_B) * s
            decayed = peak[f] * _LAMBDA_T  # fe_temp_masking's peak *= lambda_t
            out_decayed[t, f] = decayed
            peak[f] = max(decayed, s)
            power[f] = p
            out_power[t, f], out_signal[t, f], out_floor[t, f] = p, s, floor[f]


def _track_c(mel, power, noise, floor, peak, out_power, out_signal, out_floor, out_decayed):
    native.noise_track(mel, power, noise, floor, peak, out_power, out_signal, out_floor, out_decayed,
                       (_LAMBDA_POWER, _LAMBDA_A, _LAMBDA_B, _LAMBDA_T))


_track = native.kernel(_track_c, _track_numba)  # C when built (lyricalign.native)
