#!/usr/bin/env bash
# One idempotent set-up step: Debian packages, the Python test venv, and the build.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

debs=(build-essential cmake ninja-build pkg-config xz-utils
      libprotobuf-dev protobuf-compiler libonnx-dev
      libfmt-dev libcli11-dev nlohmann-json3-dev libstb-dev libxxhash-dev
      llvm-15-dev
      ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
      libgtest-dev libgmock-dev libbenchmark-dev
      clang-format python3-venv python3-dev)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python tools used only by tests and benchmarks (reference outputs from ONNX Runtime).
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating Python venv in .venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import numpy, onnx, onnxruntime, pytest" 2>/dev/null; then
  echo "setup: installing numpy, onnx, onnxruntime, pytest into .venv"
  "$venv/bin/pip" install -q --disable-pip-version-check numpy onnx onnxruntime pytest
fi
# nanobind: the build makes the Python module (python/) with it when the venv has it.
if ! "$venv/bin/python" -c "import nanobind" 2>/dev/null; then
  echo "setup: installing nanobind into .venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "nanobind>=2.4"
fi
# OpenVINO: bench/bench.py's second CPU peer (benchmarks only; no test needs it).
if ! "$venv/bin/python" -c "import openvino" 2>/dev/null; then
  echo "setup: installing openvino into .venv"
  "$venv/bin/pip" install -q --disable-pip-version-check openvino
fi

[ "${1:-}" = "--no-build" ] && exit 0
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build"
