#!/usr/bin/env bash
# Regenerates src/import/onnx/gen/ (TypeScript for the ONNX protobuf schema)
# from the pinned src/import/onnx/onnx.proto. Works offline: buf compiles the
# schema itself and runs the protoc-gen-es from node_modules (see buf.gen.yaml).
# The generated code is committed; run this only after changing the schema or
# upgrading @bufbuild/protoc-gen-es, then commit the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
npx --no-install buf generate --template scripts/onnx/buf.gen.yaml
npx --no-install tsc -p tsconfig.json --noEmit
