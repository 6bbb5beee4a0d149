"""The LightningModule that fine-tunes a ``Wav2Vec2ForCTC`` with the CTC loss.

The plain ``nn.Module`` (``self.model``) is what gets exported to ONNX and served; this wrapper
only adds the optimisation loop, logging and validation metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch

from lyricalign.text import Vocabulary


@dataclass(frozen=True)
class OptimOptions:
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    total_steps: int = 10_000  # linear decay to 0 over this many steps after warm-up
    freeze_feature_encoder: bool = True  # the conv stack of a pretrained model rarely needs tuning

    def __post_init__(self) -> None:
        if self.learning_rate <= 0 or self.warmup_steps < 0 or self.total_steps <= 0:
            raise ValueError("learning_rate and total_steps must be positive, warmup_steps non-negative")


class CTCFineTuner(L.LightningModule):
    def __init__(self, model: torch.nn.Module, vocabulary: Vocabulary, optim: OptimOptions = OptimOptions()) -> None:
        super().__init__()
        self.model = model.train()  # build_model returns eval mode; dropout/masking matter for training
        self.vocabulary = vocabulary
        self.optim = optim
        if optim.freeze_feature_encoder:
            model.freeze_feature_encoder()

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) waveform -> (B, F, C) logits."""
        return self.model(input_values, attention_mask=attention_mask).logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        self.log("train_loss", loss, prog_bar=True, batch_size=batch["input_values"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        out = self.model(**batch)
        size = batch["input_values"].shape[0]
        self.log("val_loss", out.loss, prog_bar=True, batch_size=size)
        self.log("val_cer", greedy_cer(out.logits, batch["labels"], self.vocabulary.blank_id), batch_size=size)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.optim.learning_rate, weight_decay=self.optim.weight_decay)
        warmup, total = self.optim.warmup_steps, self.optim.total_steps

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def greedy_cer(logits: torch.Tensor, labels: torch.Tensor, blank: int) -> torch.Tensor:
    """Character error rate of best-path decoding: (B, F, C) logits vs (B, S) labels padded with -100."""
    best = logits.argmax(dim=-1)
    errors, total = 0, 0
    for hyp_frames, ref in zip(best.tolist(), labels.tolist()):
        hyp = [c for i, c in enumerate(hyp_frames) if c != blank and (i == 0 or c != hyp_frames[i - 1])]
        ref = [c for c in ref if c >= 0]
        errors += edit_distance(hyp, ref)
        total += len(ref)
    return torch.tensor(errors / max(1, total), dtype=torch.float32)


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance (one row at a time)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]
