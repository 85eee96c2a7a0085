"""One rank of a multi-process ZeroDataParallel test (launched by test_zero.py through multirank.launch).

    RANK=r WORLD_SIZE=n MASTER_ADDR=127.0.0.1 MASTER_PORT=p python tests/python/zero_worker.py <scenario> [args]

Every rank also trains the one-process reference itself (the same initial weights, the full batch, a plain module
and the same optimizer), so it can check its ZeRO model against it. Scenarios: equiv (stages 1-3 x SGD / AdamW,
no_sync accumulation, memory_report, checkpoints), fail (a rank raises mid-step; the others must fail fast).
"""

import os
import sys
import tempfile
import time
import traceback

import numpy as np

import iccrt
import iccrt.distributed as dist
import iccrt.nn.functional as F
from iccrt import nn
from iccrt.parallel.zero import ZeroDataParallel

RANK = int(os.environ.get("RANK", "0"))
SIZE = int(os.environ.get("WORLD_SIZE", "1"))
V, D, H, N_BLOCKS = 11, 6, 7, 4
B, T, STEPS = 12, 5, 3
TOL = 2e-5


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, H)
        self.fc2 = nn.Linear(H, D)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.ln(x))))


class Net(nn.Module):
    """515 trainable parameters (prime to 2, 3 and 4): the stage-3 root holds 79 (embedding tied to the head,
    final LayerNorm, a scalar), each block 109. blocks[0] runs twice per forward."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = nn.ModuleList([Block() for _ in range(N_BLOCKS)])
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, V, bias=False)
        self.head.weight = self.emb.weight
        self.scale = nn.Parameter(iccrt.ones(1))
        self.register_buffer("offset", iccrt.zeros(V))

    def forward(self, idx, targets):
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x)
        x = self.blocks[0](x)
        logits = self.head(self.ln_f(x)) * self.scale + self.offset
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def make_model(seed):
    iccrt.manual_seed(seed)
    m = Net()
    m.offset.copy_(iccrt.randn(V) * 0.1)
    return m


def batch(step, micro=0):
    g = np.random.default_rng([step, micro])
    return (iccrt.tensor(g.integers(0, V, size=(B, T))), iccrt.tensor(g.integers(0, V, size=(B, T))))


def mine(t):
    n = B // SIZE
    return t.narrow(0, RANK * n, n)


def make_opt(kind, params):
    if kind == "sgd":
        return iccrt.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)
    return iccrt.optim.AdamW(params, lr=1e-2, weight_decay=0.1)


def max_diff(a, b):
    assert list(a) == list(b), f"state_dict keys differ: {list(a)} vs {list(b)}"
    return max(float((a[k].to(iccrt.float64) - b[k].to(iccrt.float64)).abs().max()) for k in a)


def opt_bytes(opt):
    return sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values()
               if isinstance(v, iccrt.Tensor))


def check_memory(z, zopt, ref_opt, stage):
    rep = z.memory_report(zopt)
    model = rep["model_parameters"]
    assert model == 515 * 4, rep
    groups = len(z._groups)
    pad = 4 * groups  # at most one padding element per group in a shard
    assert rep["stage"] == stage and rep["world_size"] == SIZE, rep
    full_opt = opt_bytes(ref_opt)
    assert full_opt / SIZE <= rep["optimizer_state"] <= full_opt / SIZE + pad * (full_opt // model), (rep, full_opt)
    shard = model / SIZE
    if stage == 1:
        assert model <= rep["gradients"] <= model + pad * SIZE, rep
    else:
        assert shard <= rep["gradients"] <= shard + pad, rep
    if stage < 3:
        assert model <= rep["parameters"] <= model + pad * SIZE, rep
    else:
        assert shard <= rep["parameters"] <= shard + pad, rep
        assert rep["gathered_now"] == 0 and all(g.full._storage_released for g in z._groups), rep
        # Gathered at once, at most: the root, blocks[0] (it runs twice, so it stays gathered from its second
        # call's backward to its first call's), the running block and (with prefetch) the next one; padded.
        units = 3 if z.prefetch else 2
        most = (79 + units * 109 + (units + 1) * (SIZE - 1)) * 4
        assert rep["gathered_peak"] <= most < model, rep
    print(f"MEMORY stage={stage} N={SIZE} " + " ".join(f"{k}={v}" for k, v in rep.items()
                                                       if k not in ("stage", "world_size", "rank")), flush=True)


def train_pair(stage, kind, micro, **zero_kw):
    """K steps of the reference (full batch) and of ZeRO (this rank's rows); `micro` micro-batches per step,
    accumulated (under no_sync for all but the last). Returns the ZeRO model, its optimizer and the reference."""
    ref = make_model(0)
    z = ZeroDataParallel(make_model(0 if RANK == 0 else 100 + RANK), stage=stage, **zero_kw)
    ref_opt, zopt = make_opt(kind, ref.parameters()), make_opt(kind, z.parameters())
    assert max_diff(z.state_dict(), ref.state_dict()) == 0.0, "construction did not broadcast rank 0's weights"
    for step in range(STEPS):
        for m in range(micro):
            idx, y = batch(step, m)
            ref(idx, y).backward()
            if m + 1 < micro:
                with z.no_sync():
                    z(mine(idx), mine(y)).backward()
            else:
                z(mine(idx), mine(y)).backward()
        if kind == "adamw":  # clipping that bites: the global norm is above 0.5
            n_ref = nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
            n_z = z.clip_grad_norm_(0.5)
            assert abs(n_ref.item() - n_z.item()) <= 1e-5 * n_ref.item(), (n_ref.item(), n_z.item())
        ref_opt.step()
        zopt.step()
        if step == STEPS - 1:
            check_memory(z, zopt, ref_opt, stage)
        ref_opt.zero_grad()
        zopt.zero_grad()
    d = max_diff(z.state_dict(), ref.state_dict())
    assert d <= TOL, f"stage {stage} {kind} micro={micro} {zero_kw}: parameters differ by {d}"
    return z, zopt, ref, ref_opt


def check_checkpoint(z, kind, path):
    """state_dict -> iccrt.save -> iccrt.load into a plain module; load_state_dict into a fresh ZeRO-3 model,
    which then trains on as the reference does."""
    sd = z.state_dict()
    if RANK == 0:
        iccrt.save(sd, path)
    dist.barrier()
    plain = make_model(7)
    plain.load_state_dict(iccrt.load(path))
    assert max_diff(plain.state_dict(), sd) == 0.0
    z3 = ZeroDataParallel(make_model(50 + RANK), stage=3)
    z3.load_state_dict(iccrt.load(path))
    assert max_diff(z3.state_dict(), sd) == 0.0, "ZeRO-3 load_state_dict did not re-shard"
    # One more step from the loaded weights, against the plain module (fresh optimizers on both sides).
    ref2 = plain
    o_ref, o_z = make_opt(kind, ref2.parameters()), make_opt(kind, z3.parameters())
    idx, y = batch(99)
    ref2(idx, y).backward()
    z3(mine(idx), mine(y)).backward()
    o_ref.step()
    o_z.step()
    assert max_diff(z3.state_dict(), ref2.state_dict()) <= TOL
    # Stage 3 parameters outside the forward live in released memory: using one raises, it never reads garbage.
    try:
        (z3.module.blocks[1].fc1.weight * 2).sum()
    except ValueError as e:
        assert "memory was released" in str(e), e
    else:
        raise AssertionError("a released stage-3 parameter was readable outside the forward")
    bad = dict(sd)
    bad["blocks.0.fc1.weight"] = iccrt.zeros(3, 3)
    expect_error(ValueError, "size mismatch", z3.load_state_dict, bad)
    del bad["blocks.0.fc1.weight"]
    expect_error(ValueError, "missing keys", z3.load_state_dict, bad)


def expect_error(kind, text, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except kind as e:
        assert text in str(e), f"expected '{text}' in: {e}"
        return
    raise AssertionError(f"{fn.__name__} did not raise {kind.__name__}")


def scenario_equiv(stages="123", kinds="sgd,adamw"):
    dist.init_process_group()
    expect_error(ValueError, "stage must be 1, 2 or 3", ZeroDataParallel, Net(), stage=4)
    expect_error(ValueError, "units apply to stage 3", ZeroDataParallel, Net(), stage=2, units=[Block])
    kinds = kinds.split(",")
    last = None
    for stage in (int(s) for s in stages):
        for kind in kinds:
            last = train_pair(stage, kind, 1) + (kind,)
        train_pair(stage, "sgd", 2)  # no_sync accumulation
    if "1" in stages:
        train_pair(1, "adamw", 1, bucket_cap_mb=0.0002)  # ~50-element groups: many groups, most padded
    if "3" in stages:
        train_pair(3, "adamw", 1, units=[Block], prefetch=False)
    z, kind = last[0], last[-1]
    shared = os.environ.get("ZERO_CKPT_DIR", tempfile.gettempdir())  # a directory every rank sees
    path = os.path.join(shared, f"zero-{os.environ.get('MASTER_PORT', '0')}.safetensors")
    check_checkpoint(z, kind, path)
    dist.barrier()
    if RANK == 0:
        os.remove(path)


def scenario_fail(victim="1"):
    """Rank `victim` raises after its forward; the others, in backward's collectives, must fail well within the
    group timeout instead of hanging."""
    dist.init_process_group()
    z = ZeroDataParallel(make_model(0), stage=3)
    idx, y = batch(0)
    loss = z(mine(idx), mine(y))
    if RANK == int(victim):
        raise RuntimeError("injected failure mid-step")
    started = time.monotonic()
    try:
        loss.backward()
        iccrt.optim.SGD(z.parameters(), lr=0.1).step()
        z(mine(idx), mine(y))
    except dist.DistError as e:
        print(f"FAILED-FAST after {time.monotonic() - started:.2f}s: {type(e).__name__}: {e}", flush=True)
        sys.exit(3)
    raise AssertionError("the step completed although a rank died")


SCENARIOS = {"equiv": scenario_equiv, "fail": scenario_fail}


def main():
    try:
        SCENARIOS[sys.argv[1]](*sys.argv[2:])
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - report anything, then fail this rank
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    print(f"WORKER-OK rank {RANK}", flush=True)


if __name__ == "__main__":
    main()
