"""Launching real multi-process ranks from a test: each rank is a subprocess of one worker script, given
torchrun-style variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and a bounded run time. Used by
test_distributed.py and the data-parallel tests.

    results = launch(WORKER, 3, "scenario", "arg")   # [(returncode, output)] by rank
    assert_ok(results)                               # every rank printed WORKER-OK and exited 0
"""

import os
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.normpath(os.path.join(HERE, "..", "..", "python"))
LAUNCH_TIMEOUT = 150  # seconds for one whole launch (all ranks), far above its normal few seconds

# Launcher variables of an outer mpirun / Slurm / torchrun must not leak into the ranks we start.
LAUNCHER_PREFIXES = ("OMPI_", "PMI_", "PMIX_", "SLURM_", "MPI_LOCALRANKID", "TORCHELASTIC_", "LOCAL_RANK",
                     "ICCRT_")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_environ():
    """os.environ without an outer launcher's variables, with python/ on PYTHONPATH."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_PREFIXES)}
    base["PYTHONPATH"] = os.pathsep.join([PYDIR, os.environ.get("PYTHONPATH", "")])
    return base


def launch(worker, n, scenario, *args, env=None, timeout=LAUNCH_TIMEOUT):
    """Runs `worker scenario args...` on n ranks; returns [(returncode, output)] by rank. Kills every rank and
    fails the test on timeout."""
    port = free_port()
    base = clean_environ()
    base.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(n), OMP_NUM_THREADS="1",
                ICCRT_TIMEOUT="30")
    base.update(env or {})
    procs = []
    for r in range(n):
        procs.append(subprocess.Popen([sys.executable, worker, scenario, *args], env=dict(base, RANK=str(r)),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    deadline = time.monotonic() + timeout
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=max(0.1, deadline - time.monotonic()))[0])
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        dump = "\n".join(f"--- rank {r} ---\n{p.communicate()[0]}" for r, p in enumerate(procs))
        pytest.fail(f"{scenario} on {n} ranks did not finish within {timeout}s (hang); output:\n{dump}")
    return [(p.returncode, out) for p, out in zip(procs, outs)]


def describe(results):
    return "\n".join(f"--- rank {r} (exit {rc}) ---\n{out}" for r, (rc, out) in enumerate(results))


def assert_ok(results, ranks=None):
    for r, (rc, out) in enumerate(results):
        if ranks is None or r in ranks:
            assert rc == 0 and "WORKER-OK" in out, f"rank {r} failed:\n{describe(results)}"
