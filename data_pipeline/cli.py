"""``lyricalign data ...``: stats, download, prepare, synth.

Imports only the stdlib at import time (the CLI loads every plugin to build its parser); the
work happens in functions that import the pipeline modules when a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="datasets: DALI stats, audio download, manifests, synthetic songs")
    commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    commands.required = True
    _add_stats(commands)
    _add_download(commands)
    _add_prepare(commands)
    _add_synth(commands)


# --- shared options -------------------------------------------------------------------------


def _add_filters(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("song filters")
    g.add_argument("--language", action="append", default=[], help="keep this language (ISO code or DALI name); repeatable or comma-separated")
    g.add_argument("--min-ncc", type=float, default=None, help="keep songs whose audio/annotation NCC score is at least this")
    g.add_argument("--working", action="store_true", help="keep songs whose audio link is marked working")
    g.add_argument("--ground-truth", type=Path, default=None, metavar="GT.gz", help="DALI ground-truth corrections (gt_v1.0_22-11-18.gz)")
    g.add_argument("--ground-truth-only", action="store_true", help="keep only songs with a manual correction")
    g.add_argument("--ids", type=Path, default=None, metavar="FILE", help="keep only the DALI ids listed in FILE (one per line)")


def _add_split(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("splits and exclusions")
    g.add_argument("--val-fraction", type=float, default=0.05, help="fraction of artists in val (default: 0.05)")
    g.add_argument("--test-fraction", type=float, default=0.05, help="fraction of artists in test (default: 0.05)")
    g.add_argument("--exclude-ids", type=Path, default=None, metavar="FILE", help="DALI ids never to use (one per line)")
    g.add_argument("--exclude-songs", type=Path, default=None, metavar="CSV", help="CSV with Artist,Title columns (e.g. JamendoLyrics.csv) never to use")


def _comma_separated(values: list[str]) -> list[str]:
    """Items of a repeatable, comma-separated option (``--language en,de --language fr``), in order."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _filters(args: argparse.Namespace):
    from .dali import DaliFilter
    from .manifest import read_id_list

    return DaliFilter(
        languages=frozenset(_comma_separated(args.language)),
        min_ncc=args.min_ncc,
        working_only=args.working,
        ground_truth_only=args.ground_truth_only,
        ids=read_id_list(args.ids) if args.ids else frozenset(),
    )


def _ground_truth(args: argparse.Namespace):
    from .dali import load_ground_truth

    return load_ground_truth(args.ground_truth) if args.ground_truth else {}


def _split_and_exclusions(args: argparse.Namespace):
    from .manifest import Exclusions, SplitOptions, read_id_list, read_song_list

    split = SplitOptions(val_fraction=args.val_fraction, test_fraction=args.test_fraction)
    exclusions = Exclusions(
        ids=read_id_list(args.exclude_ids) if args.exclude_ids else frozenset(),
        songs=read_song_list(args.exclude_songs) if args.exclude_songs else frozenset(),
    )
    return split, exclusions


def _validated(factory, **kwargs):
    """Build a frozen options dataclass, turning its validation errors into user errors."""
    from lyricalign.errors import DatasetError

    try:
        return factory(**kwargs)
    except ValueError as e:
        raise DatasetError(str(e)) from e


# --- stats ----------------------------------------------------------------------------------


