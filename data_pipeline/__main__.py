"""``python -m lyricalign.data_pipeline COMMAND ...``: the ``lyricalign data`` commands without the main CLI.

The same parser, logging and exit codes as ``lyricalign data COMMAND ...`` (:func:`lyricalign.cli.main`).
"""

from __future__ import annotations

import sys
from typing import Sequence

from lyricalign.cli import main as lyricalign_main

VERBOSITY_FLAGS = ("-v", "-vv", "--verbose")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbosity = [a for a in argv if a in VERBOSITY_FLAGS]  # the main CLI takes them before "data"
    return lyricalign_main([*verbosity, "data", *(a for a in argv if a not in VERBOSITY_FLAGS)])


if __name__ == "__main__":
    sys.exit(main())
