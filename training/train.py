"""``lyricalign train``: fine-tune a Wav2Vec2ForCTC on manifests, checkpoint often, resume, export.

Imports only the stdlib at import time (the CLI loads this module to build its parser).

Runs on the CPU here; on a machine with a GPU, ``--accelerator auto`` picks it and mixed precision
(``16-mixed``, or ``bf16-mixed`` where supported) is used unless ``--precision`` says otherwise.
Checkpoints go to ``OUT/checkpoints`` every ``--checkpoint-every`` steps and at each epoch end;
re-running the same command resumes from ``last.ckpt``. The final model is exported to
``OUT/model.onnx`` (metadata ``trained=true``) with the ONNX parity check.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from .cli import add_model_source, missing_training_extra

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    manifest_dir: Path
    output_dir: Path
    pretrained: str | None = None
    config: str | None = None  # "tiny" or a Wav2Vec2Config JSON (ignored with pretrained)
    name: str = "lyricalign-ctc"
    version: str = "1"
    max_epochs: int = 10
    max_steps: int = -1
    batch_size: int = 8
    learning_rate: float = 1e-4
    warmup_steps: int = 100
    max_segment_seconds: float = 15.0
    accelerator: str = "auto"
    precision: str | None = None  # None: 16-mixed/bf16-mixed on GPU, 32-true on CPU
    checkpoint_every: int = 200
    num_workers: int = 0
    fast_dev_run: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_epochs < 1 or self.checkpoint_every < 1:
            raise ValueError("batch_size, max_epochs and checkpoint_every must be at least 1")


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path | None
    onnx_path: Path | None
    steps: int


def resolve_precision(config: TrainConfig, use_cuda: bool) -> str:
    if config.precision:
        return config.precision
    if not use_cuda:
        return "32-true"
    import torch

    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def train(config: TrainConfig) -> TrainResult:
    """Fit (or resume) the CTC model on ``config.manifest_dir`` and export ``model.onnx`` beside the checkpoints."""
    import lightning as L

    from .export import export_onnx
    from .module import CTCFineTuner, OptimOptions

    L.seed_everything(config.seed, workers=True)
    model, metadata = _initial_model(config)
    loaders = _loaders(config, metadata)
    steps_per_epoch = len(loaders["train"])
    total_steps = config.max_steps if config.max_steps > 0 else steps_per_epoch * config.max_epochs
    optim = OptimOptions(learning_rate=config.learning_rate, warmup_steps=min(config.warmup_steps, total_steps // 10),
                         total_steps=total_steps, freeze_feature_encoder=config.pretrained is not None)
    module = CTCFineTuner(model, metadata.vocabulary, optim)
    trainer, checkpoints = _trainer(config, has_validation="val" in loaders)
    last = config.output_dir / "checkpoints" / "last.ckpt"
    resume = last if last.exists() and not config.fast_dev_run else None
    if resume:
        logger.info("resuming from %s", resume)
    trainer.fit(module, loaders["train"], loaders.get("val"), ckpt_path=resume)
    onnx_path = config.output_dir / "model.onnx"
    report = export_onnx(module.model.cpu().eval(), onnx_path, metadata)
    logger.info("%s", report.summary())
    best = checkpoints.best_model_path or checkpoints.last_model_path
    return TrainResult(checkpoint=Path(best) if best else None, onnx_path=onnx_path, steps=trainer.global_step)


def _initial_model(config: TrainConfig):
    """The model to fine-tune (pretrained, or built from a config) and the metadata its export carries."""
    from lyricalign.acoustic.ctc_metadata import default_units

    from .export import build_model, config_metadata, pretrained_metadata

    if config.pretrained:
        model = build_model(pretrained=config.pretrained)
        return model, pretrained_metadata(config.pretrained, name=config.name, version=config.version)
    model = build_model(config=config.config or "tiny", seed=config.seed)
    return model, config_metadata(model, name=config.name, version=config.version, units=default_units(), trained=True)


def _loaders(config: TrainConfig, metadata) -> dict:
    """``{"train": DataLoader[, "val": DataLoader]}`` from the manifests (validation is optional)."""
    import torch

    from lyricalign.errors import DatasetError

    from .data import SegmentDataset, collate, read_manifest

    loaders = {}
    for split in ("train", "val"):
        manifest = config.manifest_dir / f"{split}.jsonl"
        if split == "val" and not manifest.exists():
            continue
        segments = read_manifest(manifest, config.max_segment_seconds)
        if split == "train" and not segments:
            raise DatasetError(f"{config.manifest_dir / 'train.jsonl'}: no training segments")
        if segments:
            loaders[split] = torch.utils.data.DataLoader(
                SegmentDataset(segments, metadata.vocabulary, normalize=metadata.normalize),
                batch_size=config.batch_size, shuffle=split == "train", collate_fn=collate,
                num_workers=config.num_workers)
    return loaders


def _trainer(config: TrainConfig, has_validation: bool):
    """The Lightning trainer (GPU when asked for and present) and its checkpoint callback."""
    import lightning as L
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    use_cuda = config.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    checkpoints = ModelCheckpoint(dirpath=config.output_dir / "checkpoints", save_last=True,
                                  every_n_train_steps=config.checkpoint_every, save_top_k=1,
                                  monitor="val_loss" if has_validation else None)
    trainer = L.Trainer(accelerator="gpu" if use_cuda else "cpu", devices=1, precision=resolve_precision(config, use_cuda),
                        max_epochs=config.max_epochs, max_steps=config.max_steps, callbacks=[checkpoints],
                        default_root_dir=config.output_dir, fast_dev_run=config.fast_dev_run, log_every_n_steps=10,
                        enable_progress_bar=True)
    return trainer, checkpoints


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="fine-tune a wav2vec2 CTC model on training manifests",
        description="Fine-tune a Wav2Vec2ForCTC (from --pretrained, or from --config) on the manifests written by "
        "`lyricalign data prepare` or `lyricalign data synth`; resumes from OUT/checkpoints/last.ckpt; exports "
        "OUT/model.onnx at the end.",
    )
    p.add_argument("manifest_dir", type=Path, metavar="MANIFEST_DIR", help="folder with train.jsonl (and val.jsonl)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="checkpoints, logs and model.onnx")
    add_model_source(p)
    p.add_argument("--name", default="lyricalign-ctc")
    p.add_argument("--version", default="1")
    p.add_argument("--max-epochs", type=int, default=10)
    p.add_argument("--max-steps", type=int, default=-1)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "gpu"))
    p.add_argument("--precision", default=None, help="Lightning precision (default: 32-true on CPU, mixed on GPU)")
    p.add_argument("--checkpoint-every", type=int, default=200, metavar="STEPS")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--fast-dev-run", action="store_true", help="one batch of train and val: a smoke test")
    p.set_defaults(func=run_train)


def _lightning_logs_through_ours() -> None:
    """Leave Lightning's log records to the CLI's logging set-up.

    Importing the ``lightning`` package adds its own stderr handler to the ``lightning`` logger and
    sets it and ``lightning.fabric`` / ``lightning.pytorch`` to INFO, and records propagate too: under the CLI's root handler every Lightning line
    (``Seed set to 0``, ``GPU available: ...``) printed twice, and even without ``-v``, so a bad
    manifest gave three lines before its one-line error. Without that handler and level, ``-v``
    shows them once and the default shows warnings only, as for every other library.
    """
    for name in ("lightning", "lightning.fabric", "lightning.pytorch"):  # each sets INFO at import
        lightning_logger = logging.getLogger(name)
        for handler in list(lightning_logger.handlers):
            lightning_logger.removeHandler(handler)
        lightning_logger.setLevel(logging.NOTSET)
        lightning_logger.propagate = True


def run_train(args: argparse.Namespace) -> int:
    from lyricalign.errors import LyricalignError
    from lyricalign.fsutil import check_output_dir

    try:
        import lightning  # noqa: F401
    except ImportError as e:
        raise missing_training_extra("train", e) from e
    _lightning_logs_through_ours()
    check_output_dir(args.output)  # before the model is built and the data loaded, not after
    try:
        config = TrainConfig(
            manifest_dir=args.manifest_dir,
            output_dir=args.output,
            pretrained=args.pretrained,
            config=args.config,
            name=args.name,
            version=args.version,
            max_epochs=args.max_epochs,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            accelerator=args.accelerator,
            precision=args.precision,
            checkpoint_every=args.checkpoint_every,
            num_workers=args.num_workers,
            fast_dev_run=args.fast_dev_run,
        )
    except ValueError as e:
        raise LyricalignError(str(e)) from e
    result = train(config)
    print(f"trained {result.steps} steps; model: {result.onnx_path}; checkpoint: {result.checkpoint}")
    return 0