def _add_stats(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("stats", help="songs per language and split from DALI metadata alone")
    p.add_argument("metadata", type=Path, metavar="METADATA.json", help="dali_v1_metadata.json")
    _add_filters(p)
    _add_split(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run_stats)


def run_stats(args: argparse.Namespace) -> int:
    from .dali import load_metadata
    from .manifest import SPLITS, metadata_summary

    filters = _validated(_filters, args=args)
    gt = _ground_truth(args)
    infos = [i for i in load_metadata(args.metadata) if filters.accepts(i, gt)]
    split, exclusions = _validated(_split_and_exclusions, args=args)
    counts = metadata_summary(infos, split, exclusions)
    if args.json:
        print(json.dumps(counts, indent=2))
        return 0
    print(f"{'language':<12} {'songs':>6} " + " ".join(f"{s:>6}" for s in SPLITS))
    for language, per_split in counts.items():
        print(f"{language:<12} {sum(per_split.values()):>6} " + " ".join(f"{per_split[s]:>6}" for s in SPLITS))
    print(f"{'total':<12} {sum(sum(c.values()) for c in counts.values()):>6}")
    return 0


# --- download -------------------------------------------------------------------------------


def _add_download(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "download",
        help="download songs' audio with yt-dlp (resumable)",
        description="Download audio with yt-dlp. Exit status 3 when any song failed (see OUT_DIR/errors.jsonl).",
    )
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="where <id>.flac, archive.jsonl and errors.jsonl go")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--metadata", type=Path, metavar="METADATA.json", help="DALI metadata (ids and YouTube ids); filters apply")
    source.add_argument("--list", type=Path, metavar="FILE", help="lines of '<id> [url]'")
    _add_filters(p)
    p.add_argument("--url-template", default=None, help="URL for a bare id, with {id} (default: YouTube watch URL)")
    p.add_argument("--format", dest="audio_format", choices=("flac", "wav"), default="flac", help="output format (default: flac)")
    p.add_argument("--sample-rate", type=int, default=16000, help="output sample rate (default: 16000)")
    p.add_argument("--channels", type=int, choices=(1, 2), default=1, help="output channels (default: 1)")
    p.add_argument("-j", "--workers", type=int, default=2, help="parallel downloads (default: 2)")
    p.add_argument("--retries", type=int, default=3, help="retries per song after the first attempt (default: 3)")
    p.add_argument("--backoff", type=float, default=2.0, help="seconds before the first retry, doubled each time (default: 2)")
    p.add_argument("--socket-timeout", type=float, default=20.0, help="network timeout in seconds (default: 20)")
    p.add_argument("--rate-limit", type=int, default=None, metavar="BYTES_PER_S", help="bandwidth per download")
    p.add_argument("--min-interval", type=float, default=0.0, metavar="SECONDS", help="minimum time between two download starts")
    p.add_argument("--cookies", type=Path, default=None, help="Netscape cookies file passed to yt-dlp")
    p.add_argument("--proxy", default=None, help="proxy URL passed to yt-dlp")
    p.add_argument("--limit", type=int, default=None, help="download at most this many songs")
    p.set_defaults(func=run_download)


def run_download(args: argparse.Namespace) -> int:
    from lyricalign.exit_codes import EXIT_OK, EXIT_PARTIAL
    from lyricalign.fsutil import check_output_dir

    from .dali import load_metadata
    from .download import YOUTUBE_TEMPLATE, DownloadOptions, download_all, items_from_songs, read_items

    check_output_dir(args.out_dir)  # before any download, not after the first one

    if args.metadata:
        filters = _validated(_filters, args=args)
        gt = _ground_truth(args)
        items = items_from_songs(i for i in load_metadata(args.metadata) if filters.accepts(i, gt))
    else:
        items = read_items(args.list)
    items = items[: args.limit] if args.limit is not None else items
    options = _validated(
        DownloadOptions,
        out_dir=args.out_dir,
        url_template=args.url_template or YOUTUBE_TEMPLATE,
        audio_format=args.audio_format,
        sample_rate=args.sample_rate,
        channels=args.channels,
        workers=args.workers,
        retries=args.retries,
        backoff=args.backoff,
        socket_timeout=args.socket_timeout,
        rate_limit=args.rate_limit,
        min_interval=args.min_interval,
        cookies=args.cookies,
        proxy=args.proxy,
    )
    summary = download_all(items, options)
    print(f"downloaded {summary.downloaded}, skipped {summary.skipped} (already complete), failed {summary.failed}")
    if summary.failed:
        print(f"errors: {summary.errors}")
    return EXIT_OK if summary.failed == 0 else EXIT_PARTIAL


