"""Train a character-level GPT on examples/gpt/data/input.txt (Shakespeare) with iccrt.

    PYTHONPATH=python python3 examples/gpt/train.py --steps 200
    PYTHONPATH=python python3 examples/gpt/train.py --steps 400 --resume ckpt.safetensors --save ckpt.safetensors

Prints the unigram entropy of the text first: a model that learned only character frequencies reaches that loss
(in nats), so a loss below it means the model uses context. Then one line per --log-every steps:
"step N | loss X | tok/s Y | lr Z", and the validation loss every --eval-every steps.

--save writes model, optimizer, scheduler, step and the random-number states to one safetensors file (atomically,
at every evaluation and at the end); --resume continues from such a file exactly where it stopped (same batches,
same dropout masks), so a run split in two (--stop-at 150, then --resume) matches an uninterrupted one.

Data parallel: --dp N relaunches this script on N local ranks through the launcher (python -m iccrt.run
--nproc-per-node N); it also runs unchanged under the launcher, mpirun or srun. --batch-size stays the global
batch: every rank draws the same windows and trains on its 1/N slice, the model is wrapped in
iccrt.parallel.DistributedDataParallel (gradients averaged across ranks), so N ranks follow the same trajectory as
one process. Rank 0 prints and saves.

On a machine shared with other busy processes, OMP_WAIT_POLICY=passive (or OMP_NUM_THREADS=1 for small models)
keeps OpenMP's spinning threads from slowing every op down.
"""

import argparse
import dataclasses
import math
import os
import sys
import time

import numpy as np

