"""The output contract enforced by timing.assemble_result, whatever the engine returns."""

import pytest

from lyricalign.errors import AlignmentError
from lyricalign.text import parse_lyrics
from lyricalign.timing import WordTiming, assemble_result


def _assemble(text, timings, duration=10.0):
    return assemble_result(parse_lyrics(text, "en"), timings, duration, model="m", method="test")


def test_missing_words_are_interpolated_between_neighbours_and_flagged():
    result = _assemble("one 🎵 🎵 four", [WordTiming(1.0, 2.0, 0.9), None, None, WordTiming(5.0, 6.0, 0.8)])
    assert [(w.start, w.end) for w in result.words] == [(1.0, 2.0), (3.0, 4.0), (4.0, 5.0), (5.0, 6.0)]
    assert [w.interpolated for w in result.words] == [False, True, True, False]
    assert [w.confidence for w in result.words] == [0.9, 0.0, 0.0, 0.8]


def test_leading_and_trailing_gaps_use_the_audio_edges():
    result = _assemble("🎵 two 🎵", [None, WordTiming(4.0, 5.0), None], duration=5.5)
    assert [(w.start, w.end) for w in result.words] == [(3.0, 4.0), (4.0, 5.0), (5.0, 5.5)]


def test_interpolated_words_stay_next_to_their_line_across_long_breaks():
    result = _assemble(
        "one two\n[Chorus] three 🎵", [WordTiming(1, 2), WordTiming(2, 3), None, WordTiming(40, 41), None], 60
    )
    assert (result.words[2].start, result.words[2].end) == (39.0, 40.0)  # opens its line: just before "three"
    assert (result.words[4].start, result.words[4].end) == (41.0, 42.0)  # closes its line: just after "three"
    assert result.lines[1].start == 39.0


def test_times_are_clamped_monotonic_and_ordered():
    result = _assemble(
        "a b c d", [WordTiming(-1.0, 0.5), WordTiming(3.0, 2.0), WordTiming(2.5, 4.0), WordTiming(9.0, 42.0)]
    )
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and starts[0] == 0.0
    assert all(w.end >= w.start for w in result.words)
    assert result.words[-1].end == 10.0


def test_lines_span_their_words_and_keep_paragraphs():
    result = _assemble(
        "a b\n\nc", [WordTiming(1, 2), WordTiming(2, 3), WordTiming(4, 5)]
    )
    assert [(ln.text, ln.start, ln.end, ln.paragraph) for ln in result.lines] == [("a b", 1, 3, 0), ("c", 4, 5, 1)]
    assert [w.line for w in result.words] == [0, 0, 1]


def test_wrong_number_of_timings_is_an_error():
    with pytest.raises(AlignmentError, match="engine returned 1 timings for 2 words"):
        _assemble("a b", [WordTiming(0, 1)])


def test_json_dict_round_trip():
    from lyricalign.schema import AlignmentResult

    result = _assemble("a b", [WordTiming(0.1234, 0.5), None])
    data = result.to_dict()
    assert set(data) >= {"words", "lines", "duration", "model", "language"}
    assert set(data["words"][0]) >= {"text", "start", "end", "confidence", "line"}
    assert AlignmentResult.from_dict(data).words[0].start == 0.123