# --- prepare --------------------------------------------------------------------------------


def _add_prepare(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("prepare", help="DALI annotations + downloaded audio -> train/val/test JSONL manifests")
    p.add_argument("dali_dir", type=Path, metavar="DALI_DIR", help="folder of DALI <id>.gz (or JSON export) files")
    p.add_argument("--audio-dir", type=Path, required=True, help="folder of downloaded <id>.flac/.wav files")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder for <split>.jsonl and summary.json")
    p.add_argument("--max-duration", type=float, default=15.0, help="longest segment in seconds (default: 15)")
    p.add_argument("--dry-run", action="store_true", help="print the summary, write nothing")
    _add_filters(p)
    _add_split(p)
    p.set_defaults(func=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    from lyricalign.fsutil import check_output_dir

    from .dali import ReadReport, iter_songs
    from .manifest import SegmentOptions, prepare

    if not args.dry_run:
        check_output_dir(args.out)  # before reading every DALI file, not after
    filters = _validated(_filters, args=args)
    split, exclusions = _validated(_split_and_exclusions, args=args)
    segments = _validated(SegmentOptions, max_duration=args.max_duration)
    report = ReadReport()
    songs = iter_songs(args.dali_dir, filters, _ground_truth(args), report)
    result = prepare(songs, args.audio_dir, args.out, split=split, segments=segments, exclusions=exclusions, dry_run=args.dry_run)
    print(result.summary.format_table())
    print(f"read {report.read} files, {report.filtered} filtered out, {len(report.failed)} unreadable, {report.corrected} corrected")
    if result.written:
        print(f"wrote {args.out}/{{train,val,test}}.jsonl and summary.json")
    return 0


# --- synth ----------------------------------------------------------------------------------


def _add_synth(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("synth", help="synthetic sung songs with exact word times (espeak-ng + WORLD + accompaniment)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder (audio/, manifests, summary.json)")
    p.add_argument("-n", "--songs", type=int, default=10, help="number of songs (default: 10)")
    p.add_argument("--language", action="append", default=[], help="language(s) to draw from (default: en); repeatable or comma-separated")
    p.add_argument("--seconds", type=float, default=60.0, help="approximate length of a song (default: 60)")
    p.add_argument("--text", type=Path, default=None, help="lyrics text file to draw lines from (default: built-in word lists)")
    p.add_argument("--dali-dir", type=Path, default=None, help="take melodies (note pitches and durations) from these DALI files")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("-j", "--workers", type=int, default=None, help="processes (default: all CPU cores)")
    p.add_argument("--format", dest="audio_format", choices=("flac", "wav"), default="flac", help="audio format (default: flac)")
    p.add_argument("--jamendo-layout", type=Path, default=None, metavar="DIR", help="also write a JamendoLyrics-layout folder for evaluation")
    p.add_argument("--stems", action="store_true", help="also write the clean vocal of each song (<id>.vocals.<fmt>)")
    p.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from lyricalign.fsutil import check_output_dir

    from .synth.generate import SynthOptions, synthesize_dataset

    for folder in (args.out, args.jamendo_layout):
        if folder is not None:
            check_output_dir(folder)  # before minutes of synthesis, not after
    options = _validated(
        SynthOptions,
        out_dir=args.out,
        n_songs=args.songs,
        languages=tuple(_comma_separated(args.language or ["en"])),
        song_seconds=args.seconds,
        text_file=args.text,
        dali_dir=args.dali_dir,
        seed=args.seed,
        workers=args.workers,
        audio_format=args.audio_format,
        jamendo_dir=args.jamendo_layout,
        write_stems=args.stems,
    )
    summary = synthesize_dataset(options)
    print(summary.format_table())
    print(f"wrote {args.out}")
    return 0
