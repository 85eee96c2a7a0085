"""One rank of a multi-process iccrt.distributed test (launched by test_distributed.py).

    RANK=r WORLD_SIZE=n MASTER_ADDR=127.0.0.1 MASTER_PORT=p python tests/python/dist_worker.py <scenario> [arg]

Every rank computes every rank's inputs itself (they are seeded by rank), so each checks its results against a
NumPy float64 reference of the whole collective. A rank prints "WORKER-OK" and exits 0 when all its checks pass;
any failure prints a traceback and exits 1. Scenarios: matrix (the main functional matrix; arg: how to
initialise: env, tcp, explicit or mpi), exit (a rank dies mid-run), skip (a rank skips a collective), mismatch
(ICCRT_DEBUG=1 with different counts), threads (ranks as threads of one process).
"""

import datetime
import os
import sys
import threading
import time
import traceback

import numpy as np

import iccrt
import iccrt.distributed as dist

FLOATS = [iccrt.float32, iccrt.float64, iccrt.float16, iccrt.bfloat16]
INTS = [iccrt.int32, iccrt.int64]
OPS = [dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN, dist.ReduceOp.MAX, dist.ReduceOp.AVG]
SIZES = [0, 1, 7, 1009]

RANK = int(os.environ.get("RANK", "0"))
SIZE = int(os.environ.get("WORLD_SIZE", "1"))


# ---------------------------------------------------------------------------------------------------------------
# Inputs and references

def values(rank, n, dtype, op=None, seed=0):
    """Rank `rank`'s float64 / int64 input values (before rounding to dtype)."""
    g = np.random.default_rng([seed, rank, n, 0 if op is None else int(op.value) + 1])
    if dtype in INTS or dtype in (iccrt.uint8, iccrt.bool):
        if dtype == iccrt.bool:
            return g.integers(0, 2, size=n)
        if dtype == iccrt.uint8:
            return g.integers(0, 256, size=n)
        return g.integers(-3, 4, size=n) if op == dist.ReduceOp.PRODUCT else g.integers(-100, 100, size=n)
    if op == dist.ReduceOp.PRODUCT:  # magnitudes near 1: no overflow, no underflow
        return g.uniform(0.5, 1.5, size=n) * g.choice([-1.0, 1.0], size=n)
    return g.uniform(-2.0, 2.0, size=n)


def make(vals, dtype, shape=None):
    t = iccrt.tensor(np.asarray(vals), dtype=dtype)
    return t if shape is None else t.reshape(shape)


def held(t):
    """The values a tensor holds, as float64 (floating) or int64 (integer) NumPy."""
    if t.dtype.is_floating_point:
        return t.to(iccrt.float64).numpy().copy()
    return t.to(iccrt.int64).numpy().copy()


def inputs(n, dtype, op=None, seed=0, nranks=None):
    """Every rank's input tensor values as held after rounding: a list indexed by rank."""
    return [held(make(values(r, n, dtype, op, seed), dtype)) for r in range(nranks or SIZE)]


def reference(per_rank, op):
    a = np.stack(per_rank) if per_rank else np.zeros((0,))
    if op == dist.ReduceOp.SUM:
        return a.sum(0)
    if op == dist.ReduceOp.PRODUCT:
        return a.prod(0)
    if op == dist.ReduceOp.MIN:
        return a.min(0)
    if op == dist.ReduceOp.MAX:
        return a.max(0)
    if op == dist.ReduceOp.AVG:
        return a.sum(0) / len(per_rank)
    raise AssertionError(op)


