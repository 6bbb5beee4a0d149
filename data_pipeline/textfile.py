"""Reading the small UTF-8 text files users hand the pipeline (id lists, download lists)."""

from __future__ import annotations

from pathlib import Path

from lyricalign.errors import DatasetError


def read_lines(path: Path, what: str) -> list[str]:
    """Lines of ``path``; an unreadable or non-UTF-8 file is a DatasetError naming it and ``what`` it is."""
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read {what} ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: cannot read {what} (not UTF-8: invalid byte at offset {e.start})") from e
