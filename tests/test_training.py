"""Lightning fine-tuning smoke tests on a tiny model and a generated manifest (fast_dev_run, resume, export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("lightning")

from conftest import tone  # noqa: E402
from lyricalign.errors import DatasetError  # noqa: E402
from lyricalign.acoustic.ctc_model import AcousticModel  # noqa: E402
from lyricalign.training.data import IGNORE_LABEL, collate, read_manifest  # noqa: E402
from lyricalign.training.module import edit_distance  # noqa: E402
from lyricalign.training.train import TrainConfig, train  # noqa: E402


@pytest.fixture
def manifest_dir(tmp_path: Path) -> Path:
    audio = tmp_path / "song.wav"
    sf.write(audio, np.concatenate([tone(2.0, f) for f in (220, 330, 440, 550)]), 16_000)
    texts = ["la la", "hello world", "ça va", "forty two"]
    for split, picks in (("train", range(4)), ("val", range(2))):
        records = [
            {"audio": audio.name, "start": 2.0 * i, "end": 2.0 * i + 2.0, "text": texts[i], "language": "en"}
            for i in picks
        ]
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp_path


def test_manifest_reading_and_collation(manifest_dir: Path):
    segments = read_manifest(manifest_dir / "train.jsonl")
    assert [s.text for s in segments][:2] == ["la la", "hello world"]
    assert segments[0].audio == manifest_dir / "song.wav"
    import torch

    batch = collate([(torch.ones(5), torch.tensor([1, 2])), (torch.ones(3), torch.tensor([3]))])
    assert batch["input_values"].shape == (2, 5) and batch["attention_mask"][1].tolist() == [1, 1, 1, 0, 0]
    assert batch["labels"].tolist() == [[1, 2], [3, IGNORE_LABEL]]


def test_manifest_errors_are_user_errors(tmp_path: Path):
    bad = tmp_path / "train.jsonl"
    bad.write_bytes(b'{"audio": "a.wav", "text": "caf\xe9"}\n')
    with pytest.raises(DatasetError, match=r"train.jsonl: manifest must be UTF-8 JSON lines \(invalid byte at offset 31\)"):
        read_manifest(bad)
    bad.write_text('{"audio": "a.wav", "start": 0}\n')
    with pytest.raises(DatasetError, match=r"train.jsonl:1: malformed record \(KeyError: 'text'\)$"):
        read_manifest(bad)


def test_cli_rejects_bad_options_in_one_line(manifest_dir: Path, tmp_path: Path, capsys):
    from lyricalign.cli import main

    assert main(["train", str(manifest_dir), "-o", str(tmp_path / "out"), "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == (
        "lyricalign: error: batch_size, max_epochs and checkpoint_every must be at least 1\n"
    )


def test_edit_distance():
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance([], [4, 5]) == 2


@pytest.mark.slow
def test_fast_dev_run_trains_and_exports_a_servable_model(manifest_dir: Path, tmp_path: Path):
    result = train(TrainConfig(manifest_dir, tmp_path / "out", config="tiny", batch_size=2, fast_dev_run=True))
    model = AcousticModel(result.onnx_path)
    assert model.metadata.trained is True
    assert model.log_probs(tone(1.0)).shape[1] == len(model.metadata.units)


@pytest.mark.slow
def test_val_manifest_is_optional(manifest_dir: Path, tmp_path: Path):
    (manifest_dir / "val.jsonl").unlink()
    result = train(TrainConfig(manifest_dir, tmp_path / "out", config="tiny", batch_size=2, fast_dev_run=True))
    assert result.onnx_path is not None and result.onnx_path.is_file()


@pytest.mark.slow
def test_checkpoints_resume(manifest_dir: Path, tmp_path: Path, caplog):
    out = tmp_path / "run"
    first = train(TrainConfig(manifest_dir, out, config="tiny", batch_size=2, max_steps=2, checkpoint_every=1))
    assert first.steps == 2 and (out / "checkpoints" / "last.ckpt").exists()
    caplog.set_level("INFO")
    second = train(TrainConfig(manifest_dir, out, config="tiny", batch_size=2, max_steps=4, checkpoint_every=1))
    assert "resuming from" in caplog.text
    assert second.steps == 4
