#!/usr/bin/env bash
# Configures (once) and builds iccrt into $BUILD_DIR (default build/). Extra CMake options: ICCRT_CMAKE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
JOBS="${JOBS:-$(nproc)}"
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  echo "[build] configuring $BUILD_DIR"
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v python3)" \
    ${ICCRT_CMAKE_ARGS:-} >"$BUILD_DIR.configure.log" 2>&1 || { cat "$BUILD_DIR.configure.log"; exit 1; }
  grep "iccrt:" "$BUILD_DIR.configure.log" || true
fi
# Quiet when there is nothing to do; full compiler output when something fails.
if ! cmake --build "$BUILD_DIR" -j "$JOBS" >"$BUILD_DIR.build.log" 2>&1; then
  grep -E "error|Error" -A3 "$BUILD_DIR.build.log" | head -80
  echo "[build] failed; full log: $BUILD_DIR.build.log"
  exit 1
fi
echo "[build] ok ($BUILD_DIR)"
