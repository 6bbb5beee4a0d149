"""Generated accompaniment: drums, bass and chords rendered with numpy at 16 kHz.

Every instrument follows the song's :class:`~.melody.Style` (tempo, key,
one chord per bar); timbres, patterns and levels are drawn from the song's random generator, so
songs differ while staying reproducible from the seed.
"""

from __future__ import annotations

import numpy as np

from lyricalign.audio import SAMPLE_RATE

from .melody import Style, midi_to_hz

HARMONICS = 6


def render(rng: np.random.Generator, style: Style, duration: float) -> np.ndarray:
    """``(round(duration * 16000),)`` float32 accompaniment, peak-normalised to 1."""
    n = int(round(duration * SAMPLE_RATE))
    out = np.zeros(n, dtype=np.float64)
    gains = {"drums": rng.uniform(0.5, 1.0), "bass": rng.uniform(0.4, 0.9), "chords": rng.uniform(0.3, 0.8)}
    if rng.random() < 0.15:
        gains["drums"] = 0.0  # some songs without drums
    _drums(rng, style, out, gains["drums"])
    _bass(rng, style, out, gains["bass"])
    _chords(rng, style, out, gains["chords"])
    peak = float(np.max(np.abs(out))) or 1.0
    return (out / peak).astype(np.float32)


def _bars(style: Style, n: int) -> range:
    bar_samples = style.beats_per_bar * style.beat * SAMPLE_RATE
    return range(int(np.ceil(n / bar_samples)))


def _add(out: np.ndarray, start: int, sound: np.ndarray) -> None:
    if start >= out.shape[0]:
        return
    stop = min(out.shape[0], start + sound.shape[0])
    out[start:stop] += sound[: stop - start]


def _drums(rng: np.random.Generator, style: Style, out: np.ndarray, gain: float) -> None:
    if gain == 0.0:
        return
    t = np.arange(int(0.3 * SAMPLE_RATE)) / SAMPLE_RATE
    sweep = np.cumsum(45.0 + 90.0 * np.exp(-t * 30.0)) / SAMPLE_RATE
    kick = np.sin(2 * np.pi * sweep) * np.exp(-t * rng.uniform(10, 20))
    noise = rng.standard_normal(t.shape[0])
    snare = (0.7 * noise + 0.5 * np.sin(2 * np.pi * 185.0 * t)) * np.exp(-t * rng.uniform(18, 30))
    hat = np.diff(noise, prepend=0.0) * np.exp(-t * rng.uniform(50, 90)) * 0.3
    eighth = style.beat / 2 * SAMPLE_RATE
    kick_steps = {0, 4} | ({3} if rng.random() < 0.5 else set()) | ({6} if rng.random() < 0.3 else set())
    snare_steps = {2, 6}
    for bar in _bars(style, out.shape[0]):
        for step in range(8):
            at = int((bar * 8 + step) * eighth)
            if step in kick_steps:
                _add(out, at, gain * kick)
            if step in snare_steps:
                _add(out, at, gain * 0.6 * snare)
            _add(out, at, gain * (0.5 if step % 2 else 0.3) * hat)


def _tone(freq: float, seconds: float, rolloff: float, decay: float, attack: float = 0.01) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    k = np.arange(1, HARMONICS + 1)[:, None]
    partials = np.sin(2 * np.pi * freq * k * t) / k**rolloff
    partials[(freq * k[:, 0]) > SAMPLE_RATE / 2 * 0.9] = 0.0  # no aliasing
    envelope = np.minimum(t / attack, 1.0) * np.exp(-t * decay)
    return partials.sum(axis=0) * envelope


def _bass(rng: np.random.Generator, style: Style, out: np.ndarray, gain: float) -> None:
    steps = 8 if rng.random() < 0.5 else 4  # eighths or quarters
    step_seconds = style.beats_per_bar * style.beat / steps
    rolloff, decay = rng.uniform(1.0, 2.5), rng.uniform(2.0, 6.0)
    for bar in _bars(style, out.shape[0]):
        degree = style.progression[bar % len(style.progression)]
        freq = midi_to_hz(style.degree_to_midi(degree, octave_shift=-2))
        note = gain * 0.8 * _tone(freq, step_seconds, rolloff, decay)
        for step in range(steps):
            _add(out, int((bar * steps + step) * step_seconds * SAMPLE_RATE), note)


def _chords(rng: np.random.Generator, style: Style, out: np.ndarray, gain: float) -> None:
    bar_seconds = style.beats_per_bar * style.beat
    rolloff, decay = rng.uniform(0.8, 2.0), rng.uniform(0.2, 2.0)
    strums = 1 if rng.random() < 0.5 else style.beats_per_bar  # sustained pad or a chord per beat
    length = bar_seconds / strums
    for bar in _bars(style, out.shape[0]):
        root = style.progression[bar % len(style.progression)]
        freqs = [midi_to_hz(style.degree_to_midi(root + step, octave_shift=-1)) for step in (0, 2, 4)]
        chord = gain * 0.35 * sum(_tone(f, length, rolloff, decay, attack=0.03) for f in freqs)
        for strum in range(strums):
            _add(out, int((bar * bar_seconds + strum * length) * SAMPLE_RATE), chord)
