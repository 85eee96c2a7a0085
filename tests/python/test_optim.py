"""iccrt.optim: SGD and AdamW against NumPy float64 references over several steps (every option), param groups,
state_dict round trips, the learning-rate schedules, and nn.utils.clip_grad_norm_."""

import math

import numpy as np
import pytest

import iccrt
from helpers import assert_close, to_numpy
from iccrt import nn, optim
from iccrt.optim import lr_scheduler

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def make_params(dtype=iccrt.float64, seed=0):
    g = np.random.default_rng(seed)
    return [nn.Parameter(iccrt.tensor(g.normal(size=s), dtype=dtype)) for s in SHAPES]


def grads_for(step, seed=100):
    g = np.random.default_rng(seed + step)
    return [g.normal(size=s) for s in SHAPES]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = iccrt.tensor(g, dtype=p.dtype)


def np_sgd(ps, steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    ps = [p.copy() for p in ps]
    bufs = [None] * len(ps)
    for t in range(steps):
        for i, g in enumerate(grads_for(t)):
            g = -g if maximize else g  # torch.optim.SGD flips the sign before weight decay
            if weight_decay:
                g = g + weight_decay * ps[i]
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            ps[i] = ps[i] - lr * g
    return ps


def np_adamw(ps, steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, maximize=False, lrs=None):
    ps = [p.copy() for p in ps]
    m = [np.zeros_like(p) for p in ps]
    v = [np.zeros_like(p) for p in ps]
    b1, b2 = betas
    for t in range(1, steps + 1):
        step_lr = lr if lrs is None else lrs[t - 1]
        for i, g in enumerate(grads_for(t - 1)):
            g = -g if maximize else g
            ps[i] = ps[i] * (1 - step_lr * weight_decay)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat, vhat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            ps[i] = ps[i] - step_lr * mhat / (np.sqrt(vhat) + eps)
    return ps


def run(opt_cls, params, steps, **kw):
    opt = opt_cls(params, **kw)
    for t in range(steps):
        set_grads(params, grads_for(t))
        opt.step()
    return opt


SGD_OPTIONS = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "dampening": 0.3},
    {"momentum": 0.8, "nesterov": True},
    {"momentum": 0.9, "weight_decay": 0.1},
    {"weight_decay": 0.05, "maximize": True},
]


@pytest.mark.parametrize("kw", SGD_OPTIONS, ids=lambda kw: ",".join(kw) or "plain")
def test_sgd_matches_numpy(kw):
    params = make_params()
    start = [to_numpy(p).copy() for p in params]
    run(optim.SGD, params, 6, lr=0.05, **kw)
    for p, ref in zip(params, np_sgd(start, 6, 0.05, **kw)):
        assert_close(p, ref, rtol=1e-12, atol=1e-12)


ADAMW_OPTIONS = [{}, {"weight_decay": 0.0}, {"betas": (0.8, 0.99), "eps": 1e-6}, {"maximize": True}]


@pytest.mark.parametrize("kw", ADAMW_OPTIONS, ids=lambda kw: ",".join(kw) or "default")
@pytest.mark.parametrize("dtype", [iccrt.float64, iccrt.float32], ids=lambda d: d.name)
def test_adamw_matches_numpy(kw, dtype):
    params = make_params(dtype)
    start = [to_numpy(p).copy() for p in params]
    run(optim.AdamW, params, 10, lr=0.01, **kw)
    tol = 1e-10 if dtype == iccrt.float64 else 2e-5
    for p, ref in zip(params, np_adamw(start, 10, 0.01, **kw)):
        assert_close(p, ref, rtol=tol, atol=tol)


def test_adamw_noncontiguous_parameter():
    base = iccrt.tensor(np.random.default_rng(0).normal(size=(4, 3)), dtype=iccrt.float64)
    p = nn.Parameter(base.t())
    assert not p.is_contiguous()
    start = to_numpy(p).copy()
    opt = optim.AdamW([p], lr=0.01)
    g = np.random.default_rng(1).normal(size=(3, 4))
    p.grad = iccrt.tensor(g, dtype=iccrt.float64)
    opt.step()
    ref = start * (1 - 0.01 * 0.01) - 0.01 * g / (np.abs(g) + 1e-8)  # first step: mhat / sqrt(vhat) = sign
    assert_close(p, ref, rtol=1e-9, atol=1e-9)


def test_param_groups_and_missing_grads():
    params = make_params()
    start = [to_numpy(p).copy() for p in params]
    opt = optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], lr=0.1)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[0]["momentum"] == 0.0
    params[0].grad = iccrt.ones(*SHAPES[0], dtype=iccrt.float64)
    params[2].grad = iccrt.ones(*SHAPES[2], dtype=iccrt.float64)
    opt.step()
    assert_close(params[0], start[0] - 0.1)
    assert_close(params[1], start[1])  # no grad: untouched
    assert_close(params[2], start[2] - 0.5)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    params[0].grad = iccrt.ones(*SHAPES[0], dtype=iccrt.float64)
    opt.zero_grad(set_to_none=False)
    assert float(params[0].grad.abs().sum()) == 0.0


