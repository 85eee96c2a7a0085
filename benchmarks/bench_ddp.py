"""Data-parallel training on this host: weak scaling, overlap of all-reduce with backward, ZeRO memory per rank.

    PYTHONPATH=python python3 benchmarks/bench_ddp.py                  # the recorded configuration
    PYTHONPATH=python python3 benchmarks/bench_ddp.py --layers 2 --steps 3 --rounds 1   # a quick look

Weak scaling: the example GPT trains with a fixed batch per rank, once as a plain single process (no wrapper, no
process group) and once on 2 ranks under `python -m iccrt.run` with DistributedDataParallel; each rank has one
OpenMP thread. Efficiency = tokens/s(2 ranks) / (2 x tokens/s(1 rank)); 1.0 is perfect scaling. The two runs
alternate --rounds times and the median of each is kept, so slow drift of a shared machine hits both alike.

Overlap: DDP's own per-step statistics (ddp.last_step_stats()): how many buckets started their all-reduce
before the backward pass ended, and the fraction of all-reduce time that ran while backward was still computing.

ZeRO: ZeroDataParallel.memory_report() per stage on --zero-ranks ranks against the one-process sizes.

Every number comes from this one run; --json FILE writes them all.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "examples", "gpt"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8, help="sequences per rank")
    p.add_argument("--vocab", type=int, default=65)
    p.add_argument("--steps", type=int, default=6, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="alternating 1-rank / 2-rank runs")
    p.add_argument("--bucket-cap-mb", type=float, default=25.0)
    p.add_argument("--zero-ranks", type=int, nargs="*", default=[2, 4], help="world sizes for the ZeRO report")
    p.add_argument("--json", default=None, help="write the results here")
    # Internal: what one rank runs.
    p.add_argument("--role", choices=["driver", "single", "ddp", "zero"], default="driver", help=argparse.SUPPRESS)
    p.add_argument("--stage", type=int, default=1, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------------------------------
# One rank

def build(a, seed=0):
    import iccrt
    from model import GPT, GPTConfig

    iccrt.manual_seed(seed)
    cfg = GPTConfig(vocab_size=a.vocab, block_size=a.seq_len, n_layer=a.layers, n_head=a.heads, n_embd=a.d_model)
    return GPT(cfg, generator=iccrt.Generator(seed))


def batch(a, rank, step):
    import numpy as np

    import iccrt

    g = np.random.default_rng([rank, step])
    tokens = g.integers(0, a.vocab, size=(a.batch_size, a.seq_len + 1))
    return iccrt.from_numpy(tokens[:, :-1].copy()), iccrt.from_numpy(tokens[:, 1:].copy())


def train_steps(a, net, opt, rank, after_step=None):
    """Runs warmup + timed steps; returns the median step time (s) and the per-step hook results."""
    extra, times = [], []
    for i in range(a.warmup + a.steps):
        x, y = batch(a, rank, i)
        t0 = time.perf_counter()
        _, loss = net(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
            if after_step is not None:
                extra.append(after_step())
    return statistics.median(times), extra


def rank_main(a):
    import iccrt

    if a.role == "single":
        model = build(a)
        opt = iccrt.optim.AdamW(model.parameters(), lr=3e-4)
        t, _ = train_steps(a, model, opt, 0)
        print("RESULT " + json.dumps({"step_s": t, "tok_s": a.batch_size * a.seq_len / t}), flush=True)
        return
    import iccrt.distributed as dist
    from iccrt.parallel import DistributedDataParallel, ZeroDataParallel

    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    model = build(a)
    if a.role == "ddp":
        net = DistributedDataParallel(model, bucket_cap_mb=a.bucket_cap_mb)
        opt = iccrt.optim.AdamW(model.parameters(), lr=3e-4)
        t, stats = train_steps(a, net, opt, rank, after_step=net.last_step_stats)
        # The slowest rank sets the pace: report the max step time over ranks.
        tt = iccrt.tensor([t], dtype=iccrt.float64)
        dist.all_reduce(tt, op=dist.ReduceOp.MAX)
        if rank == 0:
            t = tt.item()
            print("RESULT " + json.dumps({"step_s": t, "tok_s": world * a.batch_size * a.seq_len / t,
                                          "stats": stats}), flush=True)
    else:
        net = ZeroDataParallel(model, stage=a.stage, bucket_cap_mb=a.bucket_cap_mb)
        opt = iccrt.optim.AdamW(net.parameters(), lr=3e-4)
        a.warmup, a.steps = 1, 1
        train_steps(a, net, opt, rank)
        report = net.memory_report(opt)
        if rank == 0:
            print("RESULT " + json.dumps(report), flush=True)
    dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------------------------
# The driver

def run(a, role, nproc, extra=()):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMI_", "SLURM_", "ICCRT_"))}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "python"),
                                                                 env.get("PYTHONPATH", "")]))
    args = [os.path.abspath(__file__), "--role", role, "--layers", str(a.layers), "--d-model", str(a.d_model),
            "--heads", str(a.heads), "--seq-len", str(a.seq_len), "--batch-size", str(a.batch_size),
            "--vocab", str(a.vocab), "--steps", str(a.steps), "--warmup", str(a.warmup),
            "--bucket-cap-mb", str(a.bucket_cap_mb), *extra]
    if role == "single":
        cmd = [sys.executable, *args]
    else:
        cmd = [sys.executable, "-m", "iccrt.run", "--nproc-per-node", str(nproc), "--no-prefix", *args]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def overlap_summary(stats):
    """Medians over the timed steps of DDP's statistics."""
    keys = ("buckets", "buckets_launched_before_backward_end", "allreduce_s", "hidden_fraction")
    out = {}
    for k in keys:
        vals = [s[k] for s in stats if k in s]
        if vals:
            out[k] = statistics.median(vals)
    return out


