#!/usr/bin/env bash
# Set-up (packages, venv, build) and the main job on the bundled model: inspect it, then run it
# on the reference interpreter and write its output as .npy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
model="${1:-$root/models/yolox_nano.onnx}"
out="$root/build/demo"
"$root/build/kiln" inspect "$model"
echo
"$root/build/kiln" run "$model" --backend reference --output-dir "$out"
