"""iccrt.distributed: real multi-process groups (1-5 ranks as subprocesses running dist_worker.py), failures that
must not hang, and the single-process parts of the API (errors before init, argument checks, stores).

Every launch is bounded: each rank's subprocess has a deadline, after which all ranks are killed and the test fails
with their output. Ranks are oversubscribed on purpose (up to 5 on a 2-core machine).
"""

import datetime
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import iccrt
import iccrt.distributed as dist

from multirank import LAUNCH_TIMEOUT, LAUNCHER_PREFIXES as _LAUNCHER_PREFIXES, PYDIR, assert_ok, describe  # noqa: E402,F401
from multirank import free_port, launch as _launch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "dist_worker.py")


def launch(n, scenario, *args, env=None, timeout=LAUNCH_TIMEOUT):
    return _launch(WORKER, n, scenario, *args, env=env, timeout=timeout)


# ---------------------------------------------------------------------------------------------------------------
# Multi-process: the functional matrix and failures

@pytest.mark.parametrize("n,how", [(1, "env"), (2, "tcp"), (3, "explicit"), (4, "env"), (5, "env")])
def test_matrix(n, how):
    """Every op x dtype x size against float64 references, sub-groups, async, p2p, argument errors; launched as
    torchrun-style env (RANK / WORLD_SIZE / MASTER_*), tcp://host:port or env:// with explicit ranks."""
    assert_ok(launch(n, "matrix", how))


