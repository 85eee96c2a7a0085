#!/usr/bin/env bash
# Installs the built package into a scratch prefix, builds examples/cpp against it with find_package(iccrt),
# and runs the example (which checks its own results).
set -euo pipefail
BUILD_DIR="$1"; SRC_DIR="$2"
PREFIX="$BUILD_DIR/_install_test/prefix"
EXB="$BUILD_DIR/_install_test/example"
rm -rf "$PREFIX"
cmake --install "$BUILD_DIR" --prefix "$PREFIX" >/dev/null
test -f "$PREFIX/lib/cmake/iccrt/iccrtConfig.cmake" || { echo "iccrtConfig.cmake not installed"; exit 1; }
test -f "$PREFIX/include/iccrt/iccrt.hpp" || { echo "headers not installed"; exit 1; }
cmake -S "$SRC_DIR/examples/cpp" -B "$EXB" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$EXB" -j 2 >/dev/null
"$EXB/tensor_basics"
