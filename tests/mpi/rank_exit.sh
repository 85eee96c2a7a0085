#!/usr/bin/env bash
# A rank that exits mid-job: the job must end (no hang), non-zero, and say which rank went away.
# Usage: rank_exit.sh MPIEXEC TEST_BINARY
set -uo pipefail
start=$(date +%s)
out=$(ICCRT_TEST_RANK_EXIT=1 ICCRT_TIMEOUT=60 timeout 120 "$1" --oversubscribe -np 3 "$2" --gtest_filter='Mpi.RankExit' 2>&1)
rc=$?
elapsed=$(( $(date +%s) - start ))
echo "$out" | tail -30
echo "[rank_exit] exit status $rc after ${elapsed}s"
if [[ $rc -eq 0 ]]; then echo "[rank_exit] FAIL: the job succeeded"; exit 1; fi
if [[ $rc -eq 124 ]]; then echo "[rank_exit] FAIL: the job hung"; exit 1; fi
# Either iccrt's own error (a co-located peer saw rank 1's process die) or mpirun's report names rank 1.
if echo "$out" | grep -Eq "rank 1 .*died|rank 1 .*left|rank 1 with PID|process rank 1|rank 1 .*exited"; then
  echo "[rank_exit] ok"; exit 0
fi
echo "[rank_exit] FAIL: no message names rank 1"; exit 1
