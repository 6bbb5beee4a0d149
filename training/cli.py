"""``lyricalign export`` and ``lyricalign models ...``: make ONNX acoustic models and manage installed ones.

Imports only the stdlib at import time (the CLI loads every plugin to build its parser); torch and
transformers load only when ``export`` runs, and ``models`` never needs them.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

TRAIN_EXTRA_HINT = "install the training extra: pip install 'lyricalign[train]' (torch==2.13.0 CPU first, see README)"


def register(subparsers: argparse._SubParsersAction) -> None:
    _add_export(subparsers)
    _add_models(subparsers)


def add_model_source(p: argparse.ArgumentParser) -> None:
    """``--pretrained NAME_OR_PATH | --config tiny|PATH``: where ``export`` and ``train`` get their model."""
    source = p.add_mutually_exclusive_group()
    source.add_argument("--pretrained", metavar="NAME_OR_PATH", help="a Wav2Vec2ForCTC checkpoint folder (or hub name, if cached)")
    source.add_argument("--config", metavar="tiny|PATH", help="'tiny' or a Wav2Vec2Config JSON file, randomly initialised (default: tiny)")


def missing_training_extra(command: str, error: ImportError) -> Exception:
    """The user error for ``command`` run without the training extra installed (raise it ``from error``)."""
    from lyricalign.errors import LyricalignError

    return LyricalignError(f"{command} needs {error.name}: {TRAIN_EXTRA_HINT}")


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a wav2vec2 CTC model to ONNX (with a parity check)",
        description="Build a wav2vec2 CTC model from a checkpoint or a config and export it to ONNX, "
        "with its lyricalign metadata embedded. Without --pretrained a randomly initialised model is "
        "exported (marked untrained: useful for tests and as a starting point, not for alignment).",
    )
    add_model_source(p)
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.onnx", help="output file (written atomically)")
    p.add_argument("--name", default=None, help="model name (default: the output file's stem)")
    p.add_argument("--version", default="0", help="model version (default: 0)")
    p.add_argument("--languages", default=None, metavar="CODES", help="languages the model is for, e.g. en,es (default: all supported)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 17)")
    p.add_argument("--no-parity", action="store_true", help="skip the onnxruntime-vs-torch parity check")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from lyricalign.fsutil import check_output_path

    check_output_path(args.output)  # before the model is built and exported, not after
    try:
        from . import export
    except ImportError as e:
        raise missing_training_extra("export", e) from e

    name = args.name or args.output.stem
    if args.pretrained:
        model = export.build_model(pretrained=args.pretrained)
        metadata = export.pretrained_metadata(args.pretrained, name=name, version=args.version)
    else:
        model = export.build_model(config=args.config or "tiny")
        metadata = export.config_metadata(model, name=name, version=args.version)
    if args.languages:
        from dataclasses import replace

        from lyricalign.text import normalize_language

        languages = tuple(dict.fromkeys(normalize_language(code) for code in args.languages.split(",") if code.strip()))
        metadata = replace(metadata, languages=languages)
    report = export.export_onnx(
        model, args.output, metadata, opset=args.opset or export.DEFAULT_OPSET, check_parity=not args.no_parity
    )
    print(f"wrote {args.output} ({metadata.tag}, {len(metadata.units)} units, trained={str(metadata.trained).lower()})")
    print(report.summary())
    return 0


def _add_models(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models", help="installed acoustic models: list, install, path, register",
        description="Manage the acoustic models in $LYRICALIGN_HOME/models (default ~/.cache/lyricalign/models).",
    )
    commands = p.add_subparsers(dest="models_command", metavar="MODELS_COMMAND")
    commands.required = True
    commands.add_parser("list", help="list installed models, newest first").set_defaults(func=run_models_list)
    install = commands.add_parser("install", help="validate an ONNX model and copy it into the models folder")
    install.add_argument("path", type=Path, metavar="PATH", help="the .onnx file")
    install.set_defaults(func=run_models_install)
    path = commands.add_parser("path", help="print the path of a CTC model (default: the one `align --method ctc` "
                               "would use; the hmm checkpoints' folders are in `models list`)")
    path.add_argument("model", nargs="?", default=None, metavar="NAME_OR_PATH", help="an installed name, name@version or file")
    path.set_defaults(func=run_models_path)
    acoustic = commands.add_parser(
        "install-acoustic", help="export the pretrained acoustic checkpoint and install it (the default engine's model)",
        description="Export pocketsphinx's pretrained en-us model as lyricalign's versioned ONNX checkpoint, install "
        "it in the models folder and (with --register, when BentoML is installed) in the BentoML model store. "
        "Does nothing when the same version is already installed.",
    )
    acoustic.add_argument("--register", action="store_true", help="also register it in the BentoML model store")
    acoustic.set_defaults(func=run_models_install_acoustic)
    register_cmd = commands.add_parser("register", help="add a model to the BentoML model store (for the service)")
    register_cmd.add_argument("path", nargs="?", default=None, metavar="PATH", help="an .onnx file or installed name (default: the default model)")
    register_cmd.set_defaults(func=run_models_register)


def run_models_list(args: argparse.Namespace) -> int:
    from lyricalign.acoustic.checkpoint import default_checkpoint_folder, installed_checkpoints, load_checkpoint
    from lyricalign.errors import ModelError
    from lyricalign.model_store import default_model_path, list_models, models_dir

    checkpoints = installed_checkpoints()
    try:
        default_acoustic = default_checkpoint_folder().resolve() if checkpoints else None
    except ModelError:
        default_acoustic = None
    for folder in checkpoints:  # the hmm engine's (the default engine's) checkpoints, newest first
        marker = "*" if default_acoustic == folder.resolve() else " "
        try:
            tag = load_checkpoint(folder).info.tag
        except ModelError as e:
            tag = f"unreadable ({e})"
        print(f"{marker} {tag:<34} hmm {folder}")
    installed = list_models()
    if not installed and not checkpoints:
        print(f"no models installed in {models_dir()}")
        return 0
    default = default_model_path()
    for model in installed:
        marker = "*" if default is not None and model.path == default else " "
        trained = "trained" if model.metadata.trained else "untrained"
        print(f"{marker} {model.tag:<34} ctc {trained:<9} {','.join(model.metadata.languages):<18} {model.path}")
    return 0


def run_models_install(args: argparse.Namespace) -> int:
    from lyricalign.model_store import install_model

    print(install_model(args.path))
    return 0


def run_models_path(args: argparse.Namespace) -> int:
    from lyricalign.model_store import require_model

    print(require_model(args.model))
    return 0


def run_models_install_acoustic(args: argparse.Namespace) -> int:
    import tempfile

    from lyricalign.acoustic.checkpoint import INFO_FILE, acoustic_dir, install_checkpoint, load_checkpoint

    try:
        from .acoustic_export import checkpoint_version, export_checkpoint
    except ModuleNotFoundError as e:
        from lyricalign.errors import LyricalignError

        raise LyricalignError(f"install-acoustic needs {e.name}: pip install 'lyricalign[acoustic]'") from e

    version = checkpoint_version()
    target = next((p for p in acoustic_dir().glob(f"*-{version}") if (p / INFO_FILE).is_file()), None) \
        if acoustic_dir().is_dir() else None
    if target is None:
        with tempfile.TemporaryDirectory() as tmp:
            report = export_checkpoint(Path(tmp) / "checkpoint", version=version)
            logger.info("%s", report.summary())
            target = install_checkpoint(report.folder)
    print(f"{load_checkpoint(target).info.tag} {target}")
    if args.register:
        from .register import register_acoustic

        print(register_acoustic(target))
    return 0


def run_models_register(args: argparse.Namespace) -> int:
    from lyricalign.errors import LyricalignError
    from lyricalign.model_store import require_model

    path = require_model(args.path)
    try:
        from .register import register_model

        tag = register_model(path)  # imports bentoml
    except ModuleNotFoundError as e:
        raise LyricalignError(f"register needs {e.name}: pip install 'lyricalign[service]'") from e
    print(tag)
    return 0

