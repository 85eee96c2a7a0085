"""A GPT (decoder-only transformer) in iccrt.nn, GPT-2's architecture at any size.

tokens + positions -> n_layer x [x + attn(ln_1(x)), x + mlp(ln_2(x))] -> ln_f -> logits (head tied to the token
embedding). Attention is causal, through F.scaled_dot_product_attention (the fused kernel); the MLP is
Linear(d, 4d) -> GELU -> Linear(4d, d). Weights start N(0, 0.02), with the residual output projections scaled
by 1/sqrt(2 * n_layer) as in GPT-2, biases at zero, LayerNorms at identity.
"""

import dataclasses
import math

import numpy as np

import iccrt
import iccrt.nn.functional as F
from iccrt import nn


@dataclasses.dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 128  # the longest sequence (number of learned positions)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in the Linears and LayerNorms
    gelu_approximate: str = "tanh"  # GPT-2 uses the tanh approximation; "none" is the exact erf form

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg.n_head
        self.n_embd = cfg.n_embd
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v in one GEMM
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        b, t, c = x.shape
        hd = c // self.n_head
        qkv = self.c_attn(x)
        # [B, T, C] -> [B, H, T, hd] views; the attention kernel takes them strided.
        q, k, v = (qkv.narrow(2, i * c, c).reshape(b, t, self.n_head, hd).transpose(1, 2) for i in range(3))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.gelu = nn.GELU(approximate=cfg.gelu_approximate)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg, generator=None):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one Parameter in two places
        self.init_weights(generator)

    def init_weights(self, generator=None):
        """GPT-2's initialisation, drawn from `generator` (default: iccrt.default_generator)."""
        proj_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, proj_std, generator=generator)
            elif name.endswith(".weight") and p.dim() == 2:  # Linear and Embedding weights
                nn.init.normal_(p, 0.0, 0.02, generator=generator)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            else:  # LayerNorm weights
                nn.init.ones_(p)

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, targets=None):
        """idx [B, T] int64 token ids (T <= block_size) -> (logits [B, T, vocab], mean cross-entropy or None)."""
        b, t = idx.shape
        if t > self.config.block_size:
            raise ValueError(f"sequence of length {t} is longer than block_size {self.config.block_size}")
        pos = iccrt.arange(t, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(b * t, -1), targets.reshape(b * t))
        return logits, loss

    @iccrt.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, generator=None):
        """Extends idx [B, T] by sampling max_new_tokens tokens, one at a time, from softmax(logits / temperature)
        (uniform draws from `generator`, so a seed reproduces the sample). Returns the [B, T + new] ids."""
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        was_training = self.training
        self.eval()
        ids = idx.cpu().numpy().astype(np.int64)
        for _ in range(max_new_tokens):
            window = iccrt.from_numpy(np.ascontiguousarray(ids[:, -self.config.block_size:])).to(device=idx.device)
            logits, _ = self(window)
            last = logits[:, -1, :].to(dtype=iccrt.float64) / temperature
            probs = F.softmax(last, -1).cpu().numpy()
            u = iccrt.rand(ids.shape[0], dtype=iccrt.float64, generator=generator).numpy()
            cdf = np.cumsum(probs, axis=1)
            nxt = np.minimum((cdf < (u * cdf[:, -1])[:, None]).sum(axis=1), probs.shape[1] - 1)
            ids = np.concatenate([ids, nxt[:, None]], axis=1)
        self.train(was_training)
        return iccrt.from_numpy(ids).to(device=idx.device)
