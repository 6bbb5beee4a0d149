#!/usr/bin/env bash
# Regenerate the committed gRPC stubs (service/grpc_gen/) from service/proto/lyricalign.proto.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m grpc_tools.protoc -I service/proto --python_out=service/grpc_gen --pyi_out=service/grpc_gen \
  --grpc_python_out=service/grpc_gen service/proto/lyricalign.proto
# grpc_tools writes "import lyricalign_pb2"; make it package-relative.
sed -i 's/^import lyricalign_pb2 as/from . import lyricalign_pb2 as/' service/grpc_gen/lyricalign_pb2_grpc.py
echo "gen_proto: wrote service/grpc_gen/" >&2
