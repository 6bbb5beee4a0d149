"""The ``lyricalign`` command: align, evaluate, data, export, models.

Subcommands from the folders (``data_pipeline``, ``training``) and heavy core modules register
themselves through a ``register(subparsers)`` function whose module imports only the stdlib, so
``lyricalign align`` never loads torch or bentoml.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import __version__
from .errors import LyricalignError

if TYPE_CHECKING:
    from .api import AlignOptions

logger = logging.getLogger("lyricalign")

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: A batch command finished but some of its items failed (listed in its error log), e.g. ``data download``.
EXIT_PARTIAL = 3
#: Modules that add subcommands; a missing optional folder just drops its commands.
PLUGIN_MODULES = ("lyricalign.evaluation", "data_pipeline.cli", "training.cli", "training.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lyricalign", description="Align song lyrics to audio.")
    parser.add_argument("--version", action="version", version=f"lyricalign {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug, tracebacks)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _add_align(subparsers)
    for module_name in PLUGIN_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):
                continue  # the folder is not installed (e.g. a core-only wheel)
            raise
        module.register(subparsers)
    return parser


def _add_align(subparsers: argparse._SubParsersAction) -> None:
    from .formats import FORMATS  # light: no third-party imports

    p = subparsers.add_parser(
        "align", help="align lyrics to a recording (or a catalogue of them with --batch)",
        usage="lyricalign align [options] AUDIO LYRICS_FILE\n       lyricalign align [options] --batch SOURCE -o OUT_DIR [--jobs N]",
        description="Align LYRICS_FILE to AUDIO; with --batch, every song of SOURCE, one output file per song in OUT_DIR.",
        epilog="Batch mode: SOURCE is a directory of audio files each with a same-stem .txt of lyrics, or a .csv "
               "(header row) / .jsonl list with the fields audio, lyrics and optional language, out. Songs whose "
               "output already exists and parses are skipped (re-run to resume); failures go to "
               "OUT_DIR/errors.jsonl while the rest continue. Exit status: 0 all done, 3 some songs failed, "
               "2 bad usage.",
    )
    p.add_argument("audio", metavar="AUDIO", nargs="?", help="audio file (mp3, wav, flac, ogg, m4a, opus, ...)")
    p.add_argument("lyrics", metavar="LYRICS_FILE", nargs="?",
                   help="UTF-8 lyrics, one sung line per line, blank line between paragraphs")
    p.add_argument("-l", "--language", default="en", help="lyrics language: en, es, fr, de, it, pt (default: en)")
    p.add_argument("-m", "--method", default=None, help="ctc, hmm, dtw or uniform (default: hmm; ctc when --model is given)")
    p.add_argument("--model", default=None, help="acoustic model for ctc: an ONNX file or an installed model's name")
    p.add_argument("-f", "--format", choices=FORMATS, default=None, help="output format (default: from -o's suffix, else json)")
    p.add_argument("-o", "--output", default=None, help="output file, written atomically (default: stdout)")
    p.add_argument("--max-duration", type=float, default=None, help="longest audio accepted, seconds (default: 1200)")
    batch = p.add_argument_group("batch mode")
    batch.add_argument("--batch", metavar="SOURCE", default=None,
                       help="align every song of SOURCE (a directory of audio + .txt pairs, or a .csv/.jsonl list) into -o OUT_DIR")
    batch.add_argument("-j", "--jobs", type=int, default=1, help="parallel worker processes, one engine each (default: 1)")
    batch.add_argument("--errors", default=None, metavar="PATH", help="error report, JSONL (default: OUT_DIR/errors.jsonl)")
    p.set_defaults(func=run_align)


def run_align(args: argparse.Namespace) -> int:
    from .api import AlignOptions, align, create_engine_for, prepare_lyrics, read_lyrics_file
    from .audio import DEFAULT_MAX_DURATION, AudioLimits, load_audio
    from .formats import format_for_path, render, write
    from .progress import Stages, progress_callback

    if args.max_duration is not None and not args.max_duration > 0:
        raise LyricalignError(f"--max-duration must be a positive number of seconds, got {args.max_duration:g}")
    limits = AudioLimits(max_duration=args.max_duration or DEFAULT_MAX_DURATION)
    options = AlignOptions(language=args.language, method=args.method, model=args.model, limits=limits)
    if args.batch is not None:
        return _run_batch(args, options)
    if args.audio is None or args.lyrics is None:
        raise LyricalignError("align needs AUDIO and LYRICS_FILE (or --batch SOURCE -o OUT_DIR)")
    if args.jobs != 1 or args.errors is not None:
        raise LyricalignError("--jobs and --errors apply to --batch only")
    fmt = args.format or (format_for_path(args.output) if args.output else None) or "json"
    with Stages(["lyrics", "audio", "model", "align", "write"]) as stages, progress_callback(stages):
        lyrics = prepare_lyrics(read_lyrics_file(args.lyrics), options.language)
        stages.next()
        audio = load_audio(args.audio, limits)
        stages.next()
        engine = create_engine_for(options)
        stages.next()
        result = align(audio, lyrics, options, engine=engine)
        stages.next()
        if args.output:
            write(result, fmt, args.output)
        else:
            sys.stdout.write(render(result, fmt))
        stages.next()
    if args.output:
        logger.info("wrote %d words, %d lines to %s", len(result.words), len(result.lines), Path(args.output))
    return EXIT_OK


def _run_batch(args: argparse.Namespace, options: "AlignOptions") -> int:
    """``align --batch SOURCE -o OUT_DIR`` with the single-song ``options``: see :mod:`lyricalign.batch`."""
    from .batch import BatchOptions, discover_jobs, run_batch

    if args.audio is not None:
        raise LyricalignError("give either AUDIO LYRICS_FILE or --batch SOURCE, not both")
    if not args.output:
        raise LyricalignError("--batch needs -o OUT_DIR, the folder for the outputs")
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise LyricalignError(f"{out_dir}: exists and is not a directory (--batch writes one file per song into -o OUT_DIR)")
    batch_options = BatchOptions(method=options.method, model=options.model, language=options.language,
                                 limits=options.limits, jobs=args.jobs, errors=Path(args.errors) if args.errors else None)
    jobs = discover_jobs(args.batch, out_dir, args.format)
    summary = run_batch(jobs, out_dir, batch_options)
    print(f"aligned {summary.aligned}, skipped {summary.skipped} (already done), failed {summary.failed} "
          f"of {summary.total} songs in {summary.seconds:.1f} s" + (f"; failures: {summary.errors}" if summary.failed else ""))
    return EXIT_OK if summary.failed == 0 else EXIT_PARTIAL


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return int(args.func(args) or EXIT_OK)
    except LyricalignError as e:
        print(f"lyricalign: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lyricalign: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: one line unless -vv asked for the traceback
        if args.verbose >= 2:
            raise
        print(f"lyricalign: internal error: {type(e).__name__}: {e} (run with -vv for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbosity == 0:  # progress lines of non-interactive runs show at the default verbosity
        logging.getLogger("lyricalign.progress").setLevel(logging.INFO)


if __name__ == "__main__":
    sys.exit(main())
