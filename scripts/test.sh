#!/usr/bin/env bash
# Set-up (packages, venv, build) and the whole test suite. This is what CI runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root/build"
ctest --output-on-failure -j2 "$@"
