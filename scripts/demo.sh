#!/usr/bin/env bash
# The main job, today: a tour of the tensor API from Python, then the kernel benchmark with its same-run ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
python3 examples/python/tour.py
echo
echo "== kernel benchmark (short run; 'make bench' runs the full one) =="
python3 benchmarks/report_kernels.py --bench "$BUILD_DIR/benchmarks/iccrt_kernel_bench" --quick