def check(got, ref, dtype, op, what, nranks=None):
    nranks = nranks or SIZE
    got = np.asarray(got)
    assert got.shape == np.asarray(ref).shape, f"{what}: shape {got.shape} != {np.asarray(ref).shape}"
    if dtype not in FLOATS or op in (dist.ReduceOp.MIN, dist.ReduceOp.MAX, None):
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    # float16 / bfloat16 are reduced in float32 and rounded once per step (at most one step per rank).
    eps = {iccrt.float64: 1e-15, iccrt.float32: 1e-6, iccrt.float16: 2.0 ** -10, iccrt.bfloat16: 2.0 ** -7}[dtype]
    scale = 2.0 * nranks if op != dist.ReduceOp.PRODUCT else 1.5 ** nranks
    np.testing.assert_allclose(got, ref, rtol=4 * nranks * eps, atol=4 * nranks * eps * scale, err_msg=what)


def expect(exc, fn, *args, contains=None, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc as e:
        if contains is not None:
            assert contains in str(e), f"{exc.__name__} message {str(e)!r} lacks {contains!r}"
        return e
    raise AssertionError(f"{getattr(fn, '__name__', fn)} did not raise {exc.__name__}")


# ---------------------------------------------------------------------------------------------------------------
# The functional matrix

def init(how):
    global RANK, SIZE
    if how == "env":  # torchrun-style environment, read by the C++ layer; timeout from ICCRT_TIMEOUT
        dist.init_process_group()
    elif how == "mpi":  # under mpirun: OMPI_COMM_WORLD_RANK / _SIZE, the MPI library as rendezvous
        dist.init_process_group("mpi")
        RANK = int(os.environ["OMPI_COMM_WORLD_RANK"])
        SIZE = int(os.environ["OMPI_COMM_WORLD_SIZE"])
    elif how == "tcp":
        url = f"tcp://{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        dist.init_process_group("gloo", init_method=url, rank=RANK, world_size=SIZE,
                                timeout=datetime.timedelta(seconds=60))
    elif how == "explicit":  # env:// with explicit rank / world size (MASTER_ADDR / MASTER_PORT from the env)
        dist.init_process_group(backend="nccl", init_method="env://", rank=RANK, world_size=SIZE, timeout=60)
    else:
        raise AssertionError(how)
    assert dist.is_initialized()
    assert dist.get_rank() == RANK and dist.get_world_size() == SIZE
    assert dist.get_backend() == {"env": "iccrt", "mpi": "mpi", "tcp": "gloo", "explicit": "nccl"}[how]


def check_all_reduce():
    for dtype in FLOATS + INTS:
        for op in OPS:
            if op == dist.ReduceOp.AVG and dtype in INTS:
                continue
            for n in SIZES:
                t = make(values(RANK, n, dtype, op), dtype)
                assert dist.all_reduce(t, op=op) is None
                assert t.dtype == dtype and t.shape == (n,)
                check(held(t), reference(inputs(n, dtype, op), op), dtype, op, f"all_reduce {dtype} {op} n={n}")
    # a few MiB (pipelined chunks), and every algorithm by name
    n = (1 << 20) + 3
    t = make(values(RANK, n, iccrt.float32), iccrt.float32)
    dist.all_reduce(t)
    check(held(t), reference(inputs(n, iccrt.float32), dist.ReduceOp.SUM), iccrt.float32, dist.ReduceOp.SUM,
          "all_reduce 4 MiB")
    for algo in ("ring", "tree", "rhd", "rd", "direct", "auto"):
        t = make(values(RANK, 1009, iccrt.float64), iccrt.float64)
        dist.all_reduce(t, algorithm=algo)
        check(held(t), reference(inputs(1009, iccrt.float64), dist.ReduceOp.SUM), iccrt.float64,
              dist.ReduceOp.SUM, f"all_reduce algorithm={algo}")
    # non-contiguous: a transposed view and a strided slice, written back into their base
    for dtype in (iccrt.float32, iccrt.int64):
        base = make(values(RANK, 48, dtype), dtype, (6, 8))
        v = base.t()
        assert not v.is_contiguous()
        dist.all_reduce(v, op=dist.ReduceOp.MAX)
        ref = reference(inputs(48, dtype), dist.ReduceOp.MAX).reshape(6, 8)
        check(held(base), ref, dtype, None, f"all_reduce transposed {dtype}")
        base = make(values(RANK, 48, dtype), dtype, (6, 8))
        v = base[:, ::2]
        assert not v.is_contiguous()
        dist.all_reduce(v)
        ref = reference(inputs(48, dtype), dist.ReduceOp.SUM).reshape(6, 8)
        untouched = held(make(values(RANK, 48, dtype), dtype, (6, 8)))[:, 1::2]
        check(held(base)[:, ::2], ref[:, ::2], dtype, dist.ReduceOp.SUM, f"all_reduce strided {dtype}")
        np.testing.assert_array_equal(held(base)[:, 1::2], untouched, err_msg="all_reduce wrote outside the view")


