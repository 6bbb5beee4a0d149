"""``lyricalign evaluate``: registered by :mod:`lyricalign.cli` as a plugin.

Imports only the stdlib and light core modules at module level (every ``lyricalign`` command
builds the parser); the engines, runner, report (numpy, mir_eval) and plots load when the command
runs. Errors are
:class:`~lyricalign.errors.LyricalignError`, turned by the CLI into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import LyricalignError
from ..exit_codes import EXIT_OK
from .datasets import UNITS

logger = logging.getLogger("lyricalign.evaluation")  # one logger name for the package, as before the split


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lyricalign evaluate``."""
    p = subparsers.add_parser(
        "evaluate", help="score a method on an annotated dataset (AAE, MedAE, PCO, PCS)",
        description="Align every song of DATASET (a JamendoLyrics folder or a JSONL manifest) and score word onsets.",
    )
    p.add_argument("dataset", metavar="DATASET_DIR", help="JamendoLyrics-layout folder, or a DALI-style .jsonl manifest")
    p.add_argument("-m", "--method", type=str.lower, default="hmm", help="method, or comma-separated methods to compare (default: hmm)")
    p.add_argument("--model", default=None, help="acoustic model for ctc (ONNX file or installed model name)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the report as JSON (with several methods: OUT.<method>.json)")
    p.add_argument("--plots", default=None, metavar="DIR", help="write per-song onset plots and an error-distribution summary")
    p.add_argument("--compare", nargs="+", default=[], metavar="REPORT", help="earlier --json reports to add to the summary plot")
    p.add_argument("--songs", nargs="+", default=None, metavar="NAME", help="evaluate only these songs")
    p.add_argument("--unit", choices=UNITS, default="segment", help="manifests: score per segment or per song")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from ..engines import check_method, create_engine
    from ..fsutil import check_output_dir, check_output_path
    from .datasets import load_dataset
    from .report import format_table, read_report_json, write_report_json
    from .runner import evaluate

    # Every name is checked before the first method runs: a typo in the last of several methods must
    # not cost the whole evaluation of the others first (and leave their tables on stdout).
    methods = [check_method(m.strip()) for m in args.method.split(",") if m.strip()]
    if not methods:
        raise LyricalignError("--method: no method given")
    if args.json:  # the report is written after the alignments: a bad path must not cost them
        for method in methods:
            check_output_path(_json_path(args.json, method, several=len(methods) > 1))
    if args.plots:
        check_output_dir(args.plots)
        check_output_path(Path(args.plots) / "summary.png")
    dataset = load_dataset(args.dataset, unit=args.unit).select(args.songs)
    previous = [read_report_json(p) for p in args.compare]
    reports = []
    for method in methods:
        options = {"model": args.model} if args.model else {}
        engine = create_engine(method, **options)
        report = evaluate(dataset, engine, plots_dir=args.plots)
        sys.stdout.write(format_table(report))
        if args.json:
            write_report_json(report, _json_path(args.json, method, several=len(methods) > 1))
        reports.append(report)
    if args.plots:
        from ..plots import plot_error_summary

        summary = plot_error_summary(previous + reports, Path(args.plots) / "summary.png")
        logger.info("wrote %s", summary)
    return EXIT_OK


def _json_path(out: str, method: str, several: bool) -> Path:
    path = Path(out)
    return path.with_name(f"{path.stem}.{method}{path.suffix or '.json'}") if several else path
