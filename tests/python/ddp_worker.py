"""One rank of a multi-process DistributedDataParallel test (launched by test_ddp.py through multirank.launch).

    RANK=r WORLD_SIZE=n MASTER_ADDR=127.0.0.1 MASTER_PORT=p python tests/python/ddp_worker.py <scenario>

Every rank also computes the single-process reference itself (one model on the full batch, or every rank's local
gradients averaged in float64), so each checks its own parameters. Prints "WORKER-OK" and exits 0 when every check
passes; any failure prints a traceback and exits 1. Scenarios: equiv (SGD / AdamW, with and without no_sync
accumulation, gradients as bucket views, broadcast buffers), unused (find_unused_parameters, static_graph), hooks
(bf16 / fp16 compression), overlap (prints STATS <json>), raise (rank 1 fails mid-step), errors (API errors).
"""

import json
import os
import sys
import time
import traceback

import numpy as np

import iccrt
import iccrt.distributed as dist
import iccrt.nn.functional as F
from iccrt import nn
from iccrt.parallel import DistributedDataParallel as DDP
from iccrt.parallel import comm_hooks

RANK = int(os.environ.get("RANK", "0"))
SIZE = int(os.environ.get("WORLD_SIZE", "1"))
BATCH = 24  # every rank count tested splits it into two equal micro-batches
STEPS = 3
SMALL_BUCKETS_MB = 600 / (1024 * 1024)  # a few hundred bytes: several buckets even for the small model


class Net(nn.Module):
    def __init__(self, hidden=16, branches=False):
        super().__init__()
        self.fc1 = nn.Linear(6, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, 3)
        if branches:
            self.side = nn.Linear(hidden, 3)
            self.never = nn.Linear(3, 3, bias=False)
        self.register_buffer("seen", iccrt.zeros(1))
        self.bump = 0.0  # added to `seen` by every forward (a buffer that changes, like running statistics)

    def forward(self, x, use_side=False):
        if self.bump:
            with iccrt.no_grad():
                self.seen.add_(self.bump)
        h = self.fc2(self.fc1(x).relu()).tanh()
        out = self.fc3(h)
        return out + self.side(h) if use_side else out


def data():
    g = np.random.default_rng(0)
    x = g.uniform(-1, 1, size=(BATCH, 6)).astype(np.float32)
    y = g.uniform(-1, 1, size=(BATCH, 3)).astype(np.float32)
    return iccrt.tensor(x), iccrt.tensor(y)


def shard(t, rank, n=SIZE):
    rows = BATCH // n
    return t[rank * rows:(rank + 1) * rows]


def optimizer(name, params):
    if name == "sgd":
        return iccrt.optim.SGD(params, lr=0.1, momentum=0.9)
    return iccrt.optim.AdamW(params, lr=1e-2, weight_decay=0.01)


def values(module):
    return {n: p.detach().to(iccrt.float64).numpy().copy() for n, p in module.named_parameters()}


def grads(module):
    return {n: (np.zeros(p.shape) if p.grad is None else p.grad.to(iccrt.float64).numpy().copy())
            for n, p in module.named_parameters()}


def assert_close(got, want, rtol, atol, what):
    assert got.keys() == want.keys(), (what, sorted(got), sorted(want))
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=f"rank {RANK}: {what}: {k}")


# ---------------------------------------------------------------------------------------------------------------

def scenario_equiv():
    """K steps on N ranks with batch B/N == K steps of one process with batch B."""
    x, y = data()
    for opt_name, accum, as_view in [("sgd", False, False), ("sgd", True, False), ("sgd", False, True),
                                     ("adamw", False, True), ("adamw", True, False)]:
        iccrt.manual_seed(100)
        ref = Net()
        ref_opt = optimizer(opt_name, ref.parameters())
        for _ in range(STEPS):
            F.mse_loss(ref(x), y).backward()
            ref_opt.step()
            ref_opt.zero_grad()

        iccrt.manual_seed(100 + RANK)  # different on every rank: construction must broadcast rank 0's values
        model = Net()
        model.bump = float(RANK + 1)
        ddp = DDP(model, bucket_cap_mb=SMALL_BUCKETS_MB, gradient_as_bucket_view=as_view)
        assert ddp._reducer.num_buckets > 2, ddp.bucket_parameter_names()
        opt = optimizer(opt_name, ddp.parameters())
        xs, ys = shard(x, RANK), shard(y, RANK)
        half = xs.shape[0] // 2
        forwards = 0
        for _ in range(STEPS):
            if accum:
                with ddp.no_sync():
                    (F.mse_loss(ddp(xs[:half]), ys[:half]) / 2).backward()
                assert ddp.last_step_stats()["step"] == _, "a no_sync backward communicated"
                (F.mse_loss(ddp(xs[half:]), ys[half:]) / 2).backward()
                forwards += 2
            else:
                F.mse_loss(ddp(xs), ys).backward()
                forwards += 1
            if as_view:
                for i, p in enumerate(model.parameters()):
                    assert p.grad.data_ptr() == ddp._reducer.bucket_view(i).data_ptr(), f"param {i} not a view"
            opt.step()
            opt.zero_grad(set_to_none=not as_view)
        what = f"{opt_name}, accumulate={accum}, bucket views={as_view}"
        assert_close(values(model), values(ref), 2e-5, 2e-6, what)
        # Before each forward rank 0's buffer was broadcast, then this rank added its own bump.
        assert model.seen.item() == forwards - 1 + (RANK + 1), (what, model.seen.item(), forwards)
        assert ddp.last_step_stats()["step"] == STEPS


