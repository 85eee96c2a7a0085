"""The GPT example (examples/gpt/model.py) against an independent float64 NumPy implementation of the same model,
with its own hand-written backward: loss and every parameter gradient, then ten AdamW steps (llm.c's check).

Sizes: 2 layers, d = 32, 4 heads, T = 16, vocabulary 11, batch 3. Errors are norm-wise relative:
||iccrt - reference|| / ||reference||.
"""

import math
import os
import sys

import numpy as np
import pytest

import iccrt
from helpers import to_numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "gpt"))
from model import GPT, GPTConfig  # noqa: E402

B, T, V, C, H, L = 3, 16, 11, 32, 4, 2
TOL = 1e-4
GELU_C = math.sqrt(2.0 / math.pi)


def rel_err(got, ref):
    return float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-300))


# ---- the reference: forward with a tape, backward by hand -------------------------------------------------------


def ln_fwd(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)
    xhat = (x - mu) * rstd
    return xhat * w + b, (xhat, rstd, w)


def ln_bwd(dy, cache):
    xhat, rstd, w = cache
    dxhat = dy * w
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    return dx, (dy * xhat).reshape(-1, w.shape[0]).sum(0), dy.reshape(-1, w.shape[0]).sum(0)


def lin_fwd(x, w, b):
    return x @ w.T + (0.0 if b is None else b)


def lin_bwd(dy, x, w):
    """-> dx, dw, db for y = x @ w.T + b."""
    d2, x2 = dy.reshape(-1, dy.shape[-1]), x.reshape(-1, x.shape[-1])
    return dy @ w, d2.T @ x2, d2.sum(0)


def gelu_fwd(h):
    return 0.5 * h * (1.0 + np.tanh(GELU_C * (h + 0.044715 * h**3)))


def gelu_bwd(dg, h):
    t = np.tanh(GELU_C * (h + 0.044715 * h**3))
    return dg * (0.5 * (1.0 + t) + 0.5 * h * (1.0 - t * t) * GELU_C * (1.0 + 3 * 0.044715 * h * h))


