"""Train a character-level GPT on examples/gpt/data/input.txt (Shakespeare) with iccrt.

    PYTHONPATH=python python3 examples/gpt/train.py --steps 200
    PYTHONPATH=python python3 examples/gpt/train.py --steps 400 --resume ckpt.safetensors --save ckpt.safetensors

Prints the unigram entropy of the text first: a model that learned only character frequencies reaches that loss
(in nats), so a loss below it means the model uses context. Then one line per --log-every steps:
"step N | loss X | tok/s Y | lr Z", and the validation loss every --eval-every steps.

--save writes model, optimizer, scheduler, step and the random-number states to one safetensors file (atomically,
at every evaluation and at the end); --resume continues from such a file exactly where it stopped (same batches,
same dropout masks), so a run split in two (--stop-at 150, then --resume) matches an uninterrupted one.

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
    return p.parse_args(argv)


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


def main(argv=None):
    args = parse_args(argv)
    iccrt.manual_seed(args.seed)
    text, chars, ids = load_text(args.data)
    vocab = len(chars)
    print(f"data: {len(text)} characters, vocabulary {vocab}; unigram entropy {unigram_entropy(ids, vocab):.4f} "
          f"nats (the loss of a model that ignores context)")
    split = int(0.9 * len(ids))
    train_data = Batches(ids[:split], args.batch_size, args.seq_len, args.seed + 1, args.device)
    val_data = Batches(ids[split:], args.batch_size, args.seq_len, args.seed + 2, args.device)

    cfg = GPTConfig(vocab_size=vocab, block_size=args.seq_len, n_layer=args.layers, n_head=args.heads,
                    n_embd=args.d_model, dropout=args.dropout)
    model = GPT(cfg, generator=iccrt.Generator(args.seed)).to(args.device)
    print(f"model: {model.num_parameters() / 1e6:.3f}M parameters, {cfg}")

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
        print(f"resumed from {args.resume} at step {step}")

    def save():
        if not args.save:
            return
        iccrt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "scaler": scaler.state_dict(), "step": step, "config": dataclasses.asdict(cfg),
                    "rng": {"train_batches": train_data.state(), "val_batches": val_data.state(),
                            "default": generator_state(iccrt.default_generator)}}, args.save)
        print(f"saved {args.save} at step {step}")

    model.train()
    t0, tokens = time.perf_counter(), 0
    stop = args.steps if args.stop_at is None else min(args.stop_at, args.steps)
    while step < stop:
        x, y = train_data.next()
        with amp:
            _, loss = model(x, y)
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
        tokens += x.numel()
        if step % args.log_every == 0 or step == stop:
            loss_value = loss.item()  # synchronises, so the timing below is of finished work
            dt = time.perf_counter() - t0
            print(f"step {step} | loss {loss_value:.4f} | tok/s {tokens / dt:.0f} | lr {lr:.3e}", flush=True)
            if not math.isfinite(loss_value):
                raise SystemExit("the loss is not finite; lower --lr")
            t0, tokens = time.perf_counter(), 0
        if args.eval_every and (step % args.eval_every == 0 or step == stop):
            print(f"step {step} | val loss {evaluate(model, val_data, args.eval_batches, amp):.4f}", flush=True)
            save()
            t0, tokens = time.perf_counter(), 0
    if not args.eval_every:
        save()
    if args.sample:
        start = iccrt.tensor([[chars.index("\n")]], device=args.device)
        out = model.generate(start, args.sample, temperature=0.8, generator=iccrt.Generator(args.seed))
        print("".join(chars[i] for i in out[0].tolist()))


if __name__ == "__main__":
    main()