def check_broadcast_reduce():
    for root in range(SIZE):
        for dtype in FLOATS + INTS + [iccrt.uint8, iccrt.bool]:
            for n in (0, 7, 1009):
                t = make(values(RANK, n, dtype), dtype)
                dist.broadcast(t, src=root)
                check(held(t), held(make(values(root, n, dtype), dtype)), dtype, None, f"broadcast {dtype} root {root}")
        for dtype, op in ((iccrt.float32, dist.ReduceOp.SUM), (iccrt.int64, dist.ReduceOp.MAX),
                          (iccrt.bfloat16, dist.ReduceOp.AVG)):
            n = 1009
            t = make(values(RANK, n, dtype, op), dtype)
            before = held(t)
            dist.reduce(t, dst=root, op=op)
            if RANK == root:
                check(held(t), reference(inputs(n, dtype, op), op), dtype, op, f"reduce {dtype} {op} root {root}")
            else:
                np.testing.assert_array_equal(held(t), before, err_msg="reduce changed a non-root tensor")


def check_gather_scatter():
    for dtype in (iccrt.float32, iccrt.float16, iccrt.int32, iccrt.bfloat16):
        for n in (0, 15, 1009 * 3):
            per_rank = inputs(n, dtype)
            t = make(values(RANK, n, dtype), dtype, (3, n // 3))
            # list version, each output its own shape
            out = [iccrt.zeros(n, dtype=dtype) for _ in range(SIZE)]
            assert dist.all_gather(out, t) is None
            for r in range(SIZE):
                check(held(out[r]), per_rank[r], dtype, None, f"all_gather list {dtype} n={n} from {r}")
            # into a tensor: concatenated along dim 0 and stacked
            cat = iccrt.zeros(3 * SIZE, n // 3, dtype=dtype)
            dist.all_gather_into_tensor(cat, t)
            check(held(cat).reshape(-1), np.concatenate(per_rank), dtype, None, f"all_gather_into_tensor {dtype}")
            stk = iccrt.zeros(SIZE, 3, n // 3, dtype=dtype)
            w = dist.all_gather_into_tensor(stk, t, async_op=True)
            w.wait()
            check(held(stk).reshape(-1), np.concatenate(per_rank), dtype, None, "all_gather_into_tensor stacked")
    for dtype, op in ((iccrt.float32, dist.ReduceOp.SUM), (iccrt.int32, dist.ReduceOp.MIN),
                      (iccrt.float16, dist.ReduceOp.AVG), (iccrt.float64, dist.ReduceOp.PRODUCT)):
        for k in (0, 1, 7, 1009):
            per_rank = inputs(SIZE * k, dtype, op)
            full_ref = reference(per_rank, op)
            ref = full_ref[RANK * k:(RANK + 1) * k]
            inp = make(values(RANK, SIZE * k, dtype, op), dtype)
            out = iccrt.zeros(k, dtype=dtype)
            dist.reduce_scatter_tensor(out, inp, op=op)
            check(held(out), ref, dtype, op, f"reduce_scatter_tensor {dtype} {op} k={k}")
            lst = [inp[r * k:(r + 1) * k] for r in range(SIZE)]
            out2 = iccrt.zeros(k, dtype=dtype)
            dist.reduce_scatter(out2, lst, op=op)
            check(held(out2), ref, dtype, op, f"reduce_scatter list {dtype} {op} k={k}")
    for dtype in (iccrt.float64, iccrt.int64, iccrt.bfloat16):
        k = 5
        per_rank = inputs(SIZE * k * 2, dtype)
        inp = make(values(RANK, SIZE * k * 2, dtype), dtype, (SIZE * k, 2))
        out = iccrt.zeros(SIZE * k, 2, dtype=dtype)
        dist.all_to_all_single(out, inp)
        ref = np.concatenate([per_rank[i].reshape(SIZE, k * 2)[RANK] for i in range(SIZE)])
        check(held(out).reshape(-1), ref, dtype, None, f"all_to_all_single {dtype}")
        outs = [iccrt.zeros(k * 2, dtype=dtype) for _ in range(SIZE)]
        dist.all_to_all(outs, [inp[j * k:(j + 1) * k] for j in range(SIZE)])
        for i in range(SIZE):
            check(held(outs[i]), per_rank[i].reshape(SIZE, k * 2)[RANK], dtype, None, f"all_to_all list {dtype}")


def check_p2p():
    if SIZE < 2:
        return
    nxt, prv = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    for dtype in (iccrt.float32, iccrt.int64, iccrt.float16):
        for n in (1, 7, 1009):
            t = make(values(RANK, n, dtype), dtype)
            r = iccrt.zeros(n, dtype=dtype)
            ws = dist.isend(t, nxt, tag=3)
            wr = dist.irecv(r, prv, tag=3)
            wr.wait()
            ws.wait()
            check(held(r), held(make(values(prv, n, dtype), dtype)), dtype, None, f"isend/irecv ring {dtype} n={n}")
    # blocking send / recv, ordered so that every send meets a posted recv
    t = make(values(RANK, 33, iccrt.float64), iccrt.float64)
    r = iccrt.zeros(33, dtype=iccrt.float64)
    if RANK % 2 == 0:
        dist.send(t, nxt)
        assert dist.recv(r, prv) == prv
    else:
        assert dist.recv(r, prv) == prv
        dist.send(t, nxt)
    check(held(r), held(make(values(prv, 33, iccrt.float64), iccrt.float64)), iccrt.float64, None, "send/recv")


def check_groups():
    dist.barrier()
    dist.barrier(async_op=True).wait()
    evens = [r for r in range(SIZE) if r % 2 == 0]
    odds = [r for r in range(SIZE) if r % 2 == 1]
    g = dist.new_group(evens, timeout=30)
    t = make(values(RANK, 7, iccrt.float32), iccrt.float32)
    if RANK in evens:
        assert dist.get_rank(g) == evens.index(RANK) and dist.get_world_size(g) == len(evens)
        assert dist.get_process_group_ranks(g) == evens
        dist.all_reduce(t, group=g)
        check(held(t), reference([inputs(7, iccrt.float32)[r] for r in evens], dist.ReduceOp.SUM), iccrt.float32,
              dist.ReduceOp.SUM, "all_reduce on the even sub-group", nranks=len(evens))
        # src is a global rank; group_src a rank of the group
        u = make(values(RANK, 9, iccrt.int64), iccrt.int64)
        dist.broadcast(u, src=evens[-1], group=g)
        check(held(u), held(make(values(evens[-1], 9, iccrt.int64), iccrt.int64)), iccrt.int64, None, "bcast sub")
        u = make(values(RANK, 9, iccrt.int64), iccrt.int64)
        dist.broadcast(u, group=g, group_src=0)
        check(held(u), held(make(values(0, 9, iccrt.int64), iccrt.int64)), iccrt.int64, None, "bcast group_src")
        if len(evens) < SIZE:
            expect(ValueError, dist.broadcast, u, src=odds[0], group=g, contains="not part of group")
    else:
        assert g is dist.GroupMember.NON_GROUP_MEMBER
        before = held(t)
        assert dist.all_reduce(t, group=g) is None
        np.testing.assert_array_equal(held(t), before)
        assert dist.get_rank(g) == -1 and dist.get_world_size(g) == -1
    if SIZE >= 2:
        pair = dist.new_group([SIZE - 1, 0])  # group ranks follow sorted global ranks (as torch)
        if RANK in (0, SIZE - 1):
            assert dist.get_rank(pair) == (0 if RANK == 0 else 1)
            assert dist.get_global_rank(pair, 1) == SIZE - 1 and dist.get_group_rank(pair, SIZE - 1) == 1
            x = make([float(RANK + 1)], iccrt.float64)
            dist.all_reduce(x, group=pair, op=dist.ReduceOp.PRODUCT)
            assert held(x)[0] == float(SIZE)
    # split_group over the default group, and ProcessGroup.split with a key that reverses the order
    sub = dist.split_group(split_ranks=[evens, odds] if odds else [evens])
    mine = evens if RANK % 2 == 0 else odds
    assert sub.size() == len(mine) and sub.rank() == mine.index(RANK)
    x = make(values(RANK, 11, iccrt.int32), iccrt.int32)
    dist.all_reduce(x, group=sub)
    check(held(x), reference([inputs(11, iccrt.int32)[r] for r in mine], dist.ReduceOp.SUM), iccrt.int32,
          dist.ReduceOp.SUM, "all_reduce after split_group")
    world = dist.new_group()
    rev = world.split(RANK % 2, -RANK)
    assert rev.rank() == sorted(mine, reverse=True).index(RANK)
    assert rev.world_ranks() == sorted(mine, reverse=True)
    # two groups at once: ops of different groups run concurrently and complete independently
    a = make(values(RANK, 1009, iccrt.float32), iccrt.float32)
    b = make(values(RANK, 1009, iccrt.float64), iccrt.float64)
    wa = dist.all_reduce(a, async_op=True)
    wb = dist.all_reduce(b, group=sub, async_op=True)
    wb.wait()
    wa.wait()
    check(held(a), reference(inputs(1009, iccrt.float32), dist.ReduceOp.SUM), iccrt.float32, dist.ReduceOp.SUM,
          "concurrent world")
    check(held(b), reference([inputs(1009, iccrt.float64)[r] for r in mine], dist.ReduceOp.SUM), iccrt.float64,
          dist.ReduceOp.SUM, "concurrent sub-group", nranks=len(mine))
    assert "all_reduce" in dist.flight_record() and "all_reduce" in dist.flight_record(sub)
    assert world.tuned_all_reduce_algorithm(1 << 20) in ("ring", "tree", "rhd", "rd", "direct", "hierarchical")


def check_async():
    ts = [make(values(RANK, 257, iccrt.float32, seed=i), iccrt.float32) for i in range(4)]
    works = [dist.all_reduce(t, async_op=True) for t in ts]
    for i, w in reversed(list(enumerate(works))):
        assert w.wait() is True
        assert w.is_completed() and w.is_success() and w.exception() is None
        assert w.result()[0] is ts[i]
        check(held(ts[i]), reference(inputs(257, iccrt.float32, seed=i), dist.ReduceOp.SUM), iccrt.float32,
              dist.ReduceOp.SUM, f"async all_reduce {i}")
    out = [iccrt.zeros(3, dtype=iccrt.int64) for _ in range(SIZE)]
    w = dist.all_gather(out, make([RANK, RANK, RANK], iccrt.int64), async_op=True)
    assert w.wait(timeout=60) is True
    assert [int(o[0]) for o in out] == list(range(SIZE))


def check_local_errors():
    """Bad arguments raise in the caller, on every rank alike, and leave the group usable."""
    f32 = iccrt.zeros(6, dtype=iccrt.float32)
    expect(TypeError, dist.all_reduce, [1.0, 2.0])
    expect(TypeError, dist.all_reduce, iccrt.zeros(3, dtype=iccrt.int32), op=dist.ReduceOp.AVG)
    expect(TypeError, dist.all_reduce, iccrt.zeros(3, dtype=iccrt.uint8))
    expect(TypeError, dist.all_gather_into_tensor, iccrt.zeros(6 * SIZE, dtype=iccrt.float64), f32)
    expect(TypeError, dist.reduce_scatter_tensor, f32, iccrt.zeros(6 * SIZE, dtype=iccrt.float64))
    expect(TypeError, dist.all_gather, [iccrt.zeros(6, dtype=iccrt.int32) for _ in range(SIZE)], f32)
    expect(ValueError, dist.all_gather_into_tensor, iccrt.zeros(6 * SIZE + 1, dtype=iccrt.float32), f32)
    expect(ValueError, dist.reduce_scatter_tensor, f32, iccrt.zeros(6 * SIZE + 2, dtype=iccrt.float32))
    expect(ValueError, dist.all_gather, [f32.clone() for _ in range(SIZE + 1)], f32)
    expect(ValueError, dist.all_gather, [iccrt.zeros(5) for _ in range(SIZE)], f32)
    expect(ValueError, dist.broadcast, f32, src=SIZE)
    expect(ValueError, dist.reduce, f32, dst=-1)
    expect(ValueError, dist.all_reduce, f32, op="median")
    expect(ValueError, dist.all_reduce, f32, algorithm="bogus")
    expect(ValueError, dist.isend, f32, RANK)  # to itself
    expect(ValueError, dist.irecv, f32)  # any source
    if SIZE > 1:
        expect(ValueError, dist.all_to_all_single, iccrt.zeros(SIZE + 1), iccrt.zeros(SIZE + 1))
        expect(ValueError, dist.isend, f32, (RANK + 1) % SIZE, tag=-1)
    expect(ValueError, dist.all_to_all_single, iccrt.zeros(2 * SIZE), iccrt.zeros(2 * SIZE),
           input_split_sizes=[1] * SIZE)
    t = make([float(RANK)], iccrt.float64)
    dist.all_reduce(t)
    assert held(t)[0] == SIZE * (SIZE - 1) / 2, "group unusable after argument errors"


def scenario_matrix(how="env"):
    init(how)
    check_local_errors()
    check_all_reduce()
    check_broadcast_reduce()
    check_gather_scatter()
    check_p2p()
    check_async()
    check_groups()
    dist.barrier()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    expect(RuntimeError, dist.all_reduce, iccrt.zeros(1), contains="has not been initialized")


# ---------------------------------------------------------------------------------------------------------------
# Failures

def report(e, started):
    print(f"ERROR {type(e).__name__} after {time.monotonic() - started:.2f}s: {e}", flush=True)


def scenario_exit(victim="0", late="-1"):
    """Rank `victim` dies (os._exit(3)) between two collectives; the others must fail, naming it, well within
    the group's timeout, and every later op on the group must fail at once. Rank `late` (if any) enters the
    collective 1 s after the others, when they have already failed: it must still name the dead rank."""
    victim, late = int(victim), int(late)
    timeout = float(os.environ.get("GROUP_TIMEOUT", "10"))
    dist.init_process_group(timeout=60)
    g = dist.new_group(timeout=timeout)
    t = make(values(RANK, 1009, iccrt.float32), iccrt.float32)
    for _ in range(3):
        dist.all_reduce(t, group=g)
    if RANK == victim:
        os._exit(3)
    if RANK == late:
        time.sleep(1.0)
    started = time.monotonic()
    w = dist.all_reduce(t, group=g, async_op=True)
    e = expect(dist.DistError, w.wait)
    report(e, started)
    assert not isinstance(e, dist.DistTimeoutError), f"a dead rank should not look like a timeout: {e}"
    assert time.monotonic() - started < timeout, "took longer than the timeout to notice a dead rank"
    assert f"rank {victim} of group" in str(e), f"the error does not name rank {victim}: {e}"
    assert w.is_completed() and not w.is_success() and isinstance(w.exception(), dist.DistError)
    started = time.monotonic()
    e2 = expect(dist.DistError, dist.all_reduce, t, group=g)
    assert time.monotonic() - started < 1.0 and "unusable" in str(e2), e2


def scenario_skip(laggard="1", late="-1"):
    """Rank `laggard` skips a collective and stays alive past the timeout (until the others write their files to
    SYNC_DIR): the others raise DistTimeoutError naming it. Rank `late` (if any) enters the collective half a
    timeout after the others, so that they fail while it waits: its error (a DistError) must still name the
    laggard as the rank that did not arrive."""
    laggard, late = int(laggard), int(late)
    timeout = float(os.environ.get("GROUP_TIMEOUT", "1.5"))
    dist.init_process_group(timeout=60)
    g = dist.new_group(timeout=timeout)
    t = make(values(RANK, 7, iccrt.float64), iccrt.float64)
    dist.all_reduce(t, group=g)
    sync = os.environ["SYNC_DIR"]
    if RANK == laggard:
        # Stay alive (a rank that left would make this a DistError) until every other rank has seen its error.
        deadline = time.monotonic() + timeout + 60
        while time.monotonic() < deadline and len(os.listdir(sync)) < SIZE - 1:
            time.sleep(0.05)
        assert len(os.listdir(sync)) == SIZE - 1, "the other ranks did not report"
        return
    try:
        if RANK == late:
            time.sleep(timeout / 2)
        started = time.monotonic()
        e = expect(dist.DistError, dist.all_reduce, t, group=g)
        report(e, started)
        msg = str(e)
        assert f"did not arrive: {laggard}" in msg, f"the error does not name rank {laggard} as missing: {msg}"
        if RANK != late:
            assert isinstance(e, dist.DistTimeoutError) and isinstance(e, TimeoutError), repr(e)
            took = time.monotonic() - started
            assert timeout * 0.9 <= took < timeout + 10, f"raised after {took:.2f}s with a {timeout}s timeout"
            assert "all_reduce" in msg and "seq 2" in msg, msg
        assert "all_reduce" in dist.flight_record(g)
    finally:
        open(os.path.join(sync, f"done{RANK}"), "w").close()  # releases the laggard, pass or fail


def scenario_mismatch():
    """ICCRT_DEBUG=1: rank r all-reduces 7 + r elements; every rank gets an error naming each rank's call."""
    assert os.environ.get("ICCRT_DEBUG") == "1"
    dist.init_process_group(timeout=30)
    t = iccrt.zeros(7 + RANK, dtype=iccrt.float32)
    e = expect(dist.DistError, dist.all_reduce, t)
    report(e, time.monotonic())
    msg = str(e)
    for r in range(SIZE):
        assert f"rank {r}: seq 1 all_reduce float32 x {7 + r}" in msg, msg


def scenario_threads():
    """Two ranks as threads of this process over a HashStore: only works if creation and waits release the GIL."""
    store = dist.HashStore()
    results, errors = {}, []

    def rank_main(r):
        try:
            pg = dist.ProcessGroup.create(r, 2, store, name="threads", timeout=20)
            t = make([r + 1.0] * 5, iccrt.float32)
            if r == 1:
                time.sleep(0.2)  # rank 0 is in Work.wait meanwhile: it must not hold the GIL
            pg.all_reduce(t).wait()
            pg.barrier().wait()
            results[r] = held(t)
            pg.shutdown()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ths = [threading.Thread(target=rank_main, args=(r,)) for r in range(2)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(60)
    assert not errors, errors
    assert all(list(results[r]) == [3.0] * 5 for r in range(2)), results


SCENARIOS = {
    "matrix": scenario_matrix,
    "exit": scenario_exit,
    "skip": scenario_skip,
    "mismatch": scenario_mismatch,
    "threads": scenario_threads,
}


def main():
    try:
        SCENARIOS[sys.argv[1]](*sys.argv[2:])
    except BaseException:  # noqa: BLE001 - report anything, then fail this rank
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    print(f"WORKER-OK rank {RANK}", flush=True)


if __name__ == "__main__":
    main()
