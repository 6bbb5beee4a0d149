"""The library's front door: ``lyricalign.api.align`` checks what it is given."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tone
from lyricalign.api import AlignOptions, align
from lyricalign.errors import AudioError

UNIFORM = AlignOptions(method="uniform")


def test_waveform_is_aligned_as_given():
    result = align(tone(2.0), "la la la", UNIFORM)
    assert result.duration == 2.0 and [w.text for w in result.words] == ["la", "la", "la"]
    as_float64 = align(tone(2.0).astype(np.float64), "la la la", UNIFORM)
    assert as_float64.to_dict() == result.to_dict()


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros((32000, 2), np.float32), r"expected a non-empty \(N,\) mono waveform at 16000 Hz, got shape \(32000, 2\)"),
        (np.zeros(0, np.float32), r"expected a non-empty \(N,\) mono waveform at 16000 Hz, got shape \(0,\)"),
        (np.zeros(32000, np.int16), r"expected floating-point samples in \[-1, 1\], got dtype int16"),
    ],
)
def test_unusable_waveforms_are_audio_errors(audio, message):
    with pytest.raises(AudioError, match=f"^{message}$"):
        align(audio, "la la la", UNIFORM)
