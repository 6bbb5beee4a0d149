"""Reading the small UTF-8 text files users hand the pipeline (id lists, download lists), and the one
rule for ids that become file names (downloads and manifests alike)."""

from __future__ import annotations

import re
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


#: A song id that is safe as a file name: letters, digits, "_", "-", "." (never first: no "..", no dotfile).
SAFE_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def is_safe_id(value: str) -> bool:
    """Can ``value`` be used as a file name under a folder without leaving it (no ``/``, ``..``, NUL...)?"""
    return isinstance(value, str) and len(value) <= 200 and SAFE_ID.fullmatch(value) is not None
