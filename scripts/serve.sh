#!/usr/bin/env bash
# Start the lyricalign HTTP service (and, with --grpc, the gRPC gateway next to it) on 127.0.0.1.
#
#   scripts/serve.sh [--port 3000] [--grpc-port 50051] [--grpc] [--model OUT.onnx]
#
# The acoustic checkpoint of the default `hmm` method is registered if the BentoML model store lacks
# it. With --model (or $LYRICALIGN_ONNX) a trained CTC model is imported too and served for the
# `ctc` method. Limits are read from LYRICALIGN_* variables (docs/service.md). Ctrl-C stops everything.
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

# The default engine's acoustic checkpoint (scripts/setup.sh registers it; this is a no-op then).
"$PY" -m lyricalign.cli models install-acoustic --register >/dev/null
if [ -n "$ONNX" ]; then  # a trained CTC model for the ctc method
  echo "serve: importing $ONNX into the BentoML model store" >&2
  export LYRICALIGN_MODEL_TAG
  LYRICALIGN_MODEL_TAG=$("$PY" -m lyricalign.training.register "$ONNX" --name "$MODEL_NAME" | tail -1)
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap cleanup EXIT INT TERM

"$BENTOML" serve service.service:LyricAlign --host 127.0.0.1 --port "$PORT" &
pids+=($!)
if ((WITH_GRPC)); then
  "$PY" -m lyricalign.service.grpc_server --host 127.0.0.1 --port "$GRPC_PORT" --http-url "http://127.0.0.1:$PORT" &
  pids+=($!)
fi
wait -n "${pids[@]}"
