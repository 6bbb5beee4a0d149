"""``python -m lyricalign.evaluation ARGS``: ``lyricalign -v evaluate ARGS`` (same parser and exit codes)."""

from __future__ import annotations

import sys
from typing import Iterable


def main(argv: Iterable[str] | None = None) -> int:
    from ..cli import main as lyricalign_main

    return lyricalign_main(["-v", "evaluate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
