#!/usr/bin/env bash
# Install everything lyricalign needs on a fresh Debian/Ubuntu machine: system packages (ffmpeg,
# espeak-ng), a virtualenv in .venv, the CPU build of torch pinned first, then the package with
# every extra. Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
APT_PACKAGES=(ffmpeg espeak-ng libespeak-ng1 praat build-essential python3-dev)
# praat: tests check our TextGrids in Praat itself; build-essential, python3-dev: the C kernels (setup.py)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing system packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: this version is the local CPU build; anything else pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[all]"
# setup.py marks the C kernels optional (an install without a compiler falls back to numba); here they must build.
.venv/bin/python -c "import lyricalign.native as n, sys; sys.exit(n.LIBRARY is None)" || {
  echo "setup: the C kernels (lyricalign/_kernels.c) did not build: they need a C compiler and the Python headers of $PYTHON" >&2; exit 1; }
# Byte-compile the editable sources now, as pip does for an installed wheel: with
# PYTHONDONTWRITEBYTECODE set, every CLI run would otherwise recompile them (~0.15 s per run).
.venv/bin/python -m compileall -q lyricalign service training data_pipeline loadtests >/dev/null
# The default engine's pretrained acoustic checkpoint: exported to ONNX, installed, and registered in
# the BentoML model store so that plain `bentoml serve` works right away (skipped when up to date).
.venv/bin/lyricalign models install-acoustic --register >&2
echo "setup: done ($(.venv/bin/lyricalign --version))" >&2
