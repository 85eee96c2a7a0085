#!/usr/bin/env bash
# Installs the built package into a scratch prefix, builds examples/cpp against it with find_package(iccrt),
# and runs the examples (which check their own results: tensor_basics its numbers, train_gpt that its held-out
# loss falls below the text's unigram entropy).
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
# A short GPT run (about 20 s on two cores). Passive OpenMP waiting keeps it from stalling when other processes
# hold the cores (docs/benchmarks.md, "Threading on a shared machine").
OMP_WAIT_POLICY=passive "$EXB/train_gpt" "$SRC_DIR/examples/gpt/data/input.txt" --steps 120 --log-every 20 --sample 0
