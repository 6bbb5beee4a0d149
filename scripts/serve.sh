#!/usr/bin/env bash
# Start the lyricalign HTTP service (and, with --grpc, the gRPC gateway next to it) on 127.0.0.1.
#
#   scripts/serve.sh [--port 3000] [--grpc-port 50051] [--grpc] [--model OUT.onnx]
#
# If the BentoML model store has no `lyricalign-ctc` model yet, one is imported first: the ONNX
# file given with --model (or $LYRICALIGN_ONNX), else a tiny *untrained* model made with
# `lyricalign export --config tiny` (GET /info then reports "trained": false). Limits are read
# from LYRICALIGN_* variables (docs/service.md). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BENTOML=${BENTOML:-.venv/bin/bentoml}
PORT=3000
GRPC_PORT=50051
WITH_GRPC=0
ONNX=${LYRICALIGN_ONNX:-}
MODEL_NAME=lyricalign-ctc
while (($#)); do
  case "$1" in
    --port) PORT=$2; shift 2 ;;
    --grpc-port) GRPC_PORT=$2; shift 2 ;;
    --grpc) WITH_GRPC=1; shift ;;
    --model) ONNX=$2; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "serve: unknown option $1" >&2; exit 2 ;;
  esac
done

if ! "$BENTOML" models get "$MODEL_NAME:latest" >/dev/null 2>&1; then
  if [ -z "$ONNX" ]; then
    ONNX=${LYRICALIGN_CACHE:-$HOME/.cache/lyricalign}/tiny-untrained.onnx
    mkdir -p "$(dirname "$ONNX")"
    [ -f "$ONNX" ] || "$PY" -m lyricalign.cli export --config tiny --name tiny --version 0 -o "$ONNX"
  fi
  echo "serve: importing $ONNX into the BentoML model store" >&2
  "$PY" -m training.register "$ONNX" --name "$MODEL_NAME"
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap cleanup EXIT INT TERM

"$BENTOML" serve service.service:LyricAlign --host 127.0.0.1 --port "$PORT" &
pids+=($!)
if ((WITH_GRPC)); then
  "$PY" -m service.grpc_server --host 127.0.0.1 --port "$GRPC_PORT" --http-url "http://127.0.0.1:$PORT" &
  pids+=($!)
fi
wait -n "${pids[@]}"
