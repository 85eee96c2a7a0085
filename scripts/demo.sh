#!/usr/bin/env bash
# The main job, today: a tour of the tensor API, a short char-level GPT training from Python, then the kernel
# benchmark with its same-run ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
python3 examples/python/tour.py
echo
echo "== GPT, char-level, a short training run (examples/gpt/train.py; more steps: --steps N) =="
python3 examples/gpt/train.py --steps 150 --eval-every 50
echo
echo "== kernel benchmark (short run; 'make bench' runs the full one) =="
python3 benchmarks/report_kernels.py --bench "$BUILD_DIR/benchmarks/iccrt_kernel_bench" --quick