def _open_mpi():
    if shutil.which("mpirun") is None:
        return False
    try:
        v = subprocess.run(["mpirun", "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Open MPI" in v.stdout + v.stderr


@pytest.mark.skipif(not _open_mpi(), reason="no Open MPI mpirun: the MPI launch is not run")
def test_matrix_under_mpirun():
    """The matrix on 3 ranks started by mpirun: init_process_group("mpi") reads Open MPI's variables."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(_LAUNCHER_PREFIXES) and k not in ("RANK", "WORLD_SIZE")}
    base.update(OMP_NUM_THREADS="1", ICCRT_TIMEOUT="30", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
                PYTHONPATH=os.pathsep.join([PYDIR, os.environ.get("PYTHONPATH", "")]))
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "3", sys.executable, WORKER, "matrix", "mpi"]
    # A session of its own, so that a hang can be ended for mpirun and every rank it started together.
    p = subprocess.Popen(cmd, env=base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out = p.communicate(timeout=LAUNCH_TIMEOUT)[0]
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail(f"mpirun did not finish within {LAUNCH_TIMEOUT}s (hang); output:\n{p.communicate()[0]}")
    assert p.returncode == 0 and out.count("WORKER-OK") == 3, out


def check_exit(results, victim):
    assert results[victim][0] == 3, describe(results)
    others = [r for r in range(len(results)) if r != victim]
    assert_ok(results, ranks=others)
    for r in others:
        assert "ERROR DistError" in results[r][1] and f"rank {victim} of group" in results[r][1], describe(results)


def test_rank_exit_fails_peers_without_hang():
    """Rank 0 of 3 (the store's host) calls os._exit(3) between collectives: ranks 1 and 2 raise DistError naming
    rank 0 well within the 10 s group timeout (not DistTimeoutError), and every process exits."""
    check_exit(launch(3, "exit", "0", env={"GROUP_TIMEOUT": "10"}, timeout=90), victim=0)


def test_rank_exit_named_by_a_late_rank():
    """Rank 2 of 3 dies; rank 0 fails at once (naming it); rank 1 enters the collective 1 s later and must also
    name rank 2, the dead one, not rank 0 which merely failed because of it."""
    check_exit(launch(3, "exit", "2", "1", env={"GROUP_TIMEOUT": "10"}, timeout=90), victim=2)


def test_skipped_collective_times_out_naming_the_rank(tmp_path):
    """Rank 1 of 2 skips an all_reduce and waits: rank 0 raises DistTimeoutError after the group's 1.5 s timeout,
    naming rank 1 as the one that did not arrive."""
    results = launch(2, "skip", "1", env={"GROUP_TIMEOUT": "1.5", "SYNC_DIR": str(tmp_path)}, timeout=90)
    assert_ok(results)
    assert "ERROR DistTimeoutError" in results[0][1] and "did not arrive: 1" in results[0][1], describe(results)


def test_skipped_collective_named_by_a_late_rank(tmp_path):
    """Rank 2 of 3 skips an all_reduce; rank 0 times out naming it; rank 1 entered 0.75 s later and is still
    waiting when rank 0 fails: its error must name rank 2 as missing too, not only rank 0."""
    results = launch(3, "skip", "2", "1", env={"GROUP_TIMEOUT": "1.5", "SYNC_DIR": str(tmp_path)}, timeout=90)
    assert_ok(results)


def test_debug_mismatch_names_every_call():
    """ICCRT_DEBUG=1, rank 0 all-reduces 7 elements and rank 1 8: both raise DistError listing both calls."""
    results = launch(2, "mismatch", env={"ICCRT_DEBUG": "1"}, timeout=90)
    assert_ok(results)


def test_ranks_as_threads_release_the_gil():
    """Two ranks as Python threads of one process (HashStore): creation and waits must release the GIL, or the
    second rank never runs and the first times out."""
    results = launch(1, "threads", timeout=90)
    assert_ok(results)


# ---------------------------------------------------------------------------------------------------------------
# Single process

NOT_INIT = "Default process group has not been initialized, please make sure to call init_process_group."


@pytest.fixture
def clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith(_LAUNCHER_PREFIXES) or k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            monkeypatch.delenv(k)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_ops_before_init_raise(clean_env):
    assert not dist.is_initialized()
    t = iccrt.zeros(3)
    calls = [
        lambda: dist.all_reduce(t), lambda: dist.broadcast(t, 0), lambda: dist.reduce(t, 0), lambda: dist.barrier(),
        lambda: dist.all_gather([t], t), lambda: dist.all_gather_into_tensor(t, t),
        lambda: dist.reduce_scatter_tensor(t, t), lambda: dist.all_to_all_single(t, t), lambda: dist.send(t, 1),
        lambda: dist.recv(t, 1), lambda: dist.get_rank(), lambda: dist.get_world_size(), lambda: dist.new_group(),
        lambda: dist.destroy_process_group(), lambda: dist.get_backend(), lambda: dist.flight_record(),
    ]
    for call in calls:
        with pytest.raises(RuntimeError) as info:
            call()
        assert str(info.value) == NOT_INIT


def test_exception_classes():
    assert issubclass(dist.DistError, RuntimeError)
    assert issubclass(dist.DistTimeoutError, dist.DistError) and issubclass(dist.DistTimeoutError, TimeoutError)
    assert dist.DistError.__module__ == "iccrt.distributed" and dist.DistTimeoutError.__name__ == "DistTimeoutError"
    assert str(dist.DistTimeoutError("late")) == "late"
    assert [op.name for op in (dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN, dist.ReduceOp.MAX,
                               dist.ReduceOp.AVG)] == ["SUM", "PRODUCT", "MIN", "MAX", "AVG"]


def test_backend_names():
    assert dist.Backend("NCCL") == "nccl" and dist.Backend.GLOO == "gloo"
    assert dist.Backend("cpu:gloo,cuda:nccl") == "cpu:gloo,cuda:nccl"
    for bad in ("ucc", "", "cpu:foo"):
        with pytest.raises(ValueError, match="unknown backend"):
            dist.Backend(bad)


def test_init_argument_errors(clean_env):
    with pytest.raises(ValueError, match="init_method"):
        dist.init_process_group(init_method="file:///tmp/x", rank=0, world_size=1)
    with pytest.raises(ValueError, match="rank"):
        dist.init_process_group(init_method="tcp://127.0.0.1:1234")
    with pytest.raises(ValueError, match="tcp://host:port"):
        dist.init_process_group(init_method="tcp://nohost", rank=0, world_size=1)
    with pytest.raises(ValueError, match="out of range"):
        dist.init_process_group(store=dist.HashStore(), rank=2, world_size=2)
    with pytest.raises(ValueError, match="both init_method and store"):
        dist.init_process_group(init_method="env://", store=dist.HashStore(), rank=0, world_size=1)
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        dist.init_process_group(rank=0, world_size=2)
    with pytest.raises(TypeError, match="timedelta"):
        dist.init_process_group(timeout="soon")
    with pytest.raises(ValueError, match="positive"):
        dist.init_process_group(timeout=datetime.timedelta(0))
    with pytest.raises(ValueError, match="backend"):
        dist.init_process_group(backend="ucc")
    assert not dist.is_initialized()


def test_single_rank_group(clean_env):
    """No launcher variables: init_process_group() makes a group of one; every op works on it."""
    dist.init_process_group()
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == "iccrt"
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group()
    t = iccrt.tensor([1.0, -2.0, 3.0])
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    assert t.tolist() == [1.0, -2.0, 3.0]
    out = iccrt.zeros(3)
    dist.all_gather_into_tensor(out, t)
    assert out.tolist() == [1.0, -2.0, 3.0]
    w = dist.broadcast(t, src=0, async_op=True)
    assert isinstance(w, dist.Work) and w.wait() and w.is_completed()
    assert "broadcast" in w.description
    g = dist.new_group([0])
    assert dist.get_process_group_ranks(g) == [0] and g.size() == 1
    with pytest.raises(ValueError, match="appears in split 0 and split 1"):
        dist.split_group(split_ranks=[[0], [0]])
    with pytest.raises(ValueError, match="out of range"):
        dist.split_group(split_ranks=[[1]])
    with pytest.raises(ValueError, match="use_local_synchronization"):
        dist.new_group([0], use_local_synchronization=True)
    s = dist.split_group(split_ranks=[[0]], group_desc="solo-split")
    assert s.name() == "solo-split" and dist.get_global_rank(s, 0) == 0 and dist.get_group_rank(s, 0) == 0
    with pytest.raises(TypeError, match="group must be"):
        dist.all_reduce(t, group="world")
    dist.destroy_process_group(g)
    with pytest.raises(RuntimeError, match="shut down"):
        g.all_reduce(t)
    dist.destroy_process_group()
    assert not dist.is_initialized()
    # and again, now over an explicit store
    dist.init_process_group(store=dist.HashStore(), rank=0, world_size=1, group_name="solo", timeout=5)
    assert "solo" in repr(dist.new_group())
    dist.destroy_process_group()


def test_hash_store_timeout_is_dist_timeout_error():
    s = dist.HashStore()
    s.set("k", "v")
    assert s.get("k") == b"v" and s.add("n", 2) == 2 and s.add("n", 3) == 5
    assert s.check(["k", "n"]) and not s.check(["missing"])
    s.set_timeout(2)
    assert s.timeout == 2.0
    with pytest.raises(ValueError, match="positive"):
        s.set_timeout(0)
    with pytest.raises(TypeError):
        s.set_timeout("1s")
    s.set_timeout(datetime.timedelta(milliseconds=50))
    assert s.timeout == pytest.approx(0.05)
    with pytest.raises(dist.DistTimeoutError, match="missing"):
        s.get("missing")
    with pytest.raises(TimeoutError):
        s.wait(["k", "missing"])
    assert s.delete_key("k") and not s.check(["k"])


def test_tcp_store_token_and_gil():
    server = dist.TCPStore("127.0.0.1", 0, is_server=True, token="secret", timeout=5)
    assert server.port > 0
    client = dist.TCPStore("127.0.0.1", server.port, token="secret", timeout=5)
    # get() blocks in another thread; it must release the GIL so that this thread can set the key
    got = []
    th = threading.Thread(target=lambda: got.append(client.get("later")))
    th.start()
    time.sleep(0.2)
    server.set("later", b"\x00bytes")
    th.join(10)
    assert got == [b"\x00bytes"]
    with pytest.raises(dist.DistError, match="refused"):
        dist.TCPStore("127.0.0.1", server.port, token="wrong", timeout=2)
    with pytest.raises(TypeError):
        server.set("k", 3)


@pytest.mark.skipif(not iccrt.cuda.is_available(), reason="no CUDA device: the NCCL path is not run")
def test_cuda_tensors_use_nccl(clean_env):
    """A world of one over a HashStore with backend="nccl": CUDA tensors go through NCCL."""
    dist.init_process_group("nccl", store=dist.HashStore(), rank=0, world_size=1)
    t = iccrt.tensor([1.0, 2.0, 3.0], device="cuda")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    out = iccrt.zeros(3, device="cuda")
    dist.all_gather_into_tensor(out, t)
    dist.broadcast(t, src=0)
    assert t.cpu().tolist() == [1.0, 2.0, 3.0] and out.cpu().tolist() == [1.0, 2.0, 3.0]
    dist.destroy_process_group()
