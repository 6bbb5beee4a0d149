"""The Sphinx MFCC front end: known signals, shapes, deltas, chunking, options, and pocketsphinx itself."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from lyricalign.acoustic import frontend as fe
from lyricalign.acoustic.noise_removal import NoiseRemover
from lyricalign.acoustic.frontend_options import mel_filters
from lyricalign.acoustic.frontend import (
    FrontEndOptions,
    cepstra,
    cmn_mean,
    dynamic_features,
    features,
    frame_count,
    frame_times,
)

RATE = 16000
NO_NOISE = FrontEndOptions(remove_noise=False)


def _vowel(seconds: float, seed: int = 0) -> np.ndarray:
    """A vowel-like harmonic tone (140 Hz, 14 harmonics, slow tremolo) plus white noise, float32."""
    t = np.arange(int(RATE * seconds)) / RATE
    tone = sum(np.sin(2 * np.pi * 140 * h * t) / h for h in range(1, 15))
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.05 * tone * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t)) + 0.01 * noise).astype(np.float32)


def _pcm(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(audio.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def _mel_energies(audio: np.ndarray, options: FrontEndOptions) -> np.ndarray:
    tables = fe._tables(options)
    return fe._chunk_mel(audio, 0, frame_count(len(audio), options), options, tables, None)


# --- frame layout ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"), [(0, 0), (1, 1), (409, 1), (410, 2), (569, 2), (570, 3), (16000, 99), (480000, 2999)]
)
def test_frame_count_is_full_frames_plus_the_tail_frame(n: int, expected: int) -> None:
    assert frame_count(n) == expected
    assert len(cepstra(np.zeros(n, np.float32))) == expected


def test_frame_times_are_frame_starts() -> None:
    np.testing.assert_allclose(frame_times(4), [0.0, 0.01, 0.02, 0.03])


def test_shapes_and_dtypes() -> None:
    audio = _vowel(1.0)
    cep, feat = cepstra(audio), features(audio)
    assert cep.shape == (99, 13) and cep.dtype == np.float32
    assert feat.shape == (99, 39) and feat.dtype == np.float32
    assert np.all(np.isfinite(feat))


# --- known signals --------------------------------------------------------------------------


@pytest.mark.parametrize("hz", [300.0, 1000.0, 3000.0, 6000.0])
def test_pure_tone_energy_lands_in_the_filter_centred_on_it(hz: float) -> None:
    t = np.arange(RATE) / RATE
    mel = _mel_energies((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), NO_NOISE)
    filters = mel_filters(NO_NOISE)
    bin_hz = RATE / NO_NOISE.n_fft
    centres = np.array([(start + np.argmax(w)) * bin_hz for start, w in filters])
    loudest = np.argmax(mel[5:-5].mean(axis=0))
    assert loudest == np.argmin(np.abs(centres - hz))
    assert mel[5:-5, loudest].mean() > 100 * np.median(mel[5:-5].mean(axis=0))


def test_silence_gives_finite_values_thanks_to_the_floors() -> None:
    for options in (FrontEndOptions(), NO_NOISE):
        cep = cepstra(np.zeros(RATE, np.float32), options)
        assert np.all(np.isfinite(cep))
        assert np.allclose(cep, cep[0])  # every frame identical
        feat = features(np.zeros(RATE, np.float32), options)
        assert np.all(np.isfinite(feat))
    # without noise removal silence is log(1e-4) in every filter: c0 = sqrt(25) * log(1e-4)
    assert cepstra(np.zeros(RATE, np.float32), NO_NOISE)[0, 0] == pytest.approx(5 * np.log(1e-4), rel=1e-5)


def test_mel_filters_have_unit_area_and_span_the_band() -> None:
    filters = mel_filters(FrontEndOptions())
    assert len(filters) == 25
    bin_hz = RATE / 512
    first_bin, last_bin = filters[0][0], filters[-1][0] + len(filters[-1][1]) - 1
    assert first_bin * bin_hz >= 130 - bin_hz and last_bin * bin_hz <= 6800 + bin_hz
    for _, weights in filters:  # unit area: sum of triangle samples * bin width == 1
        assert weights.sum() * bin_hz == pytest.approx(1.0, rel=1e-5)


def test_louder_signal_raises_c0_only_by_the_log_gain() -> None:
    audio = _pcm(_vowel(2.0)).astype(np.float32) / 32768  # on the int16 grid, so 2x quantises exactly
    quiet, loud = cepstra(audio, NO_NOISE), cepstra(audio * 2, NO_NOISE)
    # doubling the amplitude multiplies the power by 4: +log(4) per filter, +5 log(4) on c0
    np.testing.assert_allclose((loud - quiet)[5:-5, 0], 5 * np.log(4), atol=0.01)
    np.testing.assert_allclose((loud - quiet)[5:-5, 1:], 0, atol=0.01)


# --- dynamic features, CMN ------------------------------------------------------------------


def test_deltas_on_a_ramp_with_replicated_edges() -> None:
    cep = np.tile(np.arange(10, dtype=np.float32)[:, None] ** 2, (1, 2))  # c[t] = t^2, two columns
    out = dynamic_features(cep)
    assert out.shape == (10, 6)
    c = np.arange(10.0) ** 2
    padded = np.concatenate([[c[0]] * 3, c, [c[-1]] * 3])

    def at(t: int, k: int) -> float:
        return padded[t + 3 + k]

    for t in range(10):
        assert out[t, 0] == c[t]
        assert out[t, 2] == at(t, 2) - at(t, -2)
        assert out[t, 4] == (at(t, 3) - at(t, -1)) - (at(t, 1) - at(t, -3))
    # interior: delta of t^2 over +-2 is 8t, double delta is constant 16
    assert out[5, 2] == 40 and out[5, 4] == 16
    # edges: c[-2] == c[0] == 0, so delta[0] = c[2] - c[0] = 4; the last frame sees c[9] replicated
    assert out[0, 2] == 4 and out[9, 2] == 81 - 49


def test_features_apply_batch_cmn_to_the_cepstra() -> None:
    audio = _vowel(2.0)
    cep, feat = cepstra(audio), features(audio)
    np.testing.assert_allclose(feat[:, :13], cep - cmn_mean(cep), atol=1e-5)
    raw = features(audio, dataclasses.replace(FrontEndOptions(), cmn="none"))
    np.testing.assert_array_equal(raw[:, :13], cep)


def test_cmn_mean_skips_frames_with_negative_c0() -> None:
    cep = np.array([[2.0, 1.0], [4.0, 3.0], [-1.0, 100.0]], dtype=np.float32)
    np.testing.assert_allclose(cmn_mean(cep), [3.0, 2.0])
    np.testing.assert_array_equal(cmn_mean(-np.abs(cep) - 1), [0.0, 0.0])


# --- chunking and the parallel scan are exact -----------------------------------------------


def test_chunked_equals_unchunked_exactly_on_a_long_signal() -> None:
    audio = (np.random.default_rng(3).standard_normal(RATE * 360) * 0.1).astype(np.float32)
    audio[RATE * 50 : RATE * 60] *= 0.001  # a quiet stretch for the noise trackers
    n = frame_count(len(audio))
    assert n > fe._NOISE_BLOCK_FRAMES  # spans noise blocks too
    whole = fe._cepstra(audio, FrontEndOptions(), chunk_frames=n)
    for chunk in (777, 4096):
        np.testing.assert_array_equal(fe._cepstra(audio, FrontEndOptions(), chunk_frames=chunk), whole)
    np.testing.assert_array_equal(cepstra(audio), whole)


def test_noise_removal_matches_a_frame_by_frame_transcription_of_fe_noise_c() -> None:
    audio = _vowel(3.0)
    mel = _mel_energies(audio, NO_NOISE)
    expected = mel.copy()
    n_filt = mel.shape[1]
    power, noise, floor, peak = mel[0].copy(), mel[0] / 20, mel[0] / 20, np.zeros(n_filt)
    for t, m in enumerate(mel):
        power = 0.7 * power + 0.3 * m
        noise = np.where(power >= noise, 0.995 * noise + 0.005 * power, 0.5 * noise + 0.5 * power)
        signal = np.maximum(power - noise, 1.0)
        floor = np.where(signal >= floor, 0.995 * floor + 0.005 * signal, 0.5 * floor + 0.5 * signal)
        peak = peak * 0.85
        masked = np.where(signal < 0.85 * peak, peak * 0.2, signal)
        peak = np.maximum(peak, signal)
        signal = np.maximum(masked, floor)
        gain = np.clip(np.where(signal < 20 * power, signal / power, 20.0), 0.05, None)
        smoothed = [gain[max(i - 4, 0) : min(i + 4, n_filt - 1) + 1].mean() for i in range(n_filt)]
        expected[t] = m * np.array(smoothed)
    got = mel.copy()
    NoiseRemover(n_filt).apply(got)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


# --- options --------------------------------------------------------------------------------


def test_defaults_are_pocketsphinx_en_us() -> None:
    options = FrontEndOptions()
    assert (options.frame_size, options.frame_shift) == (410, 160)
    assert options.dither is False and options.remove_noise is True and options.cmn == "batch"


@pytest.mark.parametrize(
    "change",
    [
        {"n_fft": 500},
        {"n_fft": 256},  # smaller than the 410-sample window
        {"frame_rate": 0},
        {"window_seconds": 0.005},  # window shorter than the shift
        {"upper_hz": 9000.0},
        {"lower_hz": 7000.0},
        {"n_cepstra": 30},
        {"n_mels": 200},  # filters narrower than an FFT bin
        {"preemphasis": 1.5},
        {"cmn": "live"},
        {"lifter": -1},
        {"dither": "yes"},
        {"sample_rate": 16000.5},
    ],
)
def test_invalid_options_are_rejected(change: dict) -> None:
    with pytest.raises(ValueError):
        FrontEndOptions(**change)


def test_from_feature_params_reads_the_real_model_file() -> None:
    pocketsphinx = pytest.importorskip("pocketsphinx")
    path = os.path.join(pocketsphinx.get_model_path(), "en-us", "en-us", "feat.params")
    with open(path, encoding="utf-8") as handle:
        params = dict(line.split(None, 1) for line in handle if line.strip())
    params = {key: value.strip() for key, value in params.items()}
    assert FrontEndOptions.from_feature_params(params) == FrontEndOptions()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("-transform", "legacy"),
        ("-cmn", "live"),
        ("-agc", "max"),
        ("-feat", "s2_4x"),
        ("-varnorm", "yes"),
        ("-warp", "x"),
        ("-lowerf", "abc"),
    ],
)
def test_from_feature_params_names_unsupported_values(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key):
        FrontEndOptions.from_feature_params({"-nfilt": "25", key: value})


def test_from_feature_params_overrides() -> None:
    options = FrontEndOptions.from_feature_params({"-nfilt": "20", "-lowerf": "200", "-remove_noise": "no"})
    assert (options.n_mels, options.lower_hz, options.remove_noise) == (20, 200.0, False)


def test_bad_audio_is_rejected() -> None:
    for audio in (np.zeros((2, 100), np.float32), np.zeros(100, np.int16), np.array([0.0, np.nan])):
        with pytest.raises(ValueError):
            cepstra(audio)


def test_dither_is_deterministic_and_small() -> None:
    audio = _vowel(1.0)
    dithered = FrontEndOptions(dither=True, seed=5)
    np.testing.assert_array_equal(cepstra(audio, dithered), cepstra(audio, dithered))
    assert not np.array_equal(cepstra(audio, dithered), cepstra(audio))
    np.testing.assert_allclose(cepstra(audio, dithered), cepstra(audio), atol=0.05)
    bits = fe._dither_bits(100_000, 5)
    assert set(np.unique(bits)) == {0, 1} and abs(bits.mean() - 0.25) < 0.01


# --- pocketsphinx itself --------------------------------------------------------------------


def _pocketsphinx_run(pcm: np.ndarray, **config) -> tuple[np.ndarray, int]:
    """pocketsphinx's batch-CMN vector and the number of frames its search scored."""
    pocketsphinx = pytest.importorskip("pocketsphinx")
    model = os.path.join(pocketsphinx.get_model_path(), "en-us", "en-us")
    decoder = pocketsphinx.Decoder(hmm=model, cmn="batch", loglevel="FATAL", **config)
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), no_search=False, full_utt=True)  # full_utt: batch CMN stays batch
    decoder.end_utt()
    mean = np.array([float(v) for v in decoder.get_cmn(False).split(",")])
    scored = max((s.end_frame for s in decoder.seg() or []), default=-1) + 1
    return mean, scored


@pytest.mark.slow
def test_cmn_vector_and_frame_count_match_pocketsphinx() -> None:
    audio = _vowel(5.0)
    reference, scored = _pocketsphinx_run(_pcm(audio))
    cep = cepstra(audio)
    np.testing.assert_allclose(cmn_mean(cep), reference, atol=0.05)
    assert len(cep) == scored == frame_count(len(audio))
    # noise removal matters: without it c0's mean is far off
    assert abs(cmn_mean(cepstra(audio, NO_NOISE))[0] - reference[0]) > 0.5


@pytest.mark.slow
def test_dither_matches_pocketsphinx_with_the_same_seed() -> None:
    audio = _vowel(4.0, seed=1) * 0.01  # quiet, so that +1 LSB of dither matters
    reference, _ = _pocketsphinx_run(_pcm(audio), dither=True, seed=11)
    undithered, _ = _pocketsphinx_run(_pcm(audio))
    ours = cmn_mean(cepstra(audio, FrontEndOptions(dither=True, seed=11)))
    assert np.abs(reference - undithered).max() > 0.01  # dither does change pocketsphinx's result
    np.testing.assert_allclose(ours, reference, atol=0.05)
