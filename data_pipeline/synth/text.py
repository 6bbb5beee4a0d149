"""Lyrics for synthetic songs: lines drawn from a built-in word list per language, or from a text file."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from lyricalign.errors import LyricsError
from lyricalign.text import normalize_token

#: Common, easily sung words per language (no digits: spoken forms equal the written words).
WORDS: dict[str, tuple[str, ...]] = {
    "en": tuple(
        "love heart night light fire dream baby time world sky rain sun moon river home road away tonight forever "
        "never always feel know see hold touch run fly fall stay go come back down inside together alone hear "
        "dance sing cry smile burning shining broken golden little every only wild free young cold"
        .split()
    ),
    "es": tuple(
        "amor corazón noche luz fuego sueño tiempo mundo cielo lluvia sol luna río casa camino siempre nunca "
        "siento quiero vuelve baila canta llora sonrisa mirada beso vida alma tierra mar viento estrella solo "
        "juntos libre dulce lejos cerca bonita tus mis ojos manos"
        .split()
    ),
    "fr": tuple(
        "amour cœur nuit lumière feu rêve temps monde ciel pluie soleil lune rivière maison chemin toujours jamais "
        "sentir vouloir revenir danser chanter pleurer sourire regard baiser vie âme terre mer vent étoile seul "
        "ensemble libre doux loin près belle tes mes yeux mains"
        .split()
    ),
    "de": tuple(
        "liebe herz nacht licht feuer traum zeit welt himmel regen sonne mond fluss haus weg immer niemals "
        "fühlen wollen zurück tanzen singen weinen lächeln blick kuss leben seele erde meer wind stern allein "
        "zusammen frei süß weit nah schön deine meine augen hände"
        .split()
    ),
    "it": tuple(
        "amore cuore notte luce fuoco sogno tempo mondo cielo pioggia sole luna fiume casa strada sempre mai "
        "sento voglio torna balla canta piange sorriso sguardo bacio vita anima terra mare vento stella solo "
        "insieme libero dolce lontano vicino bella tuoi miei occhi mani"
        .split()
    ),
    "pt": tuple(
        "amor coração noite luz fogo sonho tempo mundo céu chuva sol lua rio casa caminho sempre nunca "
        "sinto quero volta dança canta chora sorriso olhar beijo vida alma terra mar vento estrela sozinho "
        "juntos livre doce longe perto bonita teus meus olhos mãos"
        .split()
    ),
}


def random_lines(rng: np.random.Generator, language: str, n_lines: int, min_words: int = 3, max_words: int = 7) -> list[list[str]]:
    """``n_lines`` lines of random words from :data:`WORDS`; a line is often repeated (a chorus)."""
    vocabulary = WORDS[language]
    lines: list[list[str]] = []
    while len(lines) < n_lines:
        if len(lines) >= 4 and rng.random() < 0.2:
            lines.append(list(lines[int(rng.integers(0, len(lines)))]))
            continue
        n = int(rng.integers(min_words, max_words + 1))
        lines.append([vocabulary[i] for i in rng.integers(0, len(vocabulary), n)])
    return lines


def read_text_lines(path: Path, language: str) -> list[list[str]]:
    """Non-empty lines of a lyrics file, as tokens whose spoken form is not empty."""
    try:
        raw = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise LyricsError(f"{path}: cannot read lyrics ({e.strerror})") from e
    lines = [[t for t in line.split() if normalize_token(t, language)] for line in raw]
    lines = [line for line in lines if line]
    if not lines:
        raise LyricsError(f"{path}: no words to sing")
    return lines


def pick_lines(rng: np.random.Generator, pool: Sequence[list[str]], n_lines: int) -> list[list[str]]:
    """``n_lines`` consecutive lines from ``pool`` starting at a random line (wrapping around)."""
    start = int(rng.integers(0, len(pool)))
    return [list(pool[(start + i) % len(pool)]) for i in range(n_lines)]
