"""The front end's parameters, as ``feat.params`` and pocketsphinx's defaults state them, and the mel
filterbank they define (``fe_build_melfilters``). The computation itself: :mod:`lyricalign.acoustic.frontend`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_FIXED_PARAMS = {
    "-transform": "dct",
    "-feat": "1s_c_d_dd",
    "-agc": "none",
    "-varnorm": "no",
}
_IGNORED_PARAMS = {"-svspec", "-model"}  # decoder-side (subvector quantisation, model type)
_YES = {"yes", "true", "1"}
_NO = {"no", "false", "0"}


def mel_filters(options: "FrontEndOptions") -> list[tuple[int, np.ndarray]]:
    """fe_build_melfilters in float32: per filter its first FFT bin and its weights ``(width,)`` float32.

    Triangles equally spaced on the mel scale ``2595 log10(1 + f / 700)`` between lower_hz and
    upper_hz, their edges rounded to FFT bins, normalised to unit area; the Nyquist bin is never used.
    Built once per filterbank (~6 ms of scalar float32 arithmetic; every options instance validates it).
    """
    built = _mel_filters(options.sample_rate, options.n_fft, options.n_mels, options.lower_hz, options.upper_hz)
    return [(first, weights.copy()) for first, weights in built]


@lru_cache(maxsize=8)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int, lower_hz: float, upper_hz: float
                 ) -> tuple[tuple[int, np.ndarray], ...]:
    f32 = np.float32
    rate = f32(sample_rate)

    def mel(hz: np.float32) -> np.float32:
        return f32(2595.0 * math.log10(1.0 + float(hz) / 700.0))

    def melinv(m: np.float32) -> np.float32:
        return f32(700.0 * (10.0 ** (float(m) / 2595.0) - 1.0))

    melmin, melmax = mel(f32(lower_hz)), mel(f32(upper_hz))
    melbw = f32((melmax - melmin) / f32(n_mels + 1))
    fftfreq = f32(rate / f32(n_fft))
    filters = []
    for i in range(n_mels):
        edges = []
        for j in range(3):
            hz = melinv(f32(f32(f32(i + j) * melbw) + melmin))
            edges.append(f32(f32(int(float(hz / fftfreq) + 0.5)) * fftfreq))
        left, centre, right = edges
        if not left < centre < right:
            raise ValueError(
                f"mel filter {i} collapses to {float(left)}-{float(centre)}-{float(right)} Hz: "
                f"{n_mels} filters are too many for n_fft {n_fft} between {lower_hz} and {upper_hz} Hz"
            )
        bins = []
        for k in range(n_fft // 2 + 1):
            hz = f32(f32(k) * fftfreq)
            if hz < left:
                continue
            if hz > right or k == n_fft // 2:
                break
            bins.append(k)
        weights = []
        for k in bins:
            hz = f32(f32(k) * fftfreq)
            lo = f32(f32(hz - left) / f32(centre - left))
            hi = f32(f32(right - hz) / f32(right - centre))
            area = f32(f32(2) / f32(right - left))
            lo, hi = f32(lo * area), f32(hi * area)
            weights.append(min(lo, hi))
        filters.append((bins[0], np.array(weights, dtype=np.float32)))
    return tuple(filters)


@dataclass(frozen=True)
class FrontEndOptions:
    """Front-end parameters; the defaults are pocketsphinx's en-us model (feat.params + pocketsphinx defaults).

    ``window_seconds`` is pocketsphinx's ``-wlen`` (0.025625 s = 410 samples at 16 kHz), ``dither`` its
    ``-dither`` (default off in pocketsphinx 5), ``seed`` the dither seed (pocketsphinx's default -1
    means "pick one from the clock", which is not reproducible, so we fix one).
    """

    sample_rate: int = 16000
    frame_rate: int = 100
    window_seconds: float = 0.025625
    n_fft: int = 512
    n_mels: int = 25
    lower_hz: float = 130.0
    upper_hz: float = 6800.0
    n_cepstra: int = 13
    lifter: int = 22
    preemphasis: float = 0.97
    dither: bool = False
    seed: int = 1
    remove_noise: bool = True
    cmn: str = "batch"  # "batch" or "none"

    def __post_init__(self) -> None:
        problems = []
        for name in ("sample_rate", "frame_rate", "n_fft", "n_mels", "n_cepstra", "lifter", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                problems.append(f"{name} must be an integer, got {value!r}")
        for name in ("window_seconds", "lower_hz", "upper_hz", "preemphasis"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                problems.append(f"{name} must be a number, got {value!r}")
            elif not math.isfinite(value):
                problems.append(f"{name} must be finite, got {value!r}")
        for name in ("dither", "remove_noise"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                problems.append(f"{name} must be a bool, got {getattr(self, name)!r}")
        if problems:
            raise ValueError("; ".join(problems))
        if self.sample_rate <= 0 or self.frame_rate <= 0:
            problems.append("sample_rate and frame_rate must be positive")
        elif self.frame_rate > self.sample_rate:
            problems.append("frame_rate cannot exceed sample_rate")
        if self.n_fft <= 0 or self.n_fft & (self.n_fft - 1):
            problems.append(f"n_fft must be a positive power of 2, got {self.n_fft}")
        if not problems:
            shift, size = self.frame_shift, self.frame_size
            if shift < 2 or size < shift:
                problems.append(f"window ({size} samples) must be at least the frame shift ({shift} samples, >= 2)")
            if size > self.n_fft:
                problems.append(f"window ({size} samples) exceeds n_fft {self.n_fft}")
        if not 0.0 <= self.lower_hz < self.upper_hz <= self.sample_rate / 2 + 1.0:
            problems.append(f"need 0 <= lower_hz < upper_hz <= sample_rate / 2, got {self.lower_hz}, {self.upper_hz}")
        if self.n_mels < 1 or not 1 <= self.n_cepstra <= self.n_mels:
            problems.append(f"need 1 <= n_cepstra <= n_mels, got {self.n_cepstra}, {self.n_mels}")
        if self.lifter < 0:
            problems.append(f"lifter must be >= 0, got {self.lifter}")
        if not 0.0 <= self.preemphasis < 1.0:
            problems.append(f"preemphasis must be in [0, 1), got {self.preemphasis}")
        if self.cmn not in ("batch", "none"):
            problems.append(f"cmn must be 'batch' or 'none', got {self.cmn!r}")
        if problems:
            raise ValueError("; ".join(problems))
        mel_filters(self)  # raises if the filterbank is degenerate (a triangle narrower than 2 bins)

    @property
    def frame_shift(self) -> int:
        """Samples between frame starts (pocketsphinx: ``int(rate / frate + 0.5)``)."""
        return int(np.float32(self.sample_rate) / self.frame_rate + 0.5)

    @property
    def frame_size(self) -> int:
        """Samples per analysis window (pocketsphinx: ``int(wlen * rate + 0.5)`` in float32)."""
        return int(float(np.float32(self.window_seconds) * np.float32(self.sample_rate)) + 0.5)

    @classmethod
    def from_feature_params(cls, params: dict[str, str]) -> "FrontEndOptions":
        """Options from a model's ``feat.params`` (keys like ``"-lowerf"``, values as strings).

        Keys not given keep pocketsphinx's defaults. Raises ValueError naming every key whose value
        this front end does not implement (``-transform legacy``, ``-cmn live``, ``-agc max``, ...)
        or that it does not know.
        """
        numeric = {
            "-samprate": ("sample_rate", float),
            "-frate": ("frame_rate", int),
            "-wlen": ("window_seconds", float),
            "-nfft": ("n_fft", int),
            "-nfilt": ("n_mels", int),
            "-lowerf": ("lower_hz", float),
            "-upperf": ("upper_hz", float),
            "-ncep": ("n_cepstra", int),
            "-lifter": ("lifter", int),
            "-alpha": ("preemphasis", float),
            "-seed": ("seed", int),
        }
        values: dict[str, object] = {}
        bad: list[str] = []
        for key, raw in params.items():
            text = str(raw).strip()
            if key in numeric:
                name, kind = numeric[key]
                try:
                    number = kind(text)
                except ValueError:
                    bad.append(f"{key} {text}")
                    continue
                if name == "sample_rate":
                    if number != int(number):
                        bad.append(f"{key} {text}")
                        continue
                    number = int(number)
                values[name] = number
            elif key in ("-dither", "-remove_noise"):
                if text.lower() not in _YES | _NO:
                    bad.append(f"{key} {text}")
                    continue
                values[key[1:]] = text.lower() in _YES
            elif key == "-cmn":
                if text not in ("batch", "none"):
                    bad.append(f"{key} {text}")
                    continue
                values["cmn"] = text
            elif key in _FIXED_PARAMS:
                if text != _FIXED_PARAMS[key]:
                    bad.append(f"{key} {text}")
            elif key in _IGNORED_PARAMS:
                continue
            else:
                bad.append(f"{key} {text} (unknown parameter)")
        if bad:
            raise ValueError("unsupported front-end parameters: " + ", ".join(bad))
        return cls(**values)  # type: ignore[arg-type]
