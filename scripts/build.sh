#!/usr/bin/env bash
# Configures and builds Gridflow into build/ (or $GRIDFLOW_BUILD_DIR) with Ninja.
# Arguments are target names (default: everything, tests included). Configure options can be
# passed in GRIDFLOW_CMAKE_ARGS, e.g. GRIDFLOW_CMAKE_ARGS=-DGRIDFLOW_SANITIZE=ON.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${GRIDFLOW_BUILD_DIR:-$ROOT/build}
BUILD_TYPE=${GRIDFLOW_BUILD_TYPE:-RelWithDebInfo}

# ccache hits across fresh clones only with a base dir and without hashing the build dir.
export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=1
LAUNCHER=()
if command -v ccache >/dev/null; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

# shellcheck disable=SC2086
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${LAUNCHER[@]}" \
  -DGRIDFLOW_BUILD_TESTS=ON ${GRIDFLOW_CMAKE_ARGS:-} >/dev/null
TARGETS=()
for target in "$@"; do TARGETS+=(--target "$target"); done
cmake --build "$BUILD_DIR" --parallel "$(nproc)" "${TARGETS[@]}"
