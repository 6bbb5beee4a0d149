"""The ``lyricalign`` command: align, evaluate, data, export, models.

Subcommands from the folders (``data_pipeline``, ``training``) and heavy core modules register
themselves through a ``register(subparsers)`` function whose module imports only the stdlib, so
``lyricalign align`` never loads torch or bentoml.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Sequence

from . import __version__
from .errors import LyricalignError, Terminated, interrupt_in_chain
from .exit_codes import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_TERMINATED, EXIT_USAGE  # noqa: F401

if TYPE_CHECKING:
    from .api import AlignOptions

logger = logging.getLogger("lyricalign")

#: Modules that add subcommands; a missing optional folder just drops its commands.
#: The folders are installed inside the package (``lyricalign.data_pipeline`` is the repository's
#: ``data_pipeline/``, pyproject.toml's package-dir), so these are their only names.
PLUGIN_MODULES = ("lyricalign.evaluation", "lyricalign.data_pipeline.cli", "lyricalign.training.cli",
                  "lyricalign.training.train")


class OneLineParser(argparse.ArgumentParser):
    """argparse, with bad usage said as every other error is: one line ``lyricalign: error: ...``, exit 2
    (argparse's own prints the usage and ``lyricalign align: error: ...``). The subcommands' parsers,
    made by ``add_subparsers``, are of this class too; so are the folders' own entry points'."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog.split()[0]}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="lyricalign", description="Align song lyrics to audio.")
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
    from .audio import DEFAULT_MAX_DURATION  # light: numpy only
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
    p.add_argument("-l", "--language", default="auto",
                   help="lyrics language: en, es, fr, de, it, pt, or auto to detect it from the lyrics (default: auto)")
    p.add_argument("-m", "--method", type=str.lower, default=None,
                   help="hmm, sphinx, ctc, dtw or uniform (default: hmm; ctc when --model is given)")
    p.add_argument("--model", default=None, help="acoustic model for ctc: an ONNX file or an installed model's name")
    p.add_argument("-f", "--format", type=str.lower, choices=FORMATS, default=None,
                   help="output format (default: the one -o's suffix names; json on stdout)")
    p.add_argument("-o", "--output", default=None,
                   help="output file, written atomically; a device or FIFO is written through (default: stdout)")
    p.add_argument("--max-duration", type=float, default=None,
                   help=f"longest audio accepted, seconds (default: {DEFAULT_MAX_DURATION:g})")
    p.add_argument("--adaptation", type=_int_arg, default=None, metavar="N",
                   help="hmm: iterations of per-song acoustic adaptation, 0 (off) to 5 (default: 1)")
    p.add_argument("--keep-markers", action="store_true",
                   help="align section markers and stage directions ([Chorus], (x2), ...) as lyrics and show them "
                        "in LRC/SRT/VTT/ASS (default: flagged in JSON, left out of the display formats)")
    p.add_argument("--allow-untrained", action="store_true",
                   help="run ctc with a model whose metadata says it is untrained (its times are noise; for testing)")
    batch = p.add_argument_group("batch mode")
    batch.add_argument("--batch", metavar="SOURCE", default=None,
                       help="align every song of SOURCE (a directory of audio + .txt pairs, or a .csv/.jsonl list) into -o OUT_DIR")
    batch.add_argument("-j", "--jobs", type=int, default=1, help="parallel worker processes, one engine each (default: 1)")
    batch.add_argument("--errors", default=None, metavar="PATH", help="error report, JSONL (default: OUT_DIR/errors.jsonl)")
    p.set_defaults(func=run_align)


def run_align(args: argparse.Namespace) -> int:
    from .api import AlignOptions, align, create_engine_for, prepare_lyrics, read_lyrics_file
    from .audio import DEFAULT_MAX_DURATION, MAX_DURATION_CEILING, AudioLimits, load_audio
    from .formats import output_format, render, write
    from .fsutil import check_not_an_input, check_output_path
    from .language import release as release_language_models
    from .progress import Stages, progress_callback

    if args.max_duration is not None and not 0 < args.max_duration <= MAX_DURATION_CEILING:
        raise LyricalignError(f"--max-duration must be a positive number of seconds up to {MAX_DURATION_CEILING:g}, "
                              f"got {args.max_duration:g}")
    limits = AudioLimits(max_duration=args.max_duration or DEFAULT_MAX_DURATION)
    options = AlignOptions(language=args.language, method=args.method, model=args.model, limits=limits,
                           adaptation=args.adaptation, keep_markers=args.keep_markers,
                           allow_untrained=args.allow_untrained)
    if args.batch is not None:
        return _run_batch(args, options)
    if args.audio is None or args.lyrics is None:
        raise LyricalignError("align needs AUDIO and LYRICS_FILE (or --batch SOURCE -o OUT_DIR)")
    if args.jobs != 1 or args.errors is not None:
        raise LyricalignError("--jobs and --errors apply to --batch only")
    if args.output:
        check_output_path(args.output)  # before minutes of work, not after
        check_not_an_input(args.output, [args.audio, args.lyrics])
    fmt = output_format(args.format, args.output)
    with Stages(["lyrics", "audio", "model", "align", "write"]) as stages, progress_callback(stages), \
            ThreadPoolExecutor(1, thread_name_prefix="load-model") as loader:
        # The model loads while the lyrics are read; while the audio decodes, the engine prepares the lyrics
        # (the hmm engine's decoding graph) and warms up. An error in either is only a lost head start: the
        # alignment prepares the lyrics again and raises it, and loading.result() raises the engine's own.
        loading = loader.submit(create_engine_for, options)
        lyrics = prepare_lyrics(read_lyrics_file(args.lyrics), options.language, options.keep_markers)
        release_language_models()  # one song: free the detector's memory before the alignment's
        loader.submit(lambda: loading.result().prepare_text(lyrics))
        warming = loader.submit(lambda: loading.result().warm_up())
        stages.next()
        try:
            audio = load_audio(args.audio, limits)
            stages.next()
            engine = loading.result()
        except BaseException:  # bad audio, no engine, Ctrl-C: the queued head start is not waited for
            loader.shutdown(wait=False, cancel_futures=True)
            raise
        prepared = engine.prepare(audio)
        del audio  # what the engine keeps of it is in `prepared` (the hmm engine: the features, not the waveform)
        warming.result()
        stages.next()
        result = align(prepared, lyrics, options, engine=engine)
        stages.next()
        if args.output:
            try:
                write(result, fmt, args.output)
            except OSError as e:
                raise LyricalignError(f"cannot write {args.output}: {e.strerror or e}") from e
        else:
            _write_stdout(render(result, fmt))
        stages.next()
    if args.output:
        logger.info("wrote %d words, %d lines to %s", len(result.words), len(result.lines), Path(args.output))
    return EXIT_OK


def _int_arg(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _write_stdout(text: str) -> None:
    """Write and flush stdout; a full disk or closed pipe becomes a one-line error.

    On failure stdout is pointed at /dev/null first, so the interpreter's own flush at exit finds
    nowhere to fail and prints no second message.
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        raise LyricalignError(f"cannot write the result to stdout: {e.strerror or e}") from e


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _run_batch(args: argparse.Namespace, options: "AlignOptions") -> int:
    """``align --batch SOURCE -o OUT_DIR`` with the single-song ``options``: see :mod:`lyricalign.batch`."""
    from .batch import BatchOptions, discover_jobs, run_batch
    from .fsutil import check_output_dir, check_output_path

    if args.audio is not None:
        raise LyricalignError("give either AUDIO LYRICS_FILE or --batch SOURCE, not both")
    if not args.output:
        raise LyricalignError("--batch needs -o OUT_DIR, the folder for the outputs")
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise LyricalignError(f"{out_dir}: exists and is not a directory (--batch writes one file per song into -o OUT_DIR)")
    check_output_dir(out_dir)  # before the songs are aligned, not after
    if args.errors:
        check_output_path(args.errors)
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
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return int(args.func(args) or EXIT_OK)
    except LyricalignError as e:
        print(f"lyricalign: error: {one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (``lyricalign models list | head -1``): stop quietly
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())  # the interpreter's final flush must not fail again
        return EXIT_BROKEN_PIPE
    except (KeyboardInterrupt, Terminated) as e:
        return _stopped(e)
    except Exception as e:  # a bug, or the environment's OSError: one line unless -vv asked for the traceback
        stop = interrupt_in_chain(e)
        if stop is not None:  # the signal, wrapped by numba's dispatcher (it landed in a nogil kernel)
            return _stopped(stop)
        if args.verbose >= 2:
            raise
        if isinstance(e, OSError):  # a full disk, a path that changed under us: say what and where
            path = e.filename2 or e.filename  # os.replace(temporary, target): the target
            print(f"lyricalign: error: {f'{path}: ' if path else ''}{one_line(e.strerror or e)}", file=sys.stderr)
            return EXIT_USAGE
        print(f"lyricalign: internal error: {type(e).__name__}: {one_line(e)} (run with -vv for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def one_line(error: BaseException | str) -> str:
    """``error``'s message on one line: libraries' messages (transformers', ONNX Runtime's) span several."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def _stopped(signal_exception: BaseException) -> int:
    """Ctrl-C or SIGTERM: one line and the exit status of that signal."""
    if isinstance(signal_exception, Terminated):
        print("lyricalign: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    print("lyricalign: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbosity == 0:  # progress lines of non-interactive runs show at the default verbosity
        logging.getLogger("lyricalign.progress").setLevel(logging.INFO)


def run() -> None:
    """The ``lyricalign`` command: :func:`main`, then a prompt exit.

    The interpreter's own teardown frees numba's and ONNX Runtime's objects one by one, ~0.15 s of
    every run after the work is done (measured: ``os._exit`` instead). So, as mypy does, the output
    streams are flushed and the interpreter's shutdown runs in its own order up to the teardown:
    first ``threading._shutdown`` (the hooks of ``threading._register_atexit``, where
    ``concurrent.futures`` stops its pools, then the non-daemon threads are joined), then the
    ``atexit`` handlers (temporary folders, logging, multiprocessing's finalizers). Without the
    first, a process pool's manager thread could be cut between unlinking a semaphore and telling
    multiprocessing's resource tracker, which then warned on stderr. :func:`main` itself returns
    normally (tests call it in-process).
    """
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = EXIT_BROKEN_PIPE
    sys.stderr.flush()
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":
    run()
