"""Language detection (``language="auto"``, the default): short lyrics per language, warnings, defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from conftest import tone
from lyricalign.api import AlignOptions, align
from lyricalign.language import UNSURE_BELOW, detect_language
from lyricalign.text import parse_lyrics

#: Short lyric lines (written for this test, not from songs): each must be detected as its language.
SHORT_LYRICS = {
    "en": ["i will always love you", "dancing on my own tonight", "we are the champions my friend",
           "don't stop believing", "the night is young and so are we", "hold my hand and never let go"],
    "es": ["te quiero con todo mi corazón", "la noche es larga sin ti", "bailando bajo las estrellas",
           "no me dejes nunca más", "quiero estar contigo", "somos dos almas perdidas"],
    "fr": ["je t'aime à la folie", "la vie en rose pour nous deux", "les enfants de la patrie",
           "je ne veux pas travailler", "mon amour reste avec moi", "nous chanterons toute la nuit"],
    "de": ["ich will immer bei dir sein", "wir sind die kinder der nacht", "du bist nicht allein",
           "schön ist es auf der welt zu sein", "ich warte schon so lange", "über sieben brücken musst du gehen"],
    "it": ["volare oh oh cantare", "ti penso sempre amore mio", "nel blu dipinto di blu",
           "la vita è bella con te", "non ho l'età per amarti", "ogni notte sogno di te"],
    "pt": ["eu sei que vou te amar", "a felicidade é como a gota", "garota de ipanema",
           "nunca vou te esquecer", "meu coração é seu", "a saudade que eu sinto de você"],
}


@pytest.mark.parametrize("language", sorted(SHORT_LYRICS))
def test_short_lyrics_are_detected_per_language(language: str) -> None:
    found = {line: detect_language(line) for line in SHORT_LYRICS[language]}
    wrong = {line: d for line, d in found.items() if d.language != language}
    assert len(wrong) <= 1, wrong  # 5 of 6 lines of 3-7 words at least (35 of 36 in all, measured)
    assert all(d.unsure for d in wrong.values()), wrong  # and a wrong guess says it is unsure
    song = detect_language("\n".join(SHORT_LYRICS[language]))  # a whole (short) song: sure of it
    assert song.language == language and not song.unsure and song.warning is None, song


def test_unsupported_language_and_unsure_detection_warn() -> None:
    dutch = detect_language("de nacht is nog jong en wij dansen\nik hou van jou meer dan ooit")
    assert dutch.unsupported == "nl" and dutch.language in ("de", "en", "fr", "es", "it", "pt")
    assert "not supported" in (dutch.warning or "") and "'nl'" in (dutch.warning or "")
    tiny = detect_language("la la la")
    assert tiny.unsure and tiny.confidence < UNSURE_BELOW and "unsure" in (tiny.warning or "")
    assert tiny.to_dict()["unsure"] is True


def test_parse_lyrics_detects_from_the_sung_lines_only() -> None:
    lyrics = parse_lyrics("[Verse 1]\nsoy un fantasma que\nse asusta de si mismo\n\n[Chorus]\nla tristeza es muy extraña")
    assert lyrics.language == "es" and lyrics.detection is not None and lyrics.detection.language == "es"
    explicit = parse_lyrics("soy un fantasma", "es")
    assert explicit.detection is None and explicit.language == "es"


def test_api_default_is_auto_and_the_result_reports_the_detection() -> None:
    assert AlignOptions().language == "auto" and AlignOptions(language="AUTO").language == "auto"
    result = align(tone(4.0), "\n".join(SHORT_LYRICS["fr"]), AlignOptions(method="uniform"))
    assert result.language == "fr"
    detection = result.extras["language_detection"]
    assert detection["language"] == "fr" and 0.6 <= detection["confidence"] <= 1 and detection["unsure"] is False
    assert result.warnings == ()
    explicit = align(tone(4.0), "\n".join(SHORT_LYRICS["fr"]), AlignOptions(language="fr", method="uniform"))
    assert "language_detection" not in explicit.extras


def test_api_warns_in_log_and_extras_when_unsure(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        result = align(tone(2.0), "la la la", AlignOptions(method="uniform"))
    assert result.warnings and "unsure" in result.warnings[0]
    assert result.extras["warnings"] == list(result.warnings)
    assert any("unsure" in r.getMessage() for r in caplog.records)
    assert json.loads(json.dumps(result.to_dict()))["extras"]["language_detection"]["unsure"] is True


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The CLI without its periodic progress lines (a loaded machine would print one on stderr)."""
    env = {**os.environ, "LYRICALIGN_PROGRESS_INTERVAL": "3600"}
    return subprocess.run([sys.executable, "-m", "lyricalign.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.mark.slow
def test_cli_default_detects_and_warns_on_stderr(tmp_path: Path) -> None:
    audio = tmp_path / "song.wav"
    sf.write(audio, tone(4.0), 16_000)
    spanish = tmp_path / "es.txt"
    spanish.write_text("\n".join(SHORT_LYRICS["es"]), encoding="utf-8")
    proc = _cli("align", str(audio), str(spanish), "--method", "uniform")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["language"] == "es" and data["extras"]["language_detection"]["language"] == "es"
    assert proc.stderr == ""  # sure: nothing to say
    same = json.loads(_cli("align", str(audio), str(spanish), "--method", "uniform", "--language", "es").stdout)
    assert [(w["text"], w["start"]) for w in same["words"]] == [(w["text"], w["start"]) for w in data["words"]]
    dutch = tmp_path / "nl.txt"
    dutch.write_text("de nacht is nog jong en wij dansen\nik hou van jou meer dan ooit\n", encoding="utf-8")
    proc = _cli("align", str(audio), str(dutch), "--method", "uniform")
    assert proc.returncode == 0 and "not supported" in proc.stderr and "--language" in proc.stderr
    assert json.loads(proc.stdout)["extras"]["warnings"]
    # A failing run prints its one error line, not the detection warning too.
    proc = _cli("align", str(tmp_path / "missing.wav"), str(dutch), "--method", "uniform")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