import iccrt
from iccrt import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GPT, GPTConfig  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "input.txt")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300, help="length of the training run (and of its lr schedule)")
    p.add_argument("--stop-at", type=int, default=None,
                   help="stop (and save) after this step, to continue later with --resume (default: --steps)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=64, help="tokens per sequence (also the model's block size)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    p.add_argument("--min-lr", type=float, default=3e-4, help="learning rate at the end of the cosine decay")
    p.add_argument("--warmup", type=int, default=50, help="linear warmup steps")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm (0: no clipping)")
    p.add_argument("--eval-every", type=int, default=100, help="steps between validation losses (0: never)")
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none", help="autocast dtype for matmuls")
    p.add_argument("--save", default=None, help="checkpoint file to write")
    p.add_argument("--resume", default=None, help="checkpoint file to continue from")
    p.add_argument("--sample", type=int, default=0, help="characters to generate at the end")
    p.add_argument("--data", default=DATA)
    p.add_argument("--dp", type=int, default=None,
                   help="data-parallel ranks on this machine: relaunches the script with python -m iccrt.run "
                        "(default: the world size of an outer launcher, else 1)")
    return p.parse_args(argv)


def launched_world_size():
    """The world size an outer launcher (iccrt.run / torchrun, mpirun, srun) gave this process, else 1."""
    for var in ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        if var in os.environ:
            return int(os.environ[var])
    if "SLURM_PROCID" in os.environ and "SLURM_NTASKS" in os.environ:
        return int(os.environ["SLURM_NTASKS"])
    return 1


def relaunch(args, argv):
    """--dp N outside a launcher: replaces this process by `python -m iccrt.run --nproc-per-node N` running the
    same script with the same arguments (minus --dp)."""
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--dp":
            skip = True
        elif not a.startswith("--dp="):
            rest.append(a)
    cmd = [sys.executable, "-m", "iccrt.run", "--nproc-per-node", str(args.dp), os.path.abspath(__file__), *rest]
    print("relaunching: " + " ".join(cmd), flush=True)
    os.execv(sys.executable, cmd)


def load_text(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((stoi[c] for c in text), dtype=np.int64, count=len(text))
    return text, chars, ids


def unigram_entropy(ids, vocab):
    """-sum p log p of the character frequencies, in nats."""
    counts = np.bincount(ids, minlength=vocab).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


class Batches:
    """Random windows of a token array; offsets drawn from an iccrt.Generator so the stream can be resumed."""

    def __init__(self, ids, batch_size, seq_len, seed, device):
        if len(ids) <= seq_len + 1:
            raise ValueError(f"the text ({len(ids)} tokens) is shorter than one sequence ({seq_len + 1})")
        self.ids, self.b, self.t, self.device = ids, batch_size, seq_len, device
        self.gen = iccrt.Generator(seed)

    def next(self):
        u = iccrt.rand(self.b, dtype=iccrt.float64, generator=self.gen).numpy()
        starts = (u * (len(self.ids) - self.t - 1)).astype(np.int64)
        x = np.stack([self.ids[s:s + self.t] for s in starts])
        y = np.stack([self.ids[s + 1:s + self.t + 1] for s in starts])
        return iccrt.from_numpy(x).to(device=self.device), iccrt.from_numpy(y).to(device=self.device)

    def state(self):
        return {"seed": self.gen.seed, "offset": self.gen.offset}

    def set_state(self, s):
        self.gen.manual_seed(s["seed"])
        self.gen.offset = s["offset"]


def generator_state(g):
    return {"seed": g.seed, "offset": g.offset}


def set_generator_state(g, s):
    g.manual_seed(s["seed"])
    g.offset = s["offset"]


@iccrt.no_grad()
def evaluate(model, batches, n, amp):
    model.eval()
    total = 0.0
    for _ in range(n):
        x, y = batches.next()
        with amp:
            _, loss = model(x, y)
        total += loss.item()
    model.train()
    return total / n


class RankSlice:
    """Every rank draws the same global batch and keeps its 1/N slice of rows (so N ranks see exactly the
    batches one process would)."""

    def __init__(self, batches, rank, world):
        if batches.b % world:
            raise SystemExit(f"--batch-size {batches.b} must be divisible by the number of ranks ({world})")
        self.batches, self.rows = batches, slice(rank * batches.b // world, (rank + 1) * batches.b // world)

    def next(self):
        x, y = self.batches.next()
        return x[self.rows].contiguous(), y[self.rows].contiguous()

    def state(self):
        return self.batches.state()

    def set_state(self, s):
        self.batches.set_state(s)


def global_mean(value, world):
    """The mean over ranks of a Python float (the ranks' losses)."""
    if world == 1:
        return value
    t = iccrt.tensor([value], dtype=iccrt.float64)
    iccrt.distributed.all_reduce(t, op=iccrt.distributed.ReduceOp.AVG)
    return t.item()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    world = launched_world_size()
    if args.dp is not None and args.dp < 1:
        raise SystemExit(f"--dp must be at least 1, got {args.dp}")
    if args.dp is not None and args.dp > 1 and world == 1:
        relaunch(args, argv)
    if args.dp is not None and world > 1 and args.dp != world:
        raise SystemExit(f"--dp {args.dp} differs from the launcher's world size {world}")
    rank = 0
    if world > 1:
        import iccrt.distributed as dist
        from iccrt.parallel import DistributedDataParallel

        dist.init_process_group()
        rank = dist.get_rank()
    print_ = print if rank == 0 else (lambda *a, **k: None)
    iccrt.manual_seed(args.seed)
    text, chars, ids = load_text(args.data)
    vocab = len(chars)
    print_(f"data: {len(text)} characters, vocabulary {vocab}; unigram entropy {unigram_entropy(ids, vocab):.4f} "
          f"nats (the loss of a model that ignores context)")
    split = int(0.9 * len(ids))
    train_data = Batches(ids[:split], args.batch_size, args.seq_len, args.seed + 1, args.device)
    val_data = Batches(ids[split:], args.batch_size, args.seq_len, args.seed + 2, args.device)
    if world > 1:
        train_data, val_data = RankSlice(train_data, rank, world), RankSlice(val_data, rank, world)

    cfg = GPTConfig(vocab_size=vocab, block_size=args.seq_len, n_layer=args.layers, n_head=args.heads,
                    n_embd=args.d_model, dropout=args.dropout)
    model = GPT(cfg, generator=iccrt.Generator(args.seed)).to(args.device)
    print_(f"model: {model.num_parameters() / 1e6:.3f}M parameters, {cfg}" +
           (f"; data parallel on {world} ranks, {args.batch_size // world} sequences each" if world > 1 else ""))

    # Weight decay on matrices only (not on biases, LayerNorm weights).
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = iccrt.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    sched = iccrt.optim.lr_scheduler.CosineWarmupLR(opt, min(args.warmup, args.steps), args.steps, eta_min=args.min_lr)
    amp_dtype = {"none": None, "bf16": iccrt.bfloat16, "fp16": iccrt.float16}[args.amp]
    device_type = "cuda" if args.device.startswith("cuda") else "cpu"
    amp = iccrt.autocast(device_type, dtype=amp_dtype or iccrt.bfloat16, enabled=amp_dtype is not None)
    scaler = iccrt.amp.GradScaler(enabled=args.amp == "fp16")

    step = 0
    if args.resume:
        ckpt = iccrt.load(args.resume, map_location=args.device)
        if ckpt["config"] != dataclasses.asdict(cfg):
            raise SystemExit(f"--resume: the checkpoint's model {ckpt['config']} differs from this run's "
                             f"{dataclasses.asdict(cfg)}")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        if args.amp == "fp16":
            scaler.load_state_dict(ckpt["scaler"])
        step = ckpt["step"]
        train_data.set_state(ckpt["rng"]["train_batches"])
        val_data.set_state(ckpt["rng"]["val_batches"])
        set_generator_state(iccrt.default_generator, ckpt["rng"]["default"])
        print_(f"resumed from {args.resume} at step {step}")
    # The DDP wrapper after the (possibly resumed) weights are in place: it broadcasts rank 0's weights.
    net = DistributedDataParallel(model) if world > 1 else model

    def save():
        if not args.save or rank != 0:
            return
        iccrt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "scaler": scaler.state_dict(), "step": step, "config": dataclasses.asdict(cfg),
                    "rng": {"train_batches": train_data.state(), "val_batches": val_data.state(),
                            "default": generator_state(iccrt.default_generator)}}, args.save)
        print_(f"saved {args.save} at step {step}")

    model.train()
    t0, tokens = time.perf_counter(), 0
    stop = args.steps if args.stop_at is None else min(args.stop_at, args.steps)
    while step < stop:
        x, y = train_data.next()
        with amp:
            _, loss = net(x, y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if args.grad_clip > 0:
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        lr = sched.get_last_lr()[0]
        scaler.step(opt)
        scaler.update()
        sched.step()
        step += 1
        tokens += x.numel() * world
        if step % args.log_every == 0 or step == stop:
            loss_value = global_mean(loss.item(), world)  # synchronises, so the timing is of finished work
            dt = time.perf_counter() - t0
            print_(f"step {step} | loss {loss_value:.4f} | tok/s {tokens / dt:.0f} | lr {lr:.3e}", flush=True)
            if not math.isfinite(loss_value):
                raise SystemExit("the loss is not finite; lower --lr")
            t0, tokens = time.perf_counter(), 0
        if args.eval_every and (step % args.eval_every == 0 or step == stop):
            val = global_mean(evaluate(model, val_data, args.eval_batches, amp), world)
            print_(f"step {step} | val loss {val:.4f}", flush=True)
            save()
            t0, tokens = time.perf_counter(), 0
    if not args.eval_every:
        save()
    if args.sample and rank == 0:
        start = iccrt.tensor([[chars.index("\n")]], device=args.device)
        out = model.generate(start, args.sample, temperature=0.8, generator=iccrt.Generator(args.seed))
        print("".join(chars[i] for i in out[0].tolist()))


if __name__ == "__main__":
    main()
