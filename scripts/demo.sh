#!/usr/bin/env bash
# The README's demo: builds examples/quickstart.cpp with the release preset and runs it.
#
#   bash scripts/demo.sh [arguments for quickstart]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

if [[ ! -f build/release/CMakeCache.txt || ! -f build/release/build.ninja || CMakePresets.json -nt build/release/CMakeCache.txt ]]; then
    cmake --preset release
fi
cmake --build --preset release --target quickstart -j "${SLUICE_JOBS:-2}"
exec ./build/release/examples/quickstart "$@"
