"""wav2vec2 -> ONNX export with parity check, pretrained checkpoints, and the export/models CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the training extra; the core tests never need it
pytest.importorskip("transformers")

from lyricalign.cli import main  # noqa: E402
from lyricalign.errors import ModelError  # noqa: E402
from lyricalign.acoustic.ctc_metadata import default_units, read_metadata  # noqa: E402
from lyricalign.acoustic.ctc_model import AcousticModel  # noqa: E402
from lyricalign.training.export import (  # noqa: E402
    PARITY_TOLERANCE,
    TINY_CONFIG,
    _torch_export,
    build_model,
    config_metadata,
    export_onnx,
    parity_check,
    pretrained_metadata,
)


@pytest.fixture(scope="module")
def tiny():
    return build_model(config="tiny", seed=0)


def test_export_passes_parity_and_embeds_metadata(tiny, tmp_path: Path) -> None:
    metadata = config_metadata(tiny, name="tiny", version="3")
    out = tmp_path / "out" / "tiny.onnx"
    report = export_onnx(tiny, out, metadata)
    assert report.checked and report.passed and report.problems == ()
    assert report.max_abs_diff < 1e-4 <= PARITY_TOLERANCE
    assert report.lengths == (16_000, 25_600) and report.frames == (49, 79) and report.measured_stride == 320
    assert read_metadata(out) == metadata and AcousticModel(out).metadata.tag == "tiny@3"
    assert [p.name for p in out.parent.iterdir()] == ["tiny.onnx"]  # no temporary left behind
    assert "parity: max |onnxruntime - torch| =" in report.summary() and report.summary().endswith(": ok")


def test_wrong_frame_stride_is_reported_and_nothing_written(tiny, tmp_path: Path) -> None:
    wrong = replace(config_metadata(tiny, name="tiny", version="0"), frame_stride=160)
    out = tmp_path / "wrong.onnx"
    with pytest.raises(ModelError, match="metadata frame_stride 160 but the model advances one frame every 320 samples"):
        export_onnx(tiny, out, wrong)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_parity_check_detects_a_model_that_differs_from_the_export(tiny) -> None:
    other = build_model(config="tiny", seed=1)
    metadata = config_metadata(tiny, name="tiny", version="0")
    report = parity_check(other, _torch_export(tiny, 17), metadata)
    assert not report.passed and report.max_abs_diff > PARITY_TOLERANCE
    assert any("exceeds 1e-03" in p for p in report.problems)


def test_unit_count_must_match_the_output_layer(tiny, tmp_path: Path) -> None:
    metadata = replace(config_metadata(tiny, name="tiny", version="0"), units=default_units()[:10])
    with pytest.raises(ModelError, match="model has 59 output classes but the metadata lists 10 units"):
        export_onnx(tiny, tmp_path / "x.onnx", metadata)


def test_config_from_json_file_and_bad_configs(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TINY_CONFIG, "hidden_size": 32, "num_hidden_layers": 1}))
    model = build_model(config=str(path))
    assert (model.config.hidden_size, model.config.num_hidden_layers, model.config.vocab_size) == (32, 1, 59)
    with pytest.raises(ModelError, match="config 'huge' is neither a preset"):
        build_model(config="huge")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match=r"list\.json: config must be a JSON object"):
        build_model(config=str(tmp_path / "list.json"))
    with pytest.raises(ModelError, match="cannot load pretrained model"):
        build_model(pretrained=str(tmp_path))  # a folder without a checkpoint


@pytest.mark.parametrize("offline", [False, True])
def test_a_hub_name_with_the_hub_unreachable_fails_at_once_from_the_cache(monkeypatch, offline: bool) -> None:
    """Not cached and no hub (a closed port, or HF_HUB_OFFLINE): one ModelError, no retries and warnings."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    with pytest.raises(ModelError, match="'no-such-owner/no-such-model': not in the Hugging Face cache, "
                                         "and the hub is unreachable"):
        build_model(pretrained="no-such-owner/no-such-model")