def driver(a):
    model = build(a)
    n_params = model.num_parameters()
    print(f"# GPT {a.layers} layers, d={a.d_model}, seq {a.seq_len}, {a.batch_size} sequences per rank; "
          f"{n_params / 1e6:.2f}M parameters ({4 * n_params / 2**20:.1f} MiB of fp32 gradients per step); "
          f"one OpenMP thread per rank; {os.cpu_count()} cores")
    del model
    singles, ddps = [], []
    for r in range(a.rounds):
        singles.append(run(a, "single", 1))
        ddps.append(run(a, "ddp", 2))
        print(f"# round {r + 1}: 1 rank {singles[-1]['tok_s']:.0f} tok/s, 2 ranks {ddps[-1]['tok_s']:.0f} tok/s",
              flush=True)
    tok1 = statistics.median(s["tok_s"] for s in singles)
    tok2 = statistics.median(d["tok_s"] for d in ddps)
    eff = tok2 / (2 * tok1)
    ov = overlap_summary([s for d in ddps for s in d["stats"]])
    res = {"config": {k: getattr(a, k) for k in ("layers", "d_model", "heads", "seq_len", "batch_size", "steps",
                                                 "warmup", "rounds", "bucket_cap_mb")},
           "parameters": n_params, "tok_s_1rank": tok1, "tok_s_2ranks": tok2, "weak_scaling_efficiency": eff,
           "overlap": ov, "zero": {}}
    print(f"weak scaling: 1 rank {tok1:.0f} tok/s, 2 ranks {tok2:.0f} tok/s -> efficiency {eff:.3f} "
          f"(target >= 0.9)")
    if ov:
        print(f"overlap: {ov.get('buckets_launched_before_backward_end', 0):.0f} of {ov.get('buckets', 0):.0f} "
              f"buckets started before backward ended; all-reduce {1e3 * ov.get('allreduce_s', 0):.1f} ms/step, "
              f"{100 * ov.get('hidden_fraction', 0):.0f}% of it hidden behind backward")
    for n in a.zero_ranks:
        for stage in (1, 2, 3):
            rep = run(a, "zero", n, ("--stage", str(stage)))
            res["zero"][f"{n}/{stage}"] = rep
        print(f"ZeRO on {n} ranks, per-rank MiB (parameters / gradients / optimizer state), one process: "
              f"{4 * n_params / 2**20:.1f} / {4 * n_params / 2**20:.1f} / {8 * n_params / 2**20:.1f}")
        for stage in (1, 2, 3):
            rep = res["zero"][f"{n}/{stage}"]
            print(f"  stage {stage}: {rep['parameters'] / 2**20:.1f} / {rep['gradients'] / 2**20:.1f} / "
                  f"{rep['optimizer_state'] / 2**20:.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


def main(argv=None):
    a = parse_args(argv)
    if a.role == "driver":
        driver(a)
    else:
        rank_main(a)


if __name__ == "__main__":
    main()