def local_reference(hidden, branches, seed, use_side_rank):
    """The average over ranks of each rank's local gradient (zeros where a rank used nothing)."""
    x, y = data()
    total = None
    for q in range(SIZE):
        iccrt.manual_seed(seed)
        local = Net(hidden, branches)
        F.mse_loss(local(shard(x, q), use_side=q == use_side_rank), shard(y, q)).backward()
        g = grads(local)
        total = g if total is None else {k: total[k] + g[k] for k in g}
    return {k: v / SIZE for k, v in total.items()}


def scenario_unused():
    """Rank 0 alone uses `side`; nobody uses `never`, whose .grad stays as it was."""
    x, y = data()
    want = local_reference(16, True, 7, 0)
    del want["never.weight"]
    for as_view in (False, True):
        iccrt.manual_seed(7)
        model = Net(16, True)
        ddp = DDP(model, bucket_cap_mb=SMALL_BUCKETS_MB, find_unused_parameters=True,
                  gradient_as_bucket_view=as_view)
        for _ in range(2):
            model.zero_grad()
            model.never.weight.grad = iccrt.full((3, 3), 5.0)
            F.mse_loss(ddp(shard(x, RANK), use_side=RANK == 0), shard(y, RANK)).backward()
            got = grads(model)
            assert np.all(got.pop("never.weight") == 5.0), "the unused parameter's .grad changed"
            assert_close(got, want, 2e-5, 1e-7, f"find_unused, bucket views={as_view}")
    # static_graph: the first step finds side and never unused everywhere; later steps reuse that.
    iccrt.manual_seed(7)
    model = Net(16, True)
    ddp = DDP(model, bucket_cap_mb=SMALL_BUCKETS_MB, static_graph=True)
    want = local_reference(16, True, 7, -1)
    for _ in range(3):
        model.zero_grad()
        F.mse_loss(ddp(shard(x, RANK)), shard(y, RANK)).backward()
        got = grads(model)
        assert model.side.weight.grad is None and model.never.weight.grad is None
        assert_close(got, want, 2e-5, 1e-7, "static_graph")
    try:
        F.mse_loss(ddp(shard(x, RANK), use_side=True), shard(y, RANK)).backward()
        raise AssertionError("static_graph accepted a changed set of used parameters")
    except ValueError as e:
        assert "static_graph" in str(e) and "side." in str(e), str(e)


def scenario_hooks():
    x, y = data()
    want = local_reference(16, False, 3, -1)
    scale = max(np.abs(v).max() for v in want.values())
    for hook, tol in ((comm_hooks.bf16_compress_hook, 2 ** -8), (comm_hooks.fp16_compress_hook, 2 ** -11),
                      (comm_hooks.allreduce_hook, 1e-6)):
        iccrt.manual_seed(3)
        model = Net()
        ddp = DDP(model, bucket_cap_mb=SMALL_BUCKETS_MB)
        ddp.register_comm_hook(None, hook)
        F.mse_loss(ddp(shard(x, RANK)), shard(y, RANK)).backward()
        got = grads(model)
        for k in want:  # one rounding of the averaged value, plus the float32 sums
            err = np.abs(got[k] - want[k]).max()
            assert err <= 2 * tol * scale + 1e-6, (hook.__name__, k, err, scale)
        if hook is not comm_hooks.allreduce_hook:
            stats = ddp.last_step_stats()
            assert all(b["wire_bytes"] * 2 == b["bytes"] for b in stats["buckets"]), stats
    # Called directly, a hook averages one tensor over the ranks.
    for hook, tol in ((comm_hooks.allreduce_hook, 1e-6), (comm_hooks.bf16_compress_hook, 2 ** -7)):
        t = iccrt.full((5,), float(RANK + 1))
        out = hook(None, t)
        assert out is t
        mean = (SIZE + 1) / 2
        assert np.allclose(t.numpy(), mean, rtol=tol), (hook.__name__, t.numpy(), mean)


