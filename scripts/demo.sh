#!/usr/bin/env bash
# Set-up (packages, venv, build) and the main job: detect objects with the bundled YOLOX-Nano
# (compiled by Kiln for this CPU) in the shipped COCO images. Annotated pictures go to
# build/demo/, the detections to stdout. Another model or images: demo.sh MODEL IMAGE|DIR...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
model="${1:-$root/models/yolox_nano.onnx}"
shift || true
if [ $# -eq 0 ]; then
  set -- "$root/assets"
fi
out="$root/build/demo"
"$root/build/kiln" inspect "$model" | tail -n 3
echo
"$root/build/kiln" detect "$model" "$@" -o "$out"
