"""``python -m data_pipeline COMMAND ...``: the ``lyricalign data`` commands without the main CLI."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from lyricalign.errors import LyricalignError

from .cli import register


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_pipeline", description="lyricalign data pipeline")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    subparsers = parser.add_subparsers(dest="command")
    register(subparsers)
    argv = list(sys.argv[1:] if argv is None else argv)
    options = [a for a in argv if a in ("-v", "-vv", "--verbose")]
    rest = [a for a in argv if a not in options]
    args = parser.parse_args([*options, "data", *rest])
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except LyricalignError as e:
        print(f"lyricalign: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lyricalign: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