def test_the_hub_counts_as_reachable_through_a_configured_proxy(monkeypatch) -> None:
    """Behind a proxy the hub's own address is not reachable directly; the proxy is what must answer."""
    import socket

    from huggingface_hub import constants

    from lyricalign.training.export import _hub_reachable

    monkeypatch.setattr(constants, "ENDPOINT", "http://hub.invalid")  # never resolves
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with socket.create_server(("127.0.0.1", 0)) as proxy:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        assert _hub_reachable()
    monkeypatch.delenv("http_proxy")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    assert not _hub_reachable()


def test_pretrained_checkpoint_folder_exports_as_trained(tiny, tmp_path: Path) -> None:
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    checkpoint = tmp_path / "checkpoint"
    tiny.save_pretrained(checkpoint)
    vocab = checkpoint / "vocab.json"
    vocab.write_text(json.dumps({u: i for i, u in enumerate(default_units())}), encoding="utf-8")
    Wav2Vec2CTCTokenizer(
        str(vocab), pad_token="<pad>", unk_token="<pad>", word_delimiter_token="|", bos_token=None, eos_token=None
    ).save_pretrained(checkpoint)
    Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(checkpoint)

    model = build_model(pretrained=str(checkpoint))
    metadata = pretrained_metadata(str(checkpoint), name="ckpt", version="1")
    assert metadata.units == default_units() and metadata.blank_id == 0 and metadata.word_delimiter == "|"
    assert metadata.trained is True and metadata.normalize is False
    report = export_onnx(model, tmp_path / "ckpt.onnx", metadata)
    assert report.passed


def test_cli_export_install_list_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("LYRICALIGN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LYRICALIGN_MODEL", raising=False)
    out = tmp_path / "cli.onnx"
    assert main(["export", "--config", "tiny", "-o", str(out), "--version", "2", "--languages", "en,Spanish"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"wrote {out} (cli@2, 59 units, trained=false)"
    assert printed[1].startswith("parity: max |onnxruntime - torch| = ") and printed[1].endswith(": ok")

    assert main(["models", "path"]) == 2
    assert capsys.readouterr().err.strip() == (
        "lyricalign: error: no CTC model installed (method ctc needs one; the default method, hmm, does not): "
        "pass --model PATH, or install one with `lyricalign models install PATH`"
    )
    assert main(["models", "install", str(out)]) == 0
    installed = Path(capsys.readouterr().out.strip())
    assert installed == tmp_path / "home" / "models" / "cli-2.onnx" and installed.is_file()
    assert main(["models", "path", "cli@2"]) == 0 and capsys.readouterr().out.strip() == str(installed)
    assert main(["models", "list"]) == 0
    assert capsys.readouterr().out.split()[:4] == ["cli@2", "ctc", "untrained", "en,es"]


def test_cli_export_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["export", "--config", str(tmp_path / "none.json"), "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lyricalign: error: config ")
    assert not (tmp_path / "x.onnx").exists()


def test_cli_models_register_adds_the_model_to_bentoml(tmp_path: Path) -> None:
    pytest.importorskip("bentoml")
    from _model_utils import make_tiny_onnx_model
    from lyricalign.training.register import DEFAULT_NAME

    model = make_tiny_onnx_model(tmp_path)
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "LYRICALIGN_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "lyricalign.cli", "models", "register", str(model)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    tag = proc.stdout.strip()
    name, version = tag.split(":")
    assert name == DEFAULT_NAME and (tmp_path / "bentoml" / "models" / name / version).is_dir()


@pytest.mark.parametrize("kind", ["tiny", "local"])
def test_committed_test_models_are_what_the_exporter_makes(kind: str, tmp_path: Path) -> None:
    """tests/data/ctc-*.onnx (the torch-free tests' models) equal a fresh export: same metadata, same logits."""
    import numpy as np
    import onnxruntime as ort

    from _model_utils import FIXTURES, export_fixture

    fresh = export_fixture(kind, tmp_path / f"{kind}.onnx")
    assert read_metadata(fresh) == read_metadata(FIXTURES[kind])
    audio = np.random.default_rng(0).normal(0, 0.1, (1, 16000)).astype(np.float32)

    def logits(path: Path) -> np.ndarray:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: audio})[0]

    np.testing.assert_allclose(logits(fresh), logits(FIXTURES[kind]), atol=1e-5)