def scenario_overlap():
    """Six 128x128 layers, a bucket per layer: the first buckets are reduced while backward still runs."""
    iccrt.manual_seed(5)
    layers = []
    for _ in range(6):
        layers += [nn.Linear(128, 128), nn.Tanh()]
    model = nn.Sequential(*layers)
    ddp = DDP(model, bucket_cap_mb=0.07)
    x = iccrt.randn(64, 128)
    for _ in range(4):
        model.zero_grad()
        out = ddp(x)
        loss = (out * out).mean()
        loss.backward()
    stats = ddp.last_step_stats()
    print("STATS " + json.dumps(stats), flush=True)
    first = stats["buckets"][0]
    assert stats["num_buckets"] >= 6, stats
    assert stats["launched_before_backward_end"] >= 1, stats
    assert first["launched_before_backward_end"] and first["launch_s"] < stats["backward_end_s"], stats
    assert 0 <= stats["hidden_fraction"] <= 1, stats
    assert stats["first_grad_after_forward_s"] >= 0, stats  # DDP's forward stamped its end


def scenario_raise():
    """Rank 1 raises between forward and backward; the others' backward fails with DistError, no hang."""
    x, y = data()
    iccrt.manual_seed(1)
    model = Net()
    ddp = DDP(model, bucket_cap_mb=SMALL_BUCKETS_MB)
    loss = F.mse_loss(ddp(shard(x, RANK)), shard(y, RANK))
    if RANK == 1:
        raise RuntimeError("injected failure on rank 1")
    t0 = time.monotonic()
    try:
        loss.backward()
        raise AssertionError("backward succeeded although rank 1 died")
    except dist.DistError as e:
        elapsed = time.monotonic() - t0
        print(f"rank {RANK}: DistError after {elapsed:.2f} s: {e}", flush=True)
        assert elapsed < 20, elapsed


def expect(exc, fn, *needles):
    try:
        fn()
    except exc as e:
        for n in needles:
            assert n in str(e), (n, str(e))
        return
    raise AssertionError(f"expected {exc.__name__}")


def scenario_errors():
    iccrt.manual_seed(2)
    model = Net(16, True)
    expect(ValueError, lambda: DDP(model, bucket_cap_mb=0), "bucket_cap_mb")
    expect(ValueError, lambda: DDP(model, bucket_cap_mb=-1.5), "bucket_cap_mb")
    expect(TypeError, lambda: DDP(model, bucket_cap_mb="25"), "bucket_cap_mb")
    expect(ValueError, lambda: DDP(model, device_ids=[0]), "device_ids")
    expect(TypeError, lambda: DDP(object()), "iccrt.nn.Module")
    frozen = nn.Linear(2, 2)
    frozen.requires_grad_(False)
    expect(ValueError, lambda: DDP(frozen), "requires grad")

    ddp = DDP(model)
    expect(TypeError, lambda: ddp.register_comm_hook(None, lambda state, bucket: bucket), "bf16_compress_hook")
    ddp.register_comm_hook(None, comm_hooks.fp16_compress_hook)
    expect(RuntimeError, lambda: ddp.register_comm_hook(None, comm_hooks.allreduce_hook), "once")

    # side and never get no gradient: named, with the way out.
    x, y = data()
    loss = F.mse_loss(ddp(shard(x, RANK)), shard(y, RANK))
    expect(ValueError, loss.backward, "side.weight", "never.weight", "find_unused_parameters=True")

    # torch's "module." prefix, and loading it back.
    sd = ddp.state_dict()
    assert all(k.startswith("module.") for k in sd) and "module.fc1.weight" in sd, list(sd)
    saved = {k: v.clone() for k, v in sd.items()}
    with iccrt.no_grad():
        model.fc1.weight.fill_(0.0)
    ddp.load_state_dict(saved)
    assert np.array_equal(model.fc1.weight.numpy(), saved["module.fc1.weight"].numpy())

    # Different models on different ranks: every rank raises, naming rank 1 and the parameter.
    iccrt.manual_seed(2)
    odd = Net(17 if RANK == 1 else 16)
    expect(ValueError, lambda: DDP(odd), "rank 1", "fc1.weight", "[17, 6]", "[16, 6]")


SCENARIOS = {
    "equiv": scenario_equiv,
    "unused": scenario_unused,
    "hooks": scenario_hooks,
    "overlap": scenario_overlap,
    "raise": scenario_raise,
    "errors": scenario_errors,
}


def main():
    try:
        dist.init_process_group()
        SCENARIOS[sys.argv[1]]()
    except BaseException:  # noqa: BLE001 - report anything, then fail this rank
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    print(f"WORKER-OK rank {RANK}", flush=True)


if __name__ == "__main__":
    main()