def test_optimizer_argument_errors():
    p = make_params()
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.AdamW(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError):
        optim.SGD([{"params": p[:1]}, {"params": p[:1]}], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD([p[0] * 2.0], lr=0.1)  # not a leaf
    with pytest.raises(TypeError):
        optim.SGD(p[0], lr=0.1)


def test_step_with_closure():
    w = nn.Parameter(iccrt.tensor([1.0, -2.0], dtype=iccrt.float64))
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert math.isclose(float(loss), 5.0)
    assert_close(w, np.array([0.5, -1.0]))


@pytest.mark.parametrize("opt_cls,kw", [(optim.SGD, {"lr": 0.05, "momentum": 0.9}), (optim.AdamW, {"lr": 0.01})],
                         ids=["sgd", "adamw"])
def test_optimizer_state_dict_round_trip(opt_cls, kw):
    """Five steps, state_dict, a fresh optimizer over copies loads it, five more steps: equal to ten in a row."""
    straight = make_params()
    start = [to_numpy(p).copy() for p in straight]
    run(opt_cls, straight, 10, **kw)

    first = make_params()
    opt = run(opt_cls, first, 5, **kw)
    sd = opt.state_dict()
    assert sorted(sd["state"]) == ([0, 1, 2] if opt_cls is optim.AdamW or "momentum" in kw else [])
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    resumed = [nn.Parameter(iccrt.tensor(to_numpy(p), dtype=iccrt.float64)) for p in first]
    opt2 = opt_cls(resumed, **{**kw, "lr": 123.0})  # hyperparameters come from the state dict
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    for t in range(5, 10):
        set_grads(resumed, grads_for(t))
        opt2.step()
    for a, b in zip(resumed, straight):
        assert_close(a, to_numpy(b), rtol=1e-12, atol=1e-12)
    del start
    with pytest.raises(ValueError):
        opt_cls(make_params()[:2], **kw).load_state_dict(sd)


# ---- schedulers ------------------------------------------------------------------------------------------------


def lrs_of(sched_factory, steps, base=0.1):
    opt = optim.SGD(make_params(), lr=base)
    sched = sched_factory(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr()[0] == out[-1]
        opt.step()
        sched.step()
    return out


def test_schedulers():
    assert lrs_of(lambda o: lr_scheduler.LambdaLR(o, lambda t: 1.0 / (t + 1)), 4) == pytest.approx(
        [0.1, 0.05, 0.1 / 3, 0.025])
    assert lrs_of(lambda o: lr_scheduler.StepLR(o, 2, gamma=0.5), 5) == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025])
    cos = lrs_of(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.01), 5)
    assert cos == pytest.approx([0.01 + 0.09 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)])
    warm = lrs_of(lambda o: lr_scheduler.CosineWarmupLR(o, warmup_steps=3, total_steps=8, eta_min=0.02), 10)
    expected = [0.1 * (t + 1) / 3 for t in range(3)]
    expected += [0.02 + 0.08 * (1 + math.cos(math.pi * min(1.0, (t - 3) / 5))) / 2 for t in range(3, 10)]
    assert warm == pytest.approx(expected)
    assert warm[8] == pytest.approx(0.02) and warm[9] == pytest.approx(0.02)  # eta_min from total_steps on


def test_scheduler_state_dict_resume():
    opt = optim.SGD(make_params(), lr=0.1)
    sched = lr_scheduler.CosineWarmupLR(opt, 2, 10)
    for _ in range(4):
        sched.step()
    sd = sched.state_dict()
    opt2 = optim.SGD(make_params(), lr=0.1)
    sched2 = lr_scheduler.CosineWarmupLR(opt2, 2, 10)
    sched2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] and sched2.last_epoch == 4
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ValueError):
        lr_scheduler.CosineWarmupLR(optim.SGD(make_params(), lr=0.1), 2, 11).load_state_dict(sd)
    with pytest.raises(ValueError):
        lr_scheduler.CosineWarmupLR(opt, 5, 3)


def test_adamw_with_schedule_matches_numpy():
    params = make_params()
    start = [to_numpy(p).copy() for p in params]
    opt = optim.AdamW(params, lr=0.02)
    sched = lr_scheduler.CosineWarmupLR(opt, 2, 6)
    lrs = []
    for t in range(6):
        set_grads(params, grads_for(t))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    for p, ref in zip(params, np_adamw(start, 6, 0.02, lrs=lrs)):
        assert_close(p, ref, rtol=1e-10, atol=1e-10)


# ---- gradient clipping -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm(norm_type):
    params = make_params()
    grads = grads_for(0)
    set_grads(params, grads)
    flat = np.concatenate([g.ravel() for g in grads])
    total = np.abs(flat).max() if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    norm = nn.utils.clip_grad_norm_(params, 0.5, norm_type=norm_type)
    assert math.isclose(float(norm), total, rel_tol=1e-9)
    coef = 0.5 / (total + 1e-6)
    for p, g in zip(params, grads):
        assert_close(p.grad, g * coef, rtol=1e-9, atol=1e-12)
    # Below the limit: unchanged.
    set_grads(params, grads)
    nn.utils.clip_grad_norm_(params, total * 2, norm_type=norm_type)
    for p, g in zip(params, grads):
        assert_close(p.grad, g, rtol=1e-12, atol=0)


def test_clip_grad_norm_float32_and_nonfinite():
    params = make_params(iccrt.float32)
    set_grads(params, grads_for(0))
    flat = np.concatenate([to_numpy(p.grad).ravel() for p in params])
    norm = nn.utils.clip_grad_norm_(params, 1.0)
    assert math.isclose(float(norm), np.sqrt((flat**2).sum()), rel_tol=1e-6)
    assert math.isclose(float(np.sqrt(sum((to_numpy(p.grad) ** 2).sum() for p in params))), 1.0, rel_tol=1e-5)
    params[0].grad = iccrt.full((3, 4), math.inf)
    with pytest.raises(ValueError, match="inf"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert float(nn.utils.clip_grad_norm_([nn.Parameter(iccrt.ones(2))], 1.0)) == 0.0  # no grads