def heads(x):  # [B, T, C] -> [B, H, T, hd]
    return x.reshape(B, T, H, C // H).transpose(0, 2, 1, 3)


def merge(x):  # [B, H, T, hd] -> [B, T, C]
    return x.transpose(0, 2, 1, 3).reshape(B, T, C)


def reference_loss_and_grads(P, idx, targets):
    """P: name -> float64 array (the iccrt parameter names). Returns (loss, name -> gradient)."""
    g = {k: np.zeros_like(v) for k, v in P.items()}
    x = P["wte.weight"][idx] + P["wpe.weight"][:T]
    tape = []
    mask = np.tril(np.ones((T, T), bool))
    scale = 1.0 / math.sqrt(C // H)
    for layer in range(L):
        p = f"h.{layer}."
        a_in, ln1 = ln_fwd(x, P[p + "ln_1.weight"], P[p + "ln_1.bias"])
        qkv = lin_fwd(a_in, P[p + "attn.c_attn.weight"], P[p + "attn.c_attn.bias"])
        q, k, v = (heads(qkv[..., i * C:(i + 1) * C]) for i in range(3))
        s = np.where(mask, q @ k.transpose(0, 1, 3, 2) * scale, -np.inf)
        e = np.exp(s - s.max(-1, keepdims=True))
        att = e / e.sum(-1, keepdims=True)
        o = merge(att @ v)
        x = x + lin_fwd(o, P[p + "attn.c_proj.weight"], P[p + "attn.c_proj.bias"])
        m_in, ln2 = ln_fwd(x, P[p + "ln_2.weight"], P[p + "ln_2.bias"])
        h = lin_fwd(m_in, P[p + "mlp.c_fc.weight"], P[p + "mlp.c_fc.bias"])
        gh = gelu_fwd(h)
        x = x + lin_fwd(gh, P[p + "mlp.c_proj.weight"], P[p + "mlp.c_proj.bias"])
        tape.append((a_in, ln1, q, k, v, att, o, m_in, ln2, h, gh))
    xf, lnf = ln_fwd(x, P["ln_f.weight"], P["ln_f.bias"])
    logits = xf @ P["wte.weight"].T
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    n = B * T
    loss = -logp.reshape(n, V)[np.arange(n), targets.reshape(n)].mean()

    # backward
    dlogits = np.exp(logp)
    dlogits.reshape(n, V)[np.arange(n), targets.reshape(n)] -= 1.0
    dlogits /= n
    g["wte.weight"] += dlogits.reshape(n, V).T @ xf.reshape(n, C)
    dx, g["ln_f.weight"], g["ln_f.bias"] = ln_bwd(dlogits @ P["wte.weight"], lnf)
    for layer in reversed(range(L)):
        p = f"h.{layer}."
        a_in, ln1, q, k, v, att, o, m_in, ln2, h, gh = tape[layer]
        dgh, g[p + "mlp.c_proj.weight"], g[p + "mlp.c_proj.bias"] = lin_bwd(dx, gh, P[p + "mlp.c_proj.weight"])
        dm_in, g[p + "mlp.c_fc.weight"], g[p + "mlp.c_fc.bias"] = lin_bwd(gelu_bwd(dgh, h), m_in,
                                                                          P[p + "mlp.c_fc.weight"])
        d, g[p + "ln_2.weight"], g[p + "ln_2.bias"] = ln_bwd(dm_in, ln2)
        dx = dx + d
        do, g[p + "attn.c_proj.weight"], g[p + "attn.c_proj.bias"] = lin_bwd(dx, o, P[p + "attn.c_proj.weight"])
        do = heads(do)
        datt = do @ v.transpose(0, 1, 3, 2)
        dv = att.transpose(0, 1, 3, 2) @ do
        ds = att * (datt - (datt * att).sum(-1, keepdims=True)) * scale
        dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q
        dqkv = np.concatenate([merge(dq), merge(dk), merge(dv)], axis=-1)
        da_in, g[p + "attn.c_attn.weight"], g[p + "attn.c_attn.bias"] = lin_bwd(dqkv, a_in,
                                                                                P[p + "attn.c_attn.weight"])
        d, g[p + "ln_1.weight"], g[p + "ln_1.bias"] = ln_bwd(da_in, ln1)
        dx = dx + d
    np.add.at(g["wte.weight"], idx.reshape(-1), dx.reshape(n, C))
    g["wpe.weight"][:T] += dx.sum(0)
    return loss, g


def np_adamw_step(P, G, M, Vs, t, lr, b1, b2, eps, wd):
    for k in P:
        P[k] = P[k] * (1.0 - lr * wd)
        M[k] = b1 * M[k] + (1 - b1) * G[k]
        Vs[k] = b2 * Vs[k] + (1 - b2) * G[k] ** 2
        P[k] = P[k] - lr * (M[k] / (1 - b1**t)) / (np.sqrt(Vs[k] / (1 - b2**t)) + eps)


# ---- the test ----------------------------------------------------------------------------------------------------


def build():
    cfg = GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=H, n_embd=C, dropout=0.0)
    model = GPT(cfg, generator=iccrt.Generator(1234))
    # Non-trivial LayerNorm parameters and biases, so their gradients and roles are really checked.
    g = np.random.default_rng(1)
    with iccrt.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(iccrt.tensor(g.normal(1.0 if name.endswith("ln_1.weight") or name.endswith("ln_2.weight")
                                              or name == "ln_f.weight" else 0.0, 0.1, size=list(p.shape)),
                                     dtype=iccrt.float32))
    return model


def batch(seed):
    g = np.random.default_rng(seed)
    idx = g.integers(0, V, size=(B, T))
    return idx, g.integers(0, V, size=(B, T))


def test_reference_backward_matches_finite_differences():
    """The NumPy backward itself, on a few entries of each parameter (so the comparison below has a sound ref)."""
    model = build()
    P = {k: to_numpy(v).copy() for k, v in model.named_parameters()}
    idx, tgt = batch(0)
    _, G = reference_loss_and_grads(P, idx, tgt)
    rng = np.random.default_rng(2)
    for name in P:
        for _ in range(2):
            i = tuple(int(rng.integers(0, s)) for s in P[name].shape)
            if name == "wpe.weight":
                i = (int(rng.integers(0, T)),) + i[1:]
            old = P[name][i]
            P[name][i] = old + 1e-6
            lp, _ = reference_loss_and_grads(P, idx, tgt)
            P[name][i] = old - 1e-6
            lm, _ = reference_loss_and_grads(P, idx, tgt)
            P[name][i] = old
            num = (lp - lm) / 2e-6
            assert abs(num - G[name][i]) <= 1e-7 + 1e-5 * abs(num), (name, i, num, G[name][i])


def test_gpt_matches_numpy_reference():
    model = build()
    params = dict(model.named_parameters())
    assert "lm_head.weight" not in params and model.lm_head.weight is model.wte.weight  # tied
    P = {k: to_numpy(v).copy() for k, v in params.items()}
    M = {k: np.zeros_like(v) for k, v in P.items()}
    Vs = {k: np.zeros_like(v) for k, v in P.items()}
    lr, b1, b2, eps, wd = 1e-3, 0.9, 0.95, 1e-8, 0.1
    opt = iccrt.optim.AdamW(model.parameters(), lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)

    for step in range(1, 11):
        idx, tgt = batch(step)
        ref_loss, G = reference_loss_and_grads(P, idx, tgt)
        logits, loss = model(iccrt.tensor(idx), iccrt.tensor(tgt))
        assert list(logits.shape) == [B, T, V]
        assert abs(loss.item() - ref_loss) <= TOL * abs(ref_loss), (step, loss.item(), ref_loss)
        opt.zero_grad()
        loss.backward()
        if step == 1:  # every gradient, at the shared starting point
            for name, p in params.items():
                assert p.grad is not None, name
                err = rel_err(to_numpy(p.grad), G[name])
                assert err <= TOL, f"gradient of {name}: relative error {err:.2e}"
        opt.step()
        np_adamw_step(P, G, M, Vs, step, lr, b1, b2, eps, wd)
        for name, p in params.items():
            err = rel_err(to_numpy(p), P[name])
            assert err <= TOL, f"step {step}: {name} relative error {err:.2e}"


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_gpt_train_eval_consistency(dropout):
    """eval() turns dropout off (deterministic logits); training mode with dropout changes them."""
    cfg = GPTConfig(vocab_size=V, block_size=T, n_layer=1, n_head=2, n_embd=16, dropout=dropout)
    model = GPT(cfg, generator=iccrt.Generator(0))
    idx = iccrt.tensor(batch(0)[0])
    model.eval()
    a, _ = model(idx)
    b, _ = model(idx)
    assert np.array_equal(to_numpy(a), to_numpy(b))
    model.train()
    c, _ = model(idx)
    assert np.array_equal(to_numpy(a), to_numpy(c)) == (dropout == 0.0)
    with pytest.raises(ValueError):
        model(iccrt.zeros(1, T + 1, dtype=iccrt.int64))
