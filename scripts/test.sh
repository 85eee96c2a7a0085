#!/usr/bin/env bash
# Runs every test: the C++ suite, the Python suite, and the installed-package example (all through CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900 "$@"
