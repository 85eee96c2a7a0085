"""Training-step throughput of the example GPT on CPU: iccrt, and PyTorch eager in the same run when importable.

    PYTHONPATH=python python3 benchmarks/bench_gpt.py                 # issue 4's config: 6 layers, d=384, ...
    PYTHONPATH=python python3 benchmarks/bench_gpt.py --layers 2 --steps 3   # a quick look

One step = forward, cross-entropy, backward, gradient clipping and an AdamW update on a [batch, seq] batch of
random tokens. Prints tokens/s for each framework and, when both ran, the ratio iccrt / PyTorch. The two models
have the same architecture, sizes and thread count; the first --warmup steps are not timed.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples", "gpt"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d-model", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--vocab", type=int, default=65, help="the example's character vocabulary size")
    p.add_argument("--steps", type=int, default=5, help="timed steps per framework")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json", default=None, help="write the results here")
    return p.parse_args(argv)


def time_steps(step, warmup, steps):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_iccrt(a, tokens):
    import iccrt
    from model import GPT, GPTConfig

    iccrt.manual_seed(0)
    cfg = GPTConfig(vocab_size=a.vocab, block_size=a.seq_len, n_layer=a.layers, n_head=a.heads, n_embd=a.d_model)
    model = GPT(cfg)
    opt = iccrt.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    x = iccrt.from_numpy(tokens[:, :-1].copy())
    y = iccrt.from_numpy(tokens[:, 1:].copy())

    def step():
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        iccrt.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    return time_steps(step, a.warmup, a.steps), model.num_parameters()


def bench_torch(a, tokens):
    import torch
    import torch.nn as tnn
    import torch.nn.functional as tF

    torch.manual_seed(0)

    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            c = a.d_model
            self.ln_1, self.ln_2 = tnn.LayerNorm(c), tnn.LayerNorm(c)
            self.c_attn, self.attn_proj = tnn.Linear(c, 3 * c), tnn.Linear(c, c)
            self.c_fc, self.mlp_proj = tnn.Linear(c, 4 * c), tnn.Linear(4 * c, c)

        def forward(self, x):
            b, t, c = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, a.heads, c // a.heads).transpose(1, 2) for z in (q, k, v))
            att = tF.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c)
            x = x + self.attn_proj(att)
            return x + self.mlp_proj(tF.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT(tnn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = tnn.Embedding(a.vocab, a.d_model), tnn.Embedding(a.seq_len, a.d_model)
            self.h = tnn.ModuleList([Block() for _ in range(a.layers)])
            self.ln_f = tnn.LayerNorm(a.d_model)

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for blk in self.h:
                x = blk(x)
            logits = self.ln_f(x) @ self.wte.weight.t()
            return tF.cross_entropy(logits.reshape(-1, a.vocab), targets.reshape(-1))

    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=False)
    x = torch.from_numpy(tokens[:, :-1].copy())
    y = torch.from_numpy(tokens[:, 1:].copy())

    def step():
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    return time_steps(step, a.warmup, a.steps), torch.get_num_threads()


def main(argv=None):
    a = parse_args(argv)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, a.vocab, size=(a.batch_size, a.seq_len + 1), dtype=np.int64)
    n_tokens = a.batch_size * a.seq_len
    print(f"# GPT training step: {a.layers} layers, d={a.d_model}, {a.heads} heads, seq {a.seq_len}, "
          f"batch {a.batch_size}, vocab {a.vocab}; median of {a.steps} steps after {a.warmup} warm-up")
    results = {"config": vars(a)}
    t_iccrt, n_params = bench_iccrt(a, tokens)
    results["iccrt"] = {"step_s": t_iccrt, "tokens_per_s": n_tokens / t_iccrt, "parameters": n_params}
    print(f"iccrt     {n_params / 1e6:6.2f} M params  {t_iccrt * 1e3:9.1f} ms/step  {n_tokens / t_iccrt:9.0f} tok/s")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch   not importable here: no same-run ratio (iccrt alone is recorded)")
        results["torch"] = None
    else:
        t_torch, threads = bench_torch(a, tokens)
        results["torch"] = {"step_s": t_torch, "tokens_per_s": n_tokens / t_torch, "threads": threads}
        print(f"PyTorch   {'':17s}{t_torch * 1e3:9.1f} ms/step  {n_tokens / t_torch:9.0f} tok/s  ({threads} threads)")
        ratio = t_torch / t_iccrt
        results["ratio_iccrt_over_torch"] = ratio
        print(f"ratio iccrt / PyTorch tokens/s: {ratio:.2f}  (target >= 1.2)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0 if all(math.isfinite(v["step_s"]) for v in (results["iccrt"],)) else 1


if __name__ == "__main__":
    sys.exit(main())
