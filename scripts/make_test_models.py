"""Regenerate the tiny CTC models the tests use (tests/data/ctc-tiny.onnx, ctc-local.onnx); needs torch.

    python scripts/make_test_models.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the fixtures' names and layer count live beside the tests

from _model_utils import FIXTURES, export_fixture  # noqa: E402


def main() -> int:
    for kind, path in FIXTURES.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(export_fixture(kind, path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
